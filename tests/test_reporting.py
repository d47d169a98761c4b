"""Reporters: where events go, how the command line shows them, and that none stops a run."""

from __future__ import annotations

import io

import pytest
from tiny_runs import plugins, recipe, run_record

from loraforge.console import ConsoleReporter
from loraforge.engine.run import run
from loraforge.events import Message, PhaseFinished, RunWarning, StepLogged
from loraforge.reporting import (
    CollectingReporter,
    Reporter,
    Reporters,
    current_reporter,
    note,
    reporting_to,
    set_process_reporter,
)


class Broken(Reporter):
    def __init__(self) -> None:
        self.calls = 0

    def report(self, event):
        self.calls += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reporter_that_fails_is_switched_off_and_named_once_to_the_others():
    broken, kept = Broken(), CollectingReporter()
    reporters = Reporters([broken, kept])
    for step in range(3):
        reporters.report(StepLogged(step, 3, {"loss": 1.0}))
    assert broken.calls == 1
    warnings = [e for e in kept.events if e.kind == "warning"]
    assert len(warnings) == 1 and warnings[0].code == "console_closed"
    assert "BrokenPipeError" in warnings[0].message
    assert kept.kinds().count("step") == 3


def test_code_reports_to_the_run_in_its_thread_else_to_the_process_reporter():
    mine, process = CollectingReporter(), CollectingReporter()
    previous = set_process_reporter(process)
    try:
        note("outside")
        with reporting_to(mine):
            note("inside", phase="model")
            assert current_reporter() is mine
        assert [e.text for e in process.events] == ["outside"]
        assert [(e.text, e.phase) for e in mine.events] == [("inside", "model")]
    finally:
        set_process_reporter(previous)


def test_the_console_shows_messages_phases_and_warnings_as_log_lines():
    stream = io.StringIO()
    console = ConsoleReporter(stream)
    console.report(Message("3 samples from data.jsonl"))
    console.report(PhaseFinished("lora", 0.1, "LoRA r=4 on q_proj: 10 trainable"))
    console.report(PhaseFinished("data", 0.1, ""))  # nothing to say
    console.report(RunWarning("plugin 'x' was not loaded (ImportError: y)", code="plugin_not_loaded"))
    console.report(RunWarning("the callback 'c' raised", code="callback_disabled",
                              where="plugin 'p'"))
    console.report(StepLogged(1, 2, {"loss": 1.0}))  # the console callback's to show
    assert stream.getvalue().splitlines() == [
        "› 3 samples from data.jsonl",
        "› LoRA r=4 on q_proj: 10 trainable",
        "loraforge: plugin 'x' was not loaded (ImportError: y)",
        "warning: plugin 'p': the callback 'c' raised",
    ]


@pytest.mark.slow
def test_a_run_with_its_own_reporter_prints_nothing(tmp_path, capfd):
    events = CollectingReporter()
    run(recipe(tmp_path, "train.max_steps=2"), plugins=plugins(), reporter=events)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # the metrics callback writes a file, not the terminal
    said = [e.text for e in events.events if e.kind == "message"]
    assert any(text.startswith("300 samples from") for text in said), said


@pytest.mark.slow
def test_a_closed_log_does_not_stop_the_run(tmp_path):
    result = run(recipe(tmp_path, "train.max_steps=3"), plugins=plugins(), reporter=Broken())
    assert result.global_step == 3
    assert run_record(tmp_path / "out")["status"] == "finished"


def test_quieting_the_libraries_is_undone_after_the_block():
    import datasets

    from loraforge.engine.quiet import quiet_libraries

    datasets.enable_progress_bars()
    with quiet_libraries():
        assert not datasets.is_progress_bar_enabled()
    assert datasets.is_progress_bar_enabled()


def test_the_process_plugins_can_be_forgotten_and_print_nothing(monkeypatch, capfd):
    from loraforge import plugins as module

    monkeypatch.setenv("LORAFORGE_LOAD_PLUGINS", "targets,nonesuch")
    module.reset_plugins()
    try:
        loaded = module.get_plugins()
        assert capfd.readouterr() == ("", "")
        assert module.plugin_warnings(loaded) == [
            ("plugin_not_loaded", "plugin 'nonesuch' was not loaded (no installed plugin is "
                                  "named 'nonesuch')")]
        module.reset_plugins()
        assert module.get_plugins() is not loaded
    finally:
        module.reset_plugins()

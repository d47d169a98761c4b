"""The run view: live runs of the tiny model started from the wizard, and events files by hand."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import RichLog
from tiny_runs import recipe_file, run_record

from loraforge.testing import builtin_plugins
from loraforge.tui.app import Wizard
from loraforge.tui.draft import Draft
from loraforge.tui.launch import StartRun
from loraforge.tui.pilot import wait_for
from loraforge.tui.run_screen import RunScreen
from loraforge.tui.watch_app import WatchApp
from loraforge.tui.widgets.loss_chart import LossChart
from loraforge.tui.widgets.run_facts import RunFacts
from loraforge.tui.widgets.run_outcome import RunOutcomePanel

# a run long enough to be stopped or killed in the middle, on any machine
LONG = ("train.max_steps=20000", "train.save_steps=100000")


def shown(widget) -> str:
    """The text a Static widget shows, as plain characters."""
    console = Console(width=max(widget.size.width, 80), file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


def log_text(log) -> str:
    """What a RichLog shows, its wrapped lines joined again."""
    return " ".join(" ".join(strip.text for strip in log.lines).split())


def words(widget) -> str:
    """What :func:`shown` shows, every run of white space made one space (lines wrap)."""
    return " ".join(shown(widget).split())


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def wizards():
    """Wizards on a recipe; any run one of them leaves going is killed after the test."""
    apps: list[Wizard] = []

    def wizard(recipe: Path) -> Wizard:
        app = Wizard(Draft.open(recipe), builtin_plugins())
        apps.append(app)
        return app

    yield wizard
    for app in apps:
        launched = app.run_started
        if launched is not None and launched.process.poll() is None:
            launched.process.kill()
            launched.process.wait()


def run_view(app) -> RunScreen | None:
    screen = app.screen
    return screen if isinstance(screen, RunScreen) else None


def training(app) -> bool:
    view = run_view(app)
    return view is not None and view.state.step >= 1


def ended(app) -> bool:
    view = run_view(app)
    return view is not None and view.outcome is not None


# --- real runs from the wizard ------------------------------------------------------------------


@pytest.mark.slow
async def test_save_and_run_trains_to_the_end_and_shows_the_headless_command(folder, wizards):
    recipe = recipe_file(folder, "train.max_steps=6", "train.logging_steps=1")
    app = wizards(recipe)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: ended(app), what="the run to end")
        view = run_view(app)
        assert view.outcome.status == "finished"
        assert sorted(view.query_one(LossChart).train) == sorted(view.state.train_loss.items())
        assert len(view.state.train_loss) == 6
        panel = shown(view.query_one(RunOutcomePanel))
        assert "✓ Finished: 6 steps" in panel
        assert f"train {view.state.train_loss[6]:.4f} (last logged)" in panel
        assert f"Adapter: {folder / 'out'}" in panel
        assert "Headless: loraforge run recipe.toml" in panel
        facts = shown(view.query_one(RunFacts))
        assert "step 6/6" in facts and "finished" in facts
        await pilot.press("q")
        assert run_view(app) is None
    assert run_record(folder / "out")["status"] == "finished"


@pytest.mark.slow
async def test_the_stop_key_saves_a_checkpoint_and_save_and_run_offers_to_resume(folder, wizards):
    app = wizards(recipe_file(folder, *LONG))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: training(app), what="the first step")
        assert "s" in {key for key, _ in _footer_keys(app)}
        await pilot.press("s")
        await wait_for(pilot, lambda: ended(app), what="the run to stop")
        view = run_view(app)
        assert view.outcome.status == "interrupted"
        checkpoint = Path(view.outcome.checkpoint)
        assert checkpoint.parent == folder / "out" / "checkpoints" and checkpoint.is_dir()
        assert "Continue headless: loraforge run recipe.toml --resume" in shown(
            view.query_one(RunOutcomePanel))
        assert run_record(folder / "out")["status"] == "interrupted"
        await pilot.press("q")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, StartRun), seconds=10,
                       what="the offer to resume")
        step = int(checkpoint.name.rpartition("-")[2])
        await pilot.click("#start-resume")
        await wait_for(pilot, lambda: training(app) and run_view(app).state.step > step,
                       what="the resumed run's first step")
        view = run_view(app)
        assert view.state.started["resumed_from_step"] == step
        # the chart goes on from the first run's steps, read from the run's folder
        await wait_for(pilot, lambda: view.query_one(LossChart).train[:1] == [
            (1, view.state.train_loss[1])], seconds=5, what="the chart to go on")
        # quitting the wizard on a live run asks; stopping it waits for its checkpoint
        await pilot.press("ctrl+q")
        await pilot.click("#stop")
        await wait_for(pilot, lambda: not app.is_running, what="the wizard to quit")
    assert app.run_started.process.wait(timeout=60) == 130
    assert run_record(folder / "out")["status"] == "interrupted"


@pytest.mark.slow
async def test_a_failing_run_is_shown_in_the_view_and_the_wizard_goes_to_its_field(
        folder, wizards):
    recipe = recipe_file(folder, 'lora.targets={name="modules", names=["nope_proj"]}')
    app = wizards(recipe)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: ended(app), what="the run to fail")
        view = run_view(app)
        assert view.outcome.status == "failed"
        assert view.outcome.error["where"] == "lora.targets"
        panel = words(view.query_one(RunOutcomePanel))
        assert "✗ Model error (in the lora phase)" in panel
        assert "lora.targets: the model has no module named 'nope_proj'" in panel
        assert "Use names from that list in lora.targets" in panel  # the CLI's hint
        await pilot.press("q")
        await pilot.pause()
        assert run_view(app) is None and app.current == "lora"


@pytest.mark.slow
async def test_a_killed_training_process_is_shown_and_the_wizard_goes_on(folder, wizards):
    app = wizards(recipe_file(folder, *LONG))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: training(app), what="the first step")
        os.kill(app.run_started.process.pid, signal.SIGKILL)
        await wait_for(pilot, lambda: ended(app), seconds=20, what="the view to see it die")
        view = run_view(app)
        assert view.outcome.status == "crashed"
        panel = words(view.query_one(RunOutcomePanel))
        assert "died without ending the run: the process was killed by SIGKILL" in panel
        assert "The last lines of its log:" in panel and "LoRA r=4 on q_proj, v_proj" in panel
        await pilot.press("q")
        await pilot.press("ctrl+n")
        assert app.current == "lora"  # the wizard is alive and answers keys


def _footer_keys(app) -> list[tuple[str, str]]:
    return [(key, binding.binding.description) for key, binding in app.active_bindings.items()
            if binding.enabled and binding.binding.show]


# --- events files written by hand ----------------------------------------------------------------


def line(kind: str, at: float, **fields) -> str:
    return json.dumps({"v": 1, "event": kind, "time": at, **fields}) + "\n"


def segment(start: int, stop: int, at: float, *, resumed: int = 0, pid: int = 0) -> str:
    text = line("run_started", at, output_dir="/runs/r", recipe="recipe.toml",
                resumed_from_step=resumed, pid=pid, loraforge="0.1.0")
    text += line("phase_finished", at, phase="tokenize", seconds=0.1, message="",
                 details={"train": {"tokens": 4000}})
    text += line("train_started", at, max_steps=10, epochs=1, trainable_parameters=1,
                 total_parameters=2, resumed_from_step=resumed, samples=100)
    for step in range(start, stop + 1):
        text += line("step", at + step, step=step, max_steps=10,
                     metrics={"loss": 10.0 - step + (0.5 if resumed else 0),
                              "learning_rate": 1e-3, "epoch": step / 10})
    return text


async def test_a_resumed_runs_file_shows_its_whole_history_on_one_chart(tmp_path):
    events = tmp_path / "events.jsonl"
    # stopped at step 6 with a checkpoint at 4 (steps 5 and 6 are trained again), then finished
    events.write_text(
        segment(1, 6, 1000) + line("checkpoint_saved", 1006, step=4, path="/runs/r/c-4")
        + line("run_ended", 1007, status="interrupted", phase="train", global_step=6,
               checkpoint="/runs/r/c-4", signal="SIGINT")
        + segment(5, 10, 2000, resumed=4) + line("evaluated", 2010, step=10,
                                                 metrics={"eval_loss": 1.25})
        + line("run_ended", 2011, status="finished", phase="save", global_step=10,
               runtime_s=30.0, output_dir="/runs/r", train_loss=6.0))
    app = WatchApp(events)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = run_view(app)
        chart = view.query_one(LossChart)
        assert [step for step, _ in chart.train] == list(range(1, 11))
        assert dict(chart.train)[4] == 6.0 and dict(chart.train)[5] == 5.5  # the resumed run's
        assert chart.eval == [(10, 1.25)]
        assert view.outcome.status == "finished"
        panel = shown(view.query_one(RunOutcomePanel))
        assert "Headless: loraforge run recipe.toml" in panel and "eval 1.2500" in panel
        assert "resumed from step 4" in "\n".join(line.text for line in view.state.log)
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


async def test_the_end_shows_the_last_step_and_epoch_not_the_last_logged_ones(tmp_path):
    events = tmp_path / "events.jsonl"
    # steps 1-8 of 10 logged, and the run ended at step 10: one whole epoch
    events.write_text(segment(1, 8, 1000) + line(
        "run_ended", 1010, status="finished", phase="save", global_step=10, epoch=1.0,
        runtime_s=10.0, output_dir="/runs/r", train_loss=3.0))
    app = WatchApp(events)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "step 10/10 · epoch 1.00" in shown(run_view(app).query_one(RunFacts))


async def test_the_view_waits_for_the_file_and_a_half_written_line(tmp_path):
    events = tmp_path / "late.jsonl"
    app = WatchApp(events, poll_seconds=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        view = run_view(app)
        assert view.status == "waiting"
        text = segment(1, 3, time.time() - 10, pid=os.getpid())
        step_4 = line("step", time.time(), step=4, max_steps=10,
                      metrics={"loss": 6.0, "learning_rate": 5e-4, "epoch": 0.4})
        events.write_text(text + step_4[:25])
        await pilot.pause(0.3)
        assert view.state.step == 3 and view.status == "training"
        with events.open("a") as stream:
            stream.write(step_4[25:])
        await wait_for(pilot, lambda: view.state.step == 4, seconds=5)
        facts = shown(view.query_one(RunFacts))
        assert "step 4/10 · epoch 0.40 · ETA" in facts and "tok/s · lr 5.0e-04" in facts
        assert "training · loss 6.000" in facts
        # the process is this one, alive: closing asks, and staying keeps the view
        await pilot.press("q")
        assert type(app.screen).__name__ == "LeaveRun"
        await pilot.press("escape")
        assert run_view(app) is view


async def test_lines_that_are_no_events_are_skipped_and_counted_in_the_log(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(segment(1, 3, 1000).encode() + b'garbage\n{"event": 3}\n\xff\xfe\n\n')
    app = WatchApp(events, poll_seconds=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = run_view(app)
        assert view.state.step == 3  # the events around the damage are all there
        log = view.query_one("#run-log", RichLog)
        await wait_for(pilot, lambda: "could not be read" in log_text(log), seconds=10)
        assert "3 lines of" in log_text(log) and view.events.skipped == 3
        with events.open("ab") as stream:
            stream.write(b"{not json\n")
        await wait_for(pilot, lambda: "4 lines of" in log_text(log), seconds=10)
        assert log_text(log).count("could not be read as events") == 2  # told again, not at every tick


async def test_a_run_started_elsewhere_whose_process_is_gone_is_shown_as_died(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    events = tmp_path / "events.jsonl"
    events.write_text(segment(1, 2, 1000, pid=gone.pid)
                      + line("checkpoint_saved", 1002, step=2, path="/runs/r/c-2"))
    app = WatchApp(events)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = run_view(app)
        assert view.outcome.status == "crashed"
        panel = words(view.query_one(RunOutcomePanel))
        assert f"the process {gone.pid} is gone" in panel
        assert "continue with: loraforge run recipe.toml --resume" in panel


def test_the_run_view_does_not_import_torch(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(segment(1, 3, 1000))
    probe = f"""
import asyncio, json, sys
from loraforge.tui.watch_app import WatchApp

async def main():
    app = WatchApp({str(events)!r})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("r")
print(json.dumps(sorted(m for m in ("torch", "transformers", "peft", "datasets")
                        if m in sys.modules)))
asyncio.run(main())
print(json.dumps(sorted(m for m in ("torch", "transformers", "peft", "datasets")
                        if m in sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert [json.loads(text) for text in out.stdout.split()] == [[], []]


async def test_the_stop_key_interrupts_a_run_started_elsewhere_by_its_pid(tmp_path):
    # a stand-in for a headless run: it waits for SIGINT and says that it came
    heard = tmp_path / "heard"
    run = subprocess.Popen([sys.executable, "-c", (
        "import pathlib, signal, sys, time\n"
        f"signal.signal(signal.SIGINT, lambda *_: (pathlib.Path({str(heard)!r}).write_text("
        "'SIGINT'), sys.exit(130)))\n"
        "time.sleep(60)\n")])
    try:
        events = tmp_path / "events.jsonl"
        events.write_text(segment(1, 2, time.time(), pid=run.pid))
        app = WatchApp(events, poll_seconds=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            view = run_view(app)
            assert view.live and ("s", "Stop (checkpoint)") in _footer_keys(app)
            await pilot.press("s")
            assert run.wait(timeout=20) == 130 and heard.read_text() == "SIGINT"
            # it died without a run_ended event, as a killed run would
            await wait_for(pilot, lambda: view.outcome is not None, seconds=5)
            assert view.outcome.status == "crashed"
    finally:
        run.kill()
        run.wait()


async def test_a_file_replaced_by_a_fresh_run_starts_the_view_afresh(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(segment(1, 8, 1000))
    app = WatchApp(events, poll_seconds=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        view = run_view(app)
        assert len(view.state.train_loss) == 8
        fresh = tmp_path / "fresh.jsonl"  # `--overwrite` removes the file; the run begins anew
        fresh.write_text(segment(1, 2, 3000))
        os.replace(fresh, events)
        await wait_for(pilot, lambda: len(view.state.train_loss) == 2, seconds=5)
        assert view.query_one(LossChart).train == [(1, 9.0), (2, 8.0)]


def test_run_and_validate_never_import_textual(tmp_path):
    recipe = recipe_file(tmp_path, "train.max_steps=1")
    probe = (
        "import contextlib, io, json, sys\n"
        "from loraforge.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['validate', {str(recipe)!r}])\n"
        "import loraforge.cli.run_cmd, loraforge.engine.run\n"
        "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith('loraforge.tui'))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, []]


async def test_a_process_that_ends_before_its_first_event_is_shown_with_its_log(tmp_path):
    from textual.app import App

    log = tmp_path / "run.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", "print('Invalid recipe: train.epochs: must be > 0'); exit(2)"],
            stdout=output, stderr=subprocess.STDOUT)
    view = RunScreen(events=tmp_path / "never.jsonl", process=process,
                     recipe_path=Path("recipe.toml"), log=log, poll_seconds=0.05)

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(view)

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: view.outcome is not None, seconds=10)
        assert view.outcome.status == "crashed"
        panel = words(view.query_one(RunOutcomePanel))
        assert "died without ending the run: the process exited with code 2" in panel
        assert "Invalid recipe: train.epochs: must be > 0" in panel


async def test_the_phases_before_training_show_their_progress(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(
        line("phase_started", 1000, phase="output", message="")
        + line("run_started", 1001, output_dir="/runs/r", recipe="recipe.toml",
               resumed_from_step=0, pid=0, loraforge="0.1.0")
        + "".join(line("phase_finished", 1002, phase=phase, seconds=0.5, message="", details={})
                  for phase in ("output", "plugins", "data", "model", "lora"))
        + line("phase_started", 1003, phase="tokenize", message="")
        + line("progress", 1004, phase="tokenize", done=120, total=240, unit="train rows"))
    app = WatchApp(events)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        facts = shown(run_view(app).query_one(RunFacts))
        assert "preparing" in facts
        assert "✓output ✓plugins ✓data ✓model ✓lora ▸tokenize ·train ·evaluate ·save" in facts
        assert "tokenize: 120/240 train rows" in facts


async def test_leaving_a_live_run_running_closes_the_view_and_leaves_the_process(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        events = tmp_path / "events.jsonl"
        events.write_text(segment(1, 2, 1000, pid=sleeper.pid))
        app = WatchApp(events)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+q")
            assert type(app.screen).__name__ == "LeaveRun"
            await pilot.click("#leave")
            await wait_for(pilot, lambda: not app.is_running, seconds=5)
        assert app.return_value.status == "running"
        assert sleeper.poll() is None  # nothing was sent to it
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_closing_the_view_while_a_merge_runs_asks_and_interrupts_it(tmp_path,
                                                                        monkeypatch):
    from loraforge.tui.widgets import command_output

    told = tmp_path / "told.txt"  # what the command does when interrupted
    slow = ("import pathlib, sys, time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n"
            f"    pathlib.Path({str(told)!r}).write_text('interrupted')\n    sys.exit(130)\n")
    monkeypatch.setattr(command_output, "loraforge_command",
                        lambda *words: [sys.executable, "-c", slow])
    events = tmp_path / "events.jsonl"
    events.write_text(segment(1, 2, 1000) + line(
        "run_ended", 1003, status="finished", phase="save", global_step=2, output_dir="/runs/r"))
    app = WatchApp(events)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = run_view(app)
        view.output.start("merge", "/runs/r", "/runs/r-merged")
        await wait_for(pilot, lambda: view.output.process is not None, seconds=10)
        await pilot.press("q")
        assert "`loraforge merge /runs/r /runs/r-merged` is still running" in str(
            app.screen.question)
        await pilot.press("escape")  # stay
        assert run_view(app) is view and view.output.process.poll() is None
        await pilot.press("q")
        await pilot.click("#command-stop")
        await wait_for(pilot, lambda: not app.is_running, seconds=10)
    view.output.process.wait(timeout=10)
    assert told.read_text() == "interrupted"  # ctrl+c's signal: its clean-up ran


def test_the_stylesheets_are_part_of_the_distribution():
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[2]
    shipped = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["loraforge"]
    sheets = sorted(str(p.relative_to(root / "loraforge")) for p in
                    (root / "loraforge" / "tui").rglob("*.tcss"))
    assert "tui/styles/run.tcss" in sheets
    assert [s for s in sheets if not any(fnmatch.fnmatch(s, glob) for glob in shipped)] == []

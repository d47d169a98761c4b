"""``loraforge watch RUN_DIR``: the run view on a finished run's whole history, and bad folders."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from loraforge.after.report import loss_curve
from loraforge.cli import main
from loraforge.cli.watch_cmd import events_path
from loraforge.tui.merge_target import MergeTarget
from loraforge.tui.watch_app import WatchApp
from loraforge.tui.widgets.command_output import CommandOutput
from loraforge.tui.widgets.loss_chart import LossChart
from loraforge.tui.widgets.run_outcome import RunOutcomePanel

pytestmark = pytest.mark.usefixtures("wide_terminal")


def words(widget) -> str:
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(widget.content)
    return " ".join(console.export_text().split())


async def test_watch_shows_the_whole_history_of_a_finished_run(labelled_run):
    folder = labelled_run.output_dir
    app = WatchApp(events_path(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = app.screen
        curve = loss_curve(folder)  # what metrics.jsonl logged, step by step
        chart = view.query_one(LossChart)
        assert chart.train == curve.train and len(chart.train) > 5
        assert chart.eval == curve.eval and len(chart.eval) == 2  # one an epoch, both drawn
        assert view.outcome.status == "finished"
        panel = words(view.query_one(RunOutcomePanel))
        assert f"Adapter: {folder}" in panel and f"✓ Finished: {labelled_run.global_step} steps" in panel
        assert f"eval {curve.eval[-1][1]:.4f}" in panel


async def test_a_finished_runs_view_offers_report_merge_and_chat(labelled_run):
    folder = labelled_run.output_dir
    app = WatchApp(events_path(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = app.screen
        await pilot.press("r")
        output = view.query_one(CommandOutput)
        deadline = 120
        while output.running and deadline:
            await pilot.pause(0.5)
            deadline -= 1
        shown = "\n".join(strip.text for strip in output.lines)
        assert f"$ loraforge report {folder}" in shown
        assert "status" in shown and "finished" in shown and "done" in shown.splitlines()[-1]
        await pilot.press("m")
        assert isinstance(app.screen, MergeTarget) and app.screen.suggestion == f"{folder}-merged"
        await pilot.press("escape")
        await pilot.press("c")  # a test's app has no terminal to hand over: it says so
        await pilot.pause()
        assert any(f"loraforge chat {folder}" in str(note.message)
                   for note in app._notifications)


def test_watch_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a run")
    assert main(["watch", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Not a run" in err and f"{tmp_path} has no events.jsonl" in err
    assert "Give the output folder of a run" in err
    assert main(["watch", str(tmp_path / "missing")]) == 2
    assert "missing does not exist" in capsys.readouterr().err


def test_watch_without_a_terminal_says_what_to_read_instead(labelled_run, capsys):
    assert main(["watch", str(labelled_run.output_dir)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "draws in a terminal" in err and "loraforge report" in err


def test_watch_is_in_the_commands_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "follow a run live in the terminal" in capsys.readouterr().out

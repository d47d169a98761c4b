"""The run view: a run followed live from its events file, stopped by a key, and what comes after.

The view reads the events (docs/events.md) a run writes, on a timer, and
draws them: the phases before training and their progress, then step,
epoch, ETA, tokens a second, learning rate and the loss chart, and the log.
It knows the run only by that file and by its process (the wizard's child,
or the ``pid`` of ``run_started`` for a run started elsewhere), so it works
the same for a run the wizard started and for ``loraforge watch``. A
process that dies without a ``run_ended`` event is shown as such, with the
last lines of its log; nothing the run does can take the view down. On a
finished run the view offers Chat, Eval, Merge and Report. Nothing here
imports torch: the engine is only ever a child process.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, RichLog

from loraforge.events import RUN_EVENTS_FILE
from loraforge.tui.events_file import EventsFile
from loraforge.tui.run_process import RunProcess, log_tail
from loraforge.tui.run_state import RunOutcome, RunState
from loraforge.tui.widgets.command_output import CommandOutput, loraforge_command
from loraforge.tui.widgets.loss_chart import LossChart
from loraforge.tui.widgets.run_facts import RunFacts
from loraforge.tui.widgets.run_outcome import RunOutcomePanel

LOG_STYLES = {"warning": "bold", "error": "bold", "trace": "dim"}
AFTER = ("chat", "eval", "merge", "report")


class RunScreen(Screen[RunOutcome]):
    """One run, live or past, from its events file.

    ``events`` is the file to follow; ``process`` the run's ``Popen`` when
    the caller started it (else the run's own pid is used); ``recipe_path``
    the recipe, for the headless command shown at the end; ``log`` the
    file the process's output goes to, whose last lines are shown if it
    dies. The screen posts :class:`RunScreen.Ended` once the run is over and
    is dismissed with its :class:`RunOutcome`.
    """

    CSS_PATH = "styles/run.tcss"
    BINDINGS = [
        Binding("s", "stop", "Stop (checkpoint)", id="run.stop"),
        Binding("q", "close", "Close", id="run.close"),
        Binding("escape", "close", "Close", show=False, id="run.close-escape"),
        Binding("c", "chat", "Chat", id="run.chat"),
        Binding("e", "eval", "Eval", id="run.eval"),
        Binding("m", "merge", "Merge", id="run.merge"),
        Binding("r", "report", "Report", id="run.report"),
        Binding("v", "switch_view", "Chart/output", id="run.view"),
    ]

    class Ended(Message):
        """The run is over: ``status`` and, for a failed run, ``error`` (kind, message, where, hint)."""

        def __init__(self, outcome: RunOutcome) -> None:
            super().__init__()
            self.outcome = outcome
            self.status = outcome.status
            self.error = outcome.error

    def __init__(self, events: str | Path, process: subprocess.Popen | None = None,
                 recipe_path: str | Path | None = None, log: str | Path | None = None,
                 *, poll_seconds: float = 0.3) -> None:
        super().__init__()
        self.events = EventsFile(events)
        self.own_process = process is not None
        self.process = RunProcess(process)
        self.recipe_path = Path(recipe_path) if recipe_path is not None else None
        self.log_path = log
        self.poll_seconds = poll_seconds
        self.state = RunState()
        self.outcome: RunOutcome | None = None
        self.stopping = False
        self.leave_after_stop: Callable[[], None] | None = None
        self._logged = 0
        self._skipped_told = 0
        """How many of the events file's skipped lines the log has told of."""
        self._history_of: dict | None = None
        self._problems: set[str] = set()
        self.output = CommandOutput(id="run-output")

    def compose(self) -> ComposeResult:
        yield RunFacts(id="run-facts")
        with ContentSwitcher(initial="run-chart", id="run-main"):
            yield LossChart(id="run-chart")
            yield self.output
        yield RunOutcomePanel(id="run-outcome")
        yield RichLog(id="run-log", wrap=True, markup=False, highlight=False, max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#run-outcome").display = False
        self.redraw()
        self.poll()
        self.set_interval(self.poll_seconds, self.poll)

    # --- following the run ---------------------------------------------------------------------

    def poll(self) -> None:
        """Read what the run wrote since the last time; see whether its process still lives."""
        try:
            changed = self._read()
            if self.outcome is None or self.outcome.status == "crashed":
                changed |= self._check_end()
            if changed:
                self.redraw()
        except Exception as exc:  # the view must outlive whatever the file or the process does
            problem = f"the run view could not read the run: {type(exc).__name__}: {exc}"
            if problem not in self._problems:  # once, not at every tick
                self._problems.add(problem)
                self._write_log(problem, "error")

    def _read(self) -> bool:
        events = self.events.read_new()
        if self.events.restarted:
            self.state, self._logged, self.outcome = RunState(), 0, None
            self._skipped_told = 0
            self.query_one("#run-log", RichLog).clear()
        if self.events.skipped > self._skipped_told:
            count = self.events.skipped
            lines = "1 line" if count == 1 else f"{count} lines"
            self._write_log(f"{lines} of {self.events.path} could not be read as events (cut "
                            "short or damaged) and were skipped", "warning")
            self._skipped_told = count
        segments = self.state.segments
        for event in events:
            self.state.apply(event)
        if self.state.segments != segments and self.outcome is not None:
            self.outcome = None  # the run was resumed: follow it again
            self.query_one("#run-outcome").display = False
        if not self.own_process and self.state.pid != self.process.pid:
            self.process = RunProcess(pid=self.state.pid)
        started = self.state.started
        if started is not None and started is not self._history_of:
            self._history_of = started
            if started.get("resumed_from_step") and self.state.segments == 1 and \
                    self.state.output_dir:
                # a resumed run's own events file starts at the resume: the run's folder has
                # what came before
                folder_events = Path(self.state.output_dir) / RUN_EVENTS_FILE
                if folder_events.resolve() != self.events.path.resolve():
                    self.state.take_history(EventsFile(folder_events).read_new())
        return bool(events) or self.events.restarted

    def _check_end(self) -> bool:
        if self.state.ended is not None:
            if self.outcome is not None and self.outcome.status != "crashed":
                return False
            self._ended(RunOutcome(
                str(self.state.ended.get("status") or "failed"), self.state.ended.get("error"),
                self.state.output_dir, self.state.checkpoint))
            return True
        if self.outcome is not None or not self.process.known or self.process.alive():
            return False
        self._read()  # its last events may have come just before it went
        if self.state.ended is not None:
            return self._check_end()
        self._ended(RunOutcome("crashed", None, self.state.output_dir, self.state.checkpoint,
                               detail=self.process.how_it_ended()))
        return True

    def _ended(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        self.stopping = False
        self.query_one(RunOutcomePanel).show(
            self.state, outcome, self.headless_command(),
            log_tail(self.log_path) if outcome.status == "crashed" else [])
        self.post_message(self.Ended(outcome))
        self.refresh_bindings()
        if self.leave_after_stop is not None:
            leave, self.leave_after_stop = self.leave_after_stop, None
            leave()

    @property
    def live(self) -> bool:
        return self.outcome is None and self.process.alive()

    @property
    def status(self) -> str:
        if self.outcome is not None:
            return self.outcome.status
        return "stopping" if self.stopping else self.state.status

    def redraw(self) -> None:
        self.query_one(RunFacts).show(self.state, self.status)
        self.query_one(LossChart).show(self.state.train_loss, self.state.eval_loss)
        for line in self.state.log[self._logged:]:
            self._write_log(line.text, line.level)
        self._logged = len(self.state.log)

    def _write_log(self, text: str, level: str) -> None:
        prefix = {"warning": "! ", "error": "✗ "}.get(level, "")
        self.query_one("#run-log", RichLog).write(Text(prefix + text,
                                                       style=LOG_STYLES.get(level, "")))

    def headless_command(self) -> str | None:
        """``loraforge run FILE``, for the recipe this run was started from."""
        recipe = self.recipe_path or (Path(self.state.recipe) if self.state.recipe else None)
        if recipe is None:
            return None
        return shlex.join(["loraforge", "run", _shown(recipe)])

    def watch_command(self) -> str:
        folder = self.state.output_dir
        return shlex.join(["loraforge", "watch", _shown(Path(folder))]) if folder else \
            "loraforge watch RUN_DIR"

    # --- keys ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.live and not self.stopping
        if action in AFTER:
            finished = self.outcome is not None and self.outcome.status == "finished"
            return finished and not self.output.running
        if action == "switch_view":
            return bool(self.output.lines)
        return True

    def action_stop(self) -> None:
        if self.process.interrupt():
            self.stopping = True
            self.notify("Stopping: the run saves a checkpoint after this step.", timeout=8)
            self.redraw()
            self.refresh_bindings()
        else:
            self.notify("There is no live process to stop.", severity="warning")

    def action_close(self) -> None:
        self.leave_run_view()

    def leave_run_view(self, then: Callable[[], None] | None = None) -> None:
        """Close the view; on a live run, ask first whether to stop it or leave it running.

        ``then`` replaces closing (the wizard quitting altogether, say).
        """
        def close() -> None:
            if then is not None:
                then()
            else:
                self.dismiss(self.outcome or RunOutcome("running", None, self.state.output_dir,
                                                        self.state.checkpoint))

        if not self.live and not self.output.running:
            close()
            return
        if not self.live:  # an eval or a merge started from here is still going
            from loraforge.tui.choice import Choice

            def stop_it(answer: str | None) -> None:
                if answer == "stop":
                    self.output.stop()
                    close()

            self.app.push_screen(Choice(
                f"`{self.output.command}` is still running. Stop it (what it has not finished "
                "is not kept), or stay until it ends?",
                [("stop", "Stop it and close", "warning")], back="Stay", back_id="stay",
                prefix="command-"), stop_it)
            return
        from loraforge.tui.leave_run import LeaveRun

        def answered(answer: str | None) -> None:
            if answer == "leave":
                self.app.notify(f"The run goes on in the background: {self.watch_command()}",
                                timeout=15)
                close()
            elif answer == "stop":
                self.leave_after_stop = close
                if not self.stopping:
                    self.action_stop()

        self.app.push_screen(LeaveRun(self.watch_command()), answered)

    def action_switch_view(self) -> None:
        self.show_output(self.query_one(ContentSwitcher).current != "run-output")

    def show_output(self, output: bool) -> None:
        """Show a command's output (focused, to scroll it) in the chart's place, or the chart."""
        self.query_one(ContentSwitcher).current = "run-output" if output else "run-chart"
        self.set_class(output, "showing-output")
        if output:
            self.output.focus()

    # --- after training --------------------------------------------------------------------------

    @property
    def run_dir(self) -> str:
        return str(self.outcome.output_dir if self.outcome else self.state.output_dir)

    def action_chat(self) -> None:
        from textual.app import SuspendNotSupported

        try:
            with self.app.suspend():
                print(f"loraforge chat {self.run_dir}  (Ctrl-D to come back)", flush=True)
                # Ctrl-C reaches the whole foreground group: it is for the chat, not the view
                # (a handler, unlike SIG_IGN, is not inherited by the chat's process)
                previous = signal.signal(signal.SIGINT, lambda *_: None)
                try:
                    subprocess.run(loraforge_command("chat", self.run_dir), check=False)
                finally:
                    signal.signal(signal.SIGINT, previous)
        except SuspendNotSupported:
            self.notify(f"Chat needs the terminal: run `loraforge chat {self.run_dir}`.",
                        severity="warning", timeout=10)

    def action_eval(self) -> None:
        self._command("eval", self.run_dir)

    def action_report(self) -> None:
        self._command("report", self.run_dir)

    def action_merge(self) -> None:
        from loraforge.tui.merge_target import MergeTarget

        def chosen(folder: str | None) -> None:
            if folder:
                self._command("merge", self.run_dir, folder)

        self.app.push_screen(MergeTarget(f"{self.run_dir.rstrip(os.sep)}-merged"), chosen)

    def _command(self, *words: str) -> None:
        self.show_output(True)
        self.output.start(*words)
        self.refresh_bindings()

    @on(CommandOutput.Done)
    def _command_done(self) -> None:
        self.refresh_bindings()


def _shown(path: Path) -> str:
    """A path as a person would type it here: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)

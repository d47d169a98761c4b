"""Telling a run's reporter and its callbacks what happens, so that none of them can stop it.

Every event goes to the reporter (the CLI's log, ``--events``, the wizard)
and, in the callback contract's terms, to the recipe's callbacks and the
ones a front end passed in. A callback that raises is reported once, naming
its plugin and component, switched off for the rest of the run and recorded
in run.json; training goes on. Every callback that was sent ``on_begin`` is
sent ``on_end``, however the run ends (also one switched off since, so that
it can take down a progress bar or close a file). Only process 0 tells
anyone anything.
"""

from __future__ import annotations

from typing import Any

from loraforge.components import RunInfo, TrainingCallback
from loraforge.engine.environment import is_main_process
from loraforge.errors import LoraforgeError
from loraforge.events import (
    CheckpointSaved,
    Evaluated,
    Event,
    PhaseFinished,
    PhaseStarted,
    RunWarning,
    StepLogged,
    TrainStarted,
)
from loraforge.registry import component_failure
from loraforge.reporting import Reporter


class RunEvents(Reporter):
    """The reporter and callbacks of one run, and which callbacks began and which failed."""

    def __init__(self, reporter: Reporter, callbacks: list[TrainingCallback] | None = None,
                 record: Any = None) -> None:
        self.reporter = reporter
        self.callbacks: list[TrainingCallback] = list(callbacks or [])
        self.record = record
        """The run's :class:`~loraforge.engine.record.RunRecord`, once it has one."""
        self.main = is_main_process()
        self.began: list[TrainingCallback] = []
        self.disabled: set[int] = set()
        self.ended = False
        self.info: RunInfo | None = None

    def report(self, event: Event) -> None:
        """Send ``event`` to the reporter, and phase events to the callbacks too."""
        if not self.main:
            return
        self.reporter.report(event)
        if isinstance(event, (PhaseStarted, PhaseFinished)):
            self._each("on_phase", event)

    def begin(self, info: RunInfo, samples: int) -> None:
        """Training begins: ``on_begin`` to every callback."""
        self.info = info
        self.report(TrainStarted(info.max_steps, info.epochs, info.trainable_parameters,
                                 info.total_parameters, info.resumed_from_step, samples))
        if not self.main:
            return
        for callback in self.callbacks:
            if callback not in self.began:
                self.began.append(callback)
            self._call(callback, "on_begin", info)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        total = self.info.max_steps if self.info else 0
        self.report(StepLogged(step, total, metrics))
        self._each("on_log", step, metrics)

    def evaluated(self, step: int, metrics: dict[str, float]) -> None:
        self.report(Evaluated(step, metrics))
        self._each("on_evaluate", step, metrics)

    def saved(self, step: int, path: str) -> None:
        self.report(CheckpointSaved(step, path))
        self._each("on_save", step, path)

    def end(self, summary: dict[str, Any]) -> None:
        """``on_end`` to every callback that began, once; a failure here is only reported."""
        if self.ended or not self.main:
            return
        self.ended = True
        for callback in self.began:
            try:
                callback.on_end(summary)
            except (Exception, SystemExit) as exc:
                self._report_failure(callback, "on_end", exc)

    def _each(self, method: str, *args: Any) -> None:
        if not self.main:
            return
        for callback in self.callbacks:
            self._call(callback, method, *args)

    def _call(self, callback: TrainingCallback, method: str, *args: Any) -> None:
        if id(callback) in self.disabled:
            return
        try:
            getattr(callback, method)(*args)
        except (Exception, SystemExit) as exc:  # a callback must not stop the run it watches
            self.disabled.add(id(callback))
            self._report_failure(callback, method, exc)

    def _report_failure(self, callback: TrainingCallback, method: str,
                        exc: BaseException) -> None:
        error = exc if isinstance(exc, LoraforgeError) else component_failure(callback, method, exc)
        plugin = getattr(callback, "plugin_name", None) or type(callback).__module__.split(".")[0]
        if self.record is not None:
            self.record.note_problem("callback_errors", {
                "plugin": plugin, "component": type(callback).name or type(callback).__name__,
                "method": method, "error": f"{type(exc).__name__}: {exc}",
            })
        off = "" if method == "on_end" else "; it is switched off for the rest of the run"
        if isinstance(exc, OSError):  # its stream went away: a closed pipe, a full disk
            name = type(callback).name or type(callback).__name__
            self.reporter.report(RunWarning(
                f"the {name} callback could not write its output ({type(exc).__name__}: "
                f"{exc}){off}", code="console_closed", where=error.where,
                hint="Training goes on; run.json, the metrics and the checkpoints are still "
                "written to the output folder.",
            ))
            return
        self.reporter.report(RunWarning(
            f"{error.message}{off}", code="callback_disabled", where=error.where,
            hint="Training goes on without it. If the recipe is right, this is a bug in the "
            "plugin: report it to its author with the output of --debug.",
        ))

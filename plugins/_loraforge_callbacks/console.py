"""The ``console`` callback: a run's progress for the person watching it.

On a terminal it draws a rich progress bar; anywhere else (a batch job's log,
``tmux`` scrollback piped to a file, CI) it prints one plain, flushed line per
logged step, which survives ``tail -f`` and ``grep``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field

from loraforge.components import RunInfo, TrainingCallback
from loraforge.console import duration

# logged keys shown first, under short names; the rest follow as they come
_SHOWN = {"epoch": "epoch", "loss": "loss", "learning_rate": "lr"}


class ConsoleOptions(BaseModel):
    """Options of the ``console`` callback."""

    model_config = ConfigDict(extra="forbid")

    every: int | None = Field(
        None,
        ge=1,
        title="Print every",
        description="Off a terminal, print a line only for every this many logged steps "
        "(the first is always printed). Unset: every logged step.",
    )


def _number(key: str, value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if key == "learning_rate":
        return f"{value:.1e}"
    if key == "epoch":
        return f"{value:.2f}"
    if "loss" in key:
        return f"{value:.4f}"
    return f"{value:.4g}"


def _fields(values: dict[str, Any]) -> str:
    ordered = [k for k in _SHOWN if k in values] + [k for k in values if k not in _SHOWN]
    return "  ".join(f"{_SHOWN.get(k, k)} {_number(k, values[k])}" for k in ordered)


class ConsoleProgress(TrainingCallback):
    """Shows a run's progress: a rich progress bar on a terminal, plain lines elsewhere.

    Plain lines look like ``step 20/120  epoch 0.33  loss 2.4312  lr 1.8e-04``.
    ``on_end`` reads these summary keys, each optional: ``status``
    (``finished``, ``interrupted`` or ``failed``), ``output_dir`` (where
    the adapter was saved), ``global_step``, ``train_loss`` (the mean over the
    run, as the Trainer reports it), ``runtime_s``, ``checkpoint`` (the
    newest complete one, when the run stopped early) and ``error``; it also
    shows the last logged loss.

    ``file`` (default: ``sys.stdout`` when the run begins) and ``terminal``
    (default: ask rich, which checks for a TTY and honours ``FORCE_COLOR``,
    ``TTY_COMPATIBLE`` and ``TERM=dumb``) may be set before the run.
    """

    name = "console"
    description = "Show progress: a live bar on a terminal, plain log lines otherwise."
    Options = ConsoleOptions

    def __init__(self, options: BaseModel | None = None):
        super().__init__(options)
        self.file: TextIO | None = None
        self.terminal: bool | None = None
        self._run: RunInfo | None = None
        self._began = time.monotonic()
        self._progress: Any = None  # a rich Progress while the bar is shown
        self._task: Any = None
        self._logged = 0
        self._last_loss: float | None = None

    @property
    def stream(self) -> TextIO:
        return self.file if self.file is not None else sys.stdout

    def on_begin(self, run: RunInfo) -> None:
        from rich.console import Console

        self._run = run
        self._began = time.monotonic()
        console = Console(
            file=self.stream, force_terminal=self.terminal, force_interactive=self.terminal
        )
        if console.is_interactive:
            self._start_bar(console, run)
        self._say(self._begin_line(run))

    def on_log(self, step: int, logs: dict[str, float]) -> None:
        if "loss" in logs:
            self._last_loss = logs["loss"]
        if self._progress is not None:
            self._update_bar(step, logs)
            return
        self._logged += 1
        every = self.options.every
        if every is None or (self._logged - 1) % every == 0:
            self._say(f"{self._step(step)}  {_fields(logs)}".rstrip())

    def on_evaluate(self, step: int, metrics: dict[str, float]) -> None:
        self._say(f"eval at {self._step(step)}  {_fields(metrics)}".rstrip())

    def on_save(self, step: int, path: str) -> None:
        self._say(f"saved a checkpoint at step {step}: {path}")

    def on_end(self, summary: dict[str, Any]) -> None:
        if self._progress is not None:
            if "global_step" in summary:
                self._progress.update(self._task, completed=summary["global_step"])
            self._progress.stop()
            self._progress = None
        for line in self._summary_lines(summary):
            self._say(line)

    def _step(self, step: int) -> str:
        total = self._run.max_steps if self._run is not None else 0
        return f"step {step}/{total}" if total > 0 else f"step {step}"

    def _say(self, line: str) -> None:
        if self._progress is not None:  # printed above the bar, which stays at the bottom
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def _begin_line(self, run: RunInfo) -> str:
        share = run.trainable_parameters / run.total_parameters if run.total_parameters else 0
        line = (
            f"training {run.max_steps} steps ({run.epochs:g} epoch{'' if run.epochs == 1 else 's'}), "
            f"{run.trainable_parameters:,} of {run.total_parameters:,} parameters trainable "
            f"({share:.2%}), output in {run.output_dir}"
        )
        if run.resumed_from_step:
            line += f", resuming at step {run.resumed_from_step}"
        return line

    def _summary_lines(self, summary: dict[str, Any]) -> list[str]:
        steps = summary.get("global_step")
        runtime = summary.get("runtime_s") or time.monotonic() - self._began
        status = summary.get("status", "finished")
        if status != "finished":
            line = f"{status} after {steps} steps" if steps is not None else status
            line += f" in {duration(runtime)}"
            if summary.get("error"):
                line += f": {summary['error']}"
            saved = summary.get("checkpoint")
            return [line, f"last checkpoint: {saved}" if saved else "no checkpoint was saved"]
        line = f"finished {steps} steps" if steps is not None else "finished"
        line += f" in {duration(runtime)}"
        losses = []
        if self._last_loss is not None:
            losses.append(f"last loss {self._last_loss:.4f}")
        if summary.get("train_loss") is not None:
            losses.append(f"mean loss {summary['train_loss']:.4f}")
        if losses:
            line += ", " + ", ".join(losses)
        lines = [line]
        if summary.get("output_dir"):
            lines.append(f"adapter saved in {summary['output_dir']}")
        return lines

    def _start_bar(self, console: Any, run: RunInfo) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("lr {task.fields[lr]}"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task = self._progress.add_task(
            "training", total=run.max_steps or None, completed=run.resumed_from_step,
            loss="-", lr="-",
        )
        self._progress.start()

    def _update_bar(self, step: int, logs: dict[str, float]) -> None:
        fields = {}
        if "loss" in logs:
            fields["loss"] = _number("loss", logs["loss"])
        if "learning_rate" in logs:
            fields["lr"] = _number("learning_rate", logs["learning_rate"])
        self._progress.update(self._task, completed=step, refresh=True, **fields)

"""The run view's top lines: where the run is (phase by phase, then step by step) and how fast."""

from __future__ import annotations

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from loraforge.console import duration
from loraforge.tui.run_state import RunState

MARKS = {"done": "✓", "current": "▸", "todo": "·", "failed": "✗", "stopped": "■"}
STATUS = {"waiting": "waiting for the run to start", "preparing": "preparing",
          "training": "training", "finished": "finished", "interrupted": "stopped",
          "failed": "failed", "crashed": "died", "stopping": "stopping at the next step…"}


def losses(state: RunState) -> list[str]:
    """The latest training and evaluation loss, as short phrases."""
    parts = []
    if state.last_train_loss is not None:
        parts.append(f"loss {state.last_train_loss:.3f}")
    if state.last_eval_loss is not None:
        parts.append(f"eval loss {state.last_eval_loss:.3f}")
    return parts


def numbers(state: RunState) -> list[str]:
    """Step, epoch, ETA, speed and learning rate, as short phrases."""
    parts = []
    if state.max_steps:
        parts.append(f"step {state.step}/{state.max_steps}")
    elif state.step:
        parts.append(f"step {state.step}")
    if state.epoch is not None:
        parts.append(f"epoch {state.epoch:.2f}")
    eta = state.eta_seconds()
    if eta is not None:
        parts.append(f"ETA {duration(eta, compact=True)}")
    rate = state.tokens_per_second()
    if rate is not None:
        parts.append(f"{rate:,.0f} tok/s")
    if state.learning_rate is not None:
        parts.append(f"lr {state.learning_rate:.1e}")
    return parts


class RunFacts(Static):
    """The status, the phases with the one in progress, and the training numbers."""

    def show(self, state: RunState, status: str) -> None:
        text = Text()
        text.append(f"{STATUS.get(status, status)}", style="bold")
        for part in losses(state):
            text.append(f" · {part}")
        where = state.output_dir
        if where:
            text.append(f"  {where}", style="dim")
        text.append("\n")
        for phase, mark in state.phases():
            style = {"current": "bold reverse", "failed": "bold", "stopped": "bold"}.get(mark, "")
            text.append(f"{MARKS[mark]}{phase}", style=style or ("dim" if mark == "todo" else ""))
            text.append(" ")
        text.rstrip()
        lines: list = [text]
        progress = state.progress
        if progress and status in ("preparing", "training"):
            lines.append(self._progress(progress))
        if state.max_steps or state.step:
            lines.append(Text(" · ".join(numbers(state))))
        table = Table.grid()
        table.add_column()
        for line in lines:
            table.add_row(line)
        self.update(table)

    def _progress(self, progress: dict) -> Table:
        done, total = progress.get("done") or 0, progress.get("total")
        label = f"{progress.get('phase', '')}: {done:,}" + (f"/{total:,}" if total else "")
        label += f" {progress.get('unit', '')}"
        row = Table.grid(padding=(0, 1))
        row.add_column(no_wrap=True)
        row.add_column(ratio=1)
        row.add_row(label, ProgressBar(total=float(total or 0) or None, completed=float(done)))
        return row

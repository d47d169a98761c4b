"""Asking, when the run view is closed on a live run, whether to stop the run or leave it running."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class LeaveRun(ModalScreen[str | None]):
    """Stop the run (it saves a checkpoint), leave it running, or stay ("stop", "leave" or None)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Stay", id="leave.stay")]

    def __init__(self, watch_command: str) -> None:
        super().__init__()
        self.watch_command = watch_command

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("The run is still going. Stop it (it saves a checkpoint at the next "
                        "step, to resume from), or leave it running in the background (follow "
                        f"it again with `{self.watch_command}`)?")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stop it", id="stop", variant="warning")
                yield Button("Leave it running", id="leave", variant="primary")
                yield Button("Stay", id="stay")

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "stay" else event.button.id)

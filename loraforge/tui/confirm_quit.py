"""Asking before unsaved changes are thrown away."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmQuit(ModalScreen[str | None]):
    """Save and quit, quit without saving, or go back ("save", "quit" or None)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back", id="confirm.back")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("The recipe has changes that are not saved.")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save and quit", id="save", variant="primary")
                yield Button("Quit without saving", id="quit", variant="error")
                yield Button("Back", id="back")

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "back" else event.button.id)

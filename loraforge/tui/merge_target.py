"""Asking where ``loraforge merge`` should write the merged model."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class MergeTarget(ModalScreen[str | None]):
    """The output folder of the merge (a new or empty folder), or None to cancel."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="merge.cancel")]

    def __init__(self, suggestion: str) -> None:
        super().__init__()
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Merge the adapter into its base model, as a standalone model in this "
                        "new or empty folder:")
            yield Input(self.suggestion, id="merge-folder")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Merge", id="merge", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#merge")
    def _merge(self) -> None:
        folder = self.query_one("#merge-folder", Input).value.strip()
        if folder:
            self.dismiss(folder)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

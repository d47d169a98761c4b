"""Picking a model folder or a data file in a folder browser, or typing its path."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label


class FilePicker(ModalScreen[Path | None]):
    """Browse from ``start``; escape cancels.

    For a model (``folders``), enter on a folder holding config.json, or on a
    file in it, chooses the folder; for data, enter on a file chooses it. A
    folder of data files is typed into the path line.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel")]

    def __init__(self, start: Path, *, folders: bool) -> None:
        super().__init__()
        self.start, self.folders = Path(start), folders

    def compose(self) -> ComposeResult:
        what = "the model's folder (the one with config.json)" if self.folders else \
            "the data file, or a folder of data files"
        with Vertical(id="picker"):
            yield Label(f"Choose {what}: enter picks, escape cancels, or type a path below.")
            yield DirectoryTree(str(self.start), id="picker-tree")
            yield Input(placeholder="a path, then enter", id="picker-path")

    def on_mount(self) -> None:
        self.query_one(DirectoryTree).focus()

    @on(DirectoryTree.DirectorySelected)
    def _folder(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        if self.folders and (Path(event.path) / "config.json").is_file():
            self.dismiss(Path(event.path))  # elsewhere enter only opens the folder

    @on(DirectoryTree.FileSelected)
    def _file(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        path = Path(event.path)
        self.dismiss(path.parent if self.folders else path)

    @on(Input.Submitted, "#picker-path")
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            path = Path(event.value.strip()).expanduser()
            self.dismiss(path if path.is_absolute() else self.start / path)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""A question with its answers as buttons: the wizard's and the run view's dialogs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

Answer = tuple[str, str, str]
"""``(answer, button label, button variant)``."""


class Choice(ModalScreen[str | None]):
    """Ask ``question``; dismissed with the answer chosen, or None for escape or ``back``.

    Each button's id is ``prefix`` and its answer (the back button's, ``prefix``
    and ``back_id``), so that tests and styles can name them.
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Back", id="choice.back")]

    def __init__(self, question: str, answers: list[Answer], *, back: str = "Cancel",
                 back_id: str = "cancel", prefix: str = "") -> None:
        super().__init__()
        self.question, self.answers = question, answers
        self.back, self.back_id, self.prefix = back, back_id, prefix

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            with Horizontal(classes="dialog-buttons"):
                for answer, label, variant in self.answers:
                    yield Button(label, id=f"{self.prefix}{answer}", variant=variant)
                yield Button(self.back, id=f"{self.prefix}{self.back_id}")

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        answer = (event.button.id or "").removeprefix(self.prefix)
        self.dismiss(None if answer == self.back_id else answer)

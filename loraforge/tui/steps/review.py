"""Step 6, Review: the recipe as it will be saved, every problem with a way to its field, Save, Run."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Label, ListItem, ListView, Static

from loraforge.tui.steps.base import Step
from loraforge.tui.widgets.panel import Panel


class ReviewStep(Step):
    NAME = "review"
    TITLE = "Review"
    INTRO = "The recipe as it will be saved. Save it, or save it and start training."

    class Jump(Message):
        """Go to the field a problem names."""

        def __init__(self, field: str) -> None:
            super().__init__()
            self.field = field

    def compose(self) -> ComposeResult:
        yield Static(self.TITLE, classes="step-title")
        yield Static(self.INTRO, classes="step-intro")
        yield Static("", id="review-summary")
        yield ListView(id="review-problems")
        with Horizontal(id="review-buttons"):
            yield Button("Save  ctrl+s", id="review-save", variant="primary")
            yield Button("Save & run  ctrl+r", id="review-run", variant="success")
        yield Panel(id="review-toml")

    def draft_changed(self) -> None:
        from rich.syntax import Syntax

        problems = self.draft.problems
        summary = self.query_one("#review-summary", Static)
        if problems:
            summary.update(f"✗ {len(problems)} problem{'s' if len(problems) != 1 else ''} to "
                           "fix before saving; enter on one goes to its field:")
        else:
            summary.update(f"✓ ready to save as {self.draft.path}")
        listing = self.query_one("#review-problems", ListView)
        listing.clear()
        listing.extend(ListItem(Label(f"{field}: {message}"), name=field)
                       for field, message in problems)
        listing.display = bool(problems)
        if problems:
            listing.index = 0  # enter on the list goes to the first problem's field
        self.query_one("#review-save", Button).disabled = bool(problems)
        self.query_one("#review-run", Button).disabled = bool(problems)
        self.query_one("#review-toml", Static).update(
            Syntax(self.draft.toml(), "toml", theme="ansi_dark", word_wrap=True))

    def problems(self) -> list[tuple[str, str]]:
        return list(self.draft.problems)

    @on(ListView.Selected, "#review-problems")
    def _jump(self, event: ListView.Selected) -> None:
        event.stop()
        if event.item is not None and event.item.name:
            self.post_message(self.Jump(event.item.name))

    @on(Button.Pressed, "#review-save")
    def _save(self) -> None:
        self.app.action_save()

    @on(Button.Pressed, "#review-run")
    def _run(self) -> None:
        self.app.action_save_and_run()

"""Step 5, Fit: will the run fit the GPU? Peak memory by component, and the fixes that make it fit.

The estimate is ``loraforge estimate``'s, from the recipe alone (no weight
is read), for this machine's GPU or a card chosen from the list. Each fix
the estimator suggests is a key away: pressing its number applies it to
the recipe.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Label, Select, Static

from loraforge.tui.steps.base import Step
from loraforge.tui.widgets.form_select import FormSelect
from loraforge.tui.widgets.panel import Panel

THIS_MACHINE = "__this_machine__"


class FitStep(Step):
    NAME = "fit"
    TITLE = "Fit"
    INTRO = ("The peak GPU memory training will need, by component, against the card it runs "
             "on. Press a fix's number to apply it.")
    BINDINGS = [Binding(str(n), f"apply_fix({n - 1})", f"fix {n}", show=False,
                        id=f"fit.fix{n}") for n in range(1, 5)]

    class Apply(Message):
        """Apply a fix: recipe fields and their new values."""

        def __init__(self, changes: dict[tuple[str, ...], Any]) -> None:
            super().__init__()
            self.changes = changes

    fixes: list[tuple[str, dict[tuple[str, ...], Any]]] = []

    def compose(self) -> ComposeResult:
        from loraforge.tui import facts

        yield Static(self.TITLE, classes="step-title")
        yield Static(self.INTRO, classes="step-intro")
        with Horizontal(classes="field-line"):
            yield Label("GPU", classes="field-title")
            cards = [(name, name) for name in facts.known_gpus()]
            cards.insert(0, ("this machine's", THIS_MACHINE))
            yield FormSelect(cards, value=THIS_MACHINE, allow_blank=False, id="fit-gpu",
                             classes="field-control", compact=True)
        yield Panel(id="fit-report")

    @on(Select.Changed, "#fit-gpu")
    def _gpu(self, event: Select.Changed) -> None:
        event.stop()
        self.draft_changed()

    def draft_changed(self) -> None:
        if not self.visited:
            return
        if self.draft.recipe is None:
            self.query_one("#fit-report", Static).update(
                "The estimate appears once the recipe has no problems (see Review).")
            return
        gpu = self.query_one("#fit-gpu", Select).value
        self.estimate(self.draft.recipe, None if gpu == THIS_MACHINE else gpu)

    @work(thread=True, exclusive=True, group="fit")
    def estimate(self, recipe: Any, gpu: str | None) -> None:
        from loraforge.tui import facts

        try:
            report, fixes = facts.fit_report(recipe, self.plugins, gpu)
        except Exception as exc:  # shown in place of the estimate, never raised
            report, fixes = facts.problem_text(exc), []
        self.app.call_from_thread(self._show, report, fixes)

    def _show(self, report: Any, fixes: list) -> None:
        self.fixes = fixes
        self.query_one("#fit-report", Static).update(report)

    def action_apply_fix(self, number: int) -> None:
        if number < len(self.fixes):
            label, changes = self.fixes[number]
            self.notify(f"applied: {label}")
            self.post_message(self.Apply(changes))

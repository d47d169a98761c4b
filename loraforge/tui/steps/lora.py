"""Step 2, LoRA: the adapter's shape, and where it goes, with the live count of what trains."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from loraforge.tui.steps.base import Step
from loraforge.tui.widgets.panel import Panel


class LoraStep(Step):
    NAME = "lora"
    TITLE = "LoRA"
    INTRO = ("Low-rank matrices A and B are trained beside the frozen weights of the target "
             "modules: rank r sets their size, alpha / r their scale. The query and value "
             "projections are the classic choice; all-linear trains more, and costs more.")
    PANELS_AFTER = 1
    FIELDS = (("lora", "targets"), ("lora", "r"), ("lora", "alpha"), ("lora", "dropout"),
              ("lora", "bias"))

    def compose_panels(self) -> ComposeResult:
        yield Panel(id="lora-count")

    def draft_changed(self) -> None:
        if not self.visited:
            return
        recipe = self.draft.recipe_for("model", "lora")
        if recipe is None:
            self.query_one("#lora-count", Static).update(
                "The count appears once the Model step and the fields above have no problems.")
            return
        self.query_one("#lora-count", Static).update("counting the trainable parameters…")
        self.count(recipe)

    @work(thread=True, exclusive=True, group="lora-count")
    def count(self, recipe: Any) -> None:
        from loraforge.tui import facts

        try:
            text = facts.targets_summary(recipe, self.plugins)
        except Exception as exc:  # shown where the count would be, never raised
            text = facts.problem_text(exc)
        self.app.call_from_thread(self.query_one("#lora-count", Static).update, text)

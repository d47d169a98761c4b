"""Step 1, Model: which base model, loaded by which plugin, in what precision.

Once the model's ``config.json`` is found, the step says what the model is
(family, parameters, layers, vocabulary), read from the config alone: no
weights are loaded. Quantization is chosen with a line on what each choice
costs and saves, and a warning where bitsandbytes cannot run here.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from loraforge.tui.steps.base import Step
from loraforge.tui.widgets.panel import Panel

QUANTIZATION = {
    "none": "full precision: 2 bytes a weight in 16-bit; the fastest, and exact",
    "8bit": "LLM.int8: 1 byte a weight, half the memory of 16-bit; a little slower",
    "4bit": "NF4: half a byte a weight, a quarter of the memory; slower, slightly less exact",
}
REMOTE_CODE = ("Python code shipped with the checkpoint will run on this machine with your "
               "rights. Only for checkpoints whose source you trust.")


class ModelStep(Step):
    NAME = "model"
    TITLE = "Model"
    INTRO = ("The base model to adapt: a local checkpoint folder (the one with config.json), "
             "relative to the recipe's folder, or a hub id. Its weights stay frozen.")
    PANELS_AFTER = 2
    FIELDS = (("model", "loader"), ("model", "path"), ("model", "quantization"),
              ("model", "dtype"), ("model", "trust_remote_code"))
    MORE = (("model", "revision"), ("model", "device_map"))
    DESCRIPTIONS = {("model", "quantization"): QUANTIZATION}
    PLACEHOLDERS = {("model", "path"): "models/Llama-2-7b-hf, or a hub id"}

    def compose_panels(self) -> ComposeResult:
        yield Static("", id="model-warning", classes="panel-warning")
        yield Panel(id="model-info")

    def draft_changed(self) -> None:
        warnings = []
        if self.draft.get(("model", "trust_remote_code")) is True:
            warnings.append(f"⚠ trust remote code: {REMOTE_CODE}")
        self.query_one("#model-warning", Static).update("\n".join(warnings))
        self.query_one("#model-warning", Static).display = bool(warnings)
        recipe = self.draft.recipe_for("model")
        quantization = self.draft.get(("model", "quantization"), "none")
        known = self.draft.get(("model", "path")) or self.draft.component_name(("model", "loader"))
        if known and self.visited:
            self.query_one("#model-info", Static).update("reading the model's config…")
            self.describe(recipe, quantization)

    @work(thread=True, exclusive=True, group="model-info")
    def describe(self, recipe: Any, quantization: str) -> None:
        from loraforge.tui import facts

        lines = []
        if quantization != "none":
            note = facts.quantization_note(quantization)
            if note:
                lines.append(f"⚠ {note}")
        if recipe is not None:
            try:
                lines.append(facts.model_summary(recipe, self.plugins))
            except Exception as exc:  # shown where the facts would be, never raised
                lines.append(facts.problem_text(exc))
        self.app.call_from_thread(self.query_one("#model-info", Static).update, "\n".join(lines))

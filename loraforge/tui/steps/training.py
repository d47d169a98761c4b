"""Step 4, Training: how long, in what batches, how fast to learn, and where the run goes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from loraforge.tui.steps.base import Step


class TrainingStep(Step):
    NAME = "training"
    TITLE = "Training"
    INTRO = ("How long to train and how. The effective batch is batch size × accumulation; "
             "the output folder must be new or empty, or hold an earlier run of this recipe.")
    PANELS_AFTER = 4
    FIELDS = (("train", "epochs"), ("train", "max_steps"), ("train", "batch_size"),
              ("train", "grad_accum"), ("train", "learning_rate"), ("train", "lr_scheduler"),
              ("train", "precision"), ("train", "gradient_checkpointing"), ("train", "device"),
              ("output", "dir"), ("train", "callbacks"))
    MORE = (("train", "warmup_ratio"), ("train", "weight_decay"), ("train", "seed"),
            ("train", "logging_steps"), ("train", "save_steps"), ("train", "save_every_epoch"),
            ("train", "save_total_limit"), ("output", "resume"), ("output", "overwrite"))

    def compose_panels(self) -> ComposeResult:
        yield Static("", id="training-plan", classes="panel-note")

    def draft_changed(self) -> None:
        from loraforge.tui import facts

        recipe = self.draft.recipe_for("data", "train")
        note = self.query_one("#training-plan", Static)
        if recipe is None:
            note.update("")
            return
        samples = getattr(self.app, "samples", None)
        note.update(facts.training_plan(recipe, samples))

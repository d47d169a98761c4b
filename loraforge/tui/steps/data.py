"""Step 3, Data: where the rows are, how a row becomes a sample, and what the model will see.

The preview is ``loraforge preview``'s: the first samples with trained
tokens highlighted and masked ones dim, the token-length histogram and the
counts of rows, truncated and bad rows. It loads the tokenizer only, runs in
a thread (the newest request wins), and tells how far tokenizing a large
file has got.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import get_current_worker

from loraforge.tui.steps.base import Step
from loraforge.tui.widgets.field_row import FieldRow
from loraforge.tui.widgets.panel import Panel

PREVIEW_SAMPLES = 3
SETTLE_SECONDS = 0.3
"""How long the data fields must stay unchanged before the preview starts again."""


class Superseded(Exception):
    """The preview being made is no longer the recipe's: it stops at the next progress report."""


class DataStep(Step):
    NAME = "data"
    TITLE = "Data"
    INTRO = ("The rows to train on and how each becomes a sample. Paths are relative to the "
             "recipe's folder. The preview shows exactly what the model is trained on.")
    FIELDS = (("data", "path"), ("data", "split"), ("data", "formatter"), ("data", "max_length"),
              ("data", "packing"), ("data", "on_bad_rows"), ("data", "on_long_rows"))
    PLACEHOLDERS = {("data", "path"): "data/reviews.jsonl, a folder, or a hub id"}
    MORE = (("data", "eval_fraction"), ("data", "eval_split"), ("data", "train_on_prompt"),
            ("data", "max_samples"), ("data", "shuffle"), ("data", "seed"), ("data", "name"),
            ("data", "revision"))

    samples: int | None = None
    _pending: Timer | None = None
    previews_running = 0
    """How many preview threads are reading the data now (one, but for a moment after a change)."""
    """How many samples the data made, at the last preview (the Training step counts steps)."""

    def compose_panels(self) -> ComposeResult:
        yield Static("", id="data-progress", classes="panel-note")
        yield Panel(id="data-preview")

    def draft_changed(self) -> None:
        if not self.visited:
            return
        recipe = self.draft.recipe_for("model", "data")
        if recipe is None or self.problems():
            self.query_one("#data-preview", Static).update(
                "The preview appears once the Model step and the data fields above have no "
                "problems.")
            return
        self.query_one("#data-progress", Static).update("reading the data…")
        if self._pending is not None:
            self._pending.stop()
        # typing a template changes the recipe at every key: preview what it says once it settles
        self._pending = self.set_timer(SETTLE_SECONDS, lambda: self.preview(recipe))

    @work(thread=True, exclusive=True, group="preview")
    def preview(self, recipe: Any) -> None:
        from rich.console import Group

        from loraforge.tui import facts

        self.previews_running += 1
        try:
            shown, samples = facts.data_preview(recipe, self.plugins, PREVIEW_SAMPLES,
                                                progress=self._progress)
        except Superseded:
            return  # a newer preview is on its way
        except Exception as exc:  # a LoraforgeError says what is wrong; anything else too
            self.app.call_from_thread(self._show, None, facts.problem_text(exc))
            self.app.call_from_thread(self._show_beside_field, exc)
            return
        finally:
            self.previews_running -= 1
        self.samples = samples
        self.app.call_from_thread(self._show, Group(*shown), "")

    def _progress(self, done: int, total: int) -> None:
        if get_current_worker().is_cancelled:
            raise Superseded  # the recipe changed since: stop tokenizing a file no one will see
        self.app.call_from_thread(self.query_one("#data-progress", Static).update,
                                  f"tokenizing {done:,} of {total:,} rows…")

    def _show_beside_field(self, exc: Exception) -> None:
        """A reading problem that names a field of this step (no such data.path) is shown
        beside it too: on a small terminal the preview is below the fold, out of sight."""
        where = getattr(exc, "where", None)
        for row in self.query(FieldRow):
            if row.field_id == where:
                row.show_problem(exc.message)

    def _show(self, renderable: Any, note: str) -> None:
        self.query_one("#data-progress", Static).update(note)
        self.query_one("#data-preview", Static).update(renderable or "")

"""What each step of the wizard looks like, at the smallest terminal it is made for and a large one.

The recipe is the quickstart's shape on the tiny model, opened from a
relative path in a folder of its own, so the pictures hold no machine's
paths. Update them after a deliberate change of layout with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the
report it writes before committing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from loraforge.testing import builtin_plugins
from loraforge.tui.app import STEPS, Wizard
from loraforge.tui.draft import Draft
from loraforge.tui.pilot import EXAMPLE_RECIPE, settle
from loraforge.tui.widgets.step_list import StepList


@pytest.fixture
def recipe(folder):
    (folder / "recipe.toml").write_text(EXAMPLE_RECIPE)
    return Path("recipe.toml")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("step", [step.NAME for step in STEPS])
def test_each_step_at_each_size(snap_compare, recipe, step, size):
    app = Wizard(Draft.open(recipe), builtin_plugins())

    async def show_step(pilot) -> None:
        app.show(step)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=show_step)


def test_without_colour_the_marks_still_say_what_is_wrong(snap_compare, recipe, monkeypatch):
    recipe.write_text(EXAMPLE_RECIPE + "\n[train]\nlearning_rate = -1.0\n")
    monkeypatch.setenv("NO_COLOR", "1")
    app = Wizard(Draft.open(recipe), builtin_plugins())
    assert app.no_color  # Textual's own reading of NO_COLOR: every colour drawn in grey

    async def visit_training_then_review(pilot) -> None:
        app.show("training")
        await settle(pilot)
        app.show("review")
        await settle(pilot)
        marks = app.query_one(StepList).marks
        assert "✗ Training" in marks  # the sidebar's mark, not a colour, says where
        assert str(app.query_one("#review-summary", Static).content).startswith(
            "✗ 1 problem to fix")

    assert snap_compare(app, terminal_size=(80, 24), run_before=visit_training_then_review)

"""The steps' live facts, a problem fixed from the Review step, and a third-party plugin's form."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from textual.widgets import Input, ListView, Static

from loraforge.cli import main
from loraforge.components import TrainingCallback
from loraforge.hookspecs import hookimpl
from loraforge.recipe import load_recipe
from loraforge.testing import builtin_plugins, registered
from loraforge.tui.app import Wizard
from loraforge.tui.draft import Draft
from loraforge.tui.pilot import EXAMPLE_RECIPE, settle
from loraforge.tui.widgets.field_row import FieldRow
from loraforge.tui.widgets.step_list import StepList

ROOT = Path(__file__).resolve().parents[2]
REVIEWS = ROOT / "recipes" / "data" / "reviews.jsonl"


def text_of(app, selector: str) -> str:
    """What a panel shows, as plain text (rich renderables included)."""
    from rich.console import Console

    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


def row(app, field: str) -> FieldRow:
    return next(r for r in app.query(FieldRow) if r.field_id == field)


def example_wizard(folder: Path, more: str = "") -> Wizard:
    """The wizard on the pictures' recipe (and ``more`` TOML after it), saved in ``folder``."""
    path = folder / "recipe.toml"
    path.write_text(EXAMPLE_RECIPE + more)
    return Wizard(Draft.open(path), builtin_plugins())


async def test_the_trainable_count_comes_before_the_data_and_follows_the_rank(folder):
    path = folder / "recipe.toml"
    path.write_text('[model]\nloader = "tiny-llama"\n')  # no data path yet: a problem
    app = Wizard(Draft.open(path), builtin_plugins())
    async with app.run_test(size=(100, 40)) as pilot:
        assert app.draft.problems_at("data")
        app.show("lora")
        await settle(pilot)
        count = text_of(app, "#lora-count")
        assert count.startswith("8,192 trainable parameters of 860,800")
        assert "model.layers.0-1.self_attn.q_proj" in count
        assert "model.layers.0-1.self_attn.v_proj" in count
        row(app, "lora.r").query_one(Input).focus()
        await pilot.press("1", "6")
        await settle(pilot)
        assert text_of(app, "#lora-count").startswith("16,384 trainable parameters")
        await pilot.press("backspace", "backspace", "0")  # r = 0 is refused beside the field
        await settle(pilot)
        assert "r" in str(row(app, "lora.r").query_one(".field-problem", Static).render())
        assert "appears once" in text_of(app, "#lora-count")


async def test_a_problem_listed_at_review_is_fixed_from_its_field(folder):
    path = folder / "recipe.toml"
    path.write_text('[model]\nloader = "tiny-llama"\n\n[data]\npath = "reviews.jsonl"\n\n'
                    '[train]\nlearning_rate = -1.0\n')
    app = Wizard(Draft.open(path), builtin_plugins())
    async with app.run_test(size=(80, 24)) as pilot:
        app.show("review")
        await settle(pilot)
        problems = app.query_one("#review-problems", ListView)
        assert [item.name for item in problems.children] == ["train.learning_rate"]
        problems.focus()
        await pilot.press("enter")  # go to the field the problem names
        await settle(pilot)
        assert app.current == "training"
        field = row(app, "train.learning_rate").query_one(Input)
        assert app.focused is field
        await pilot.press("ctrl+a", "ctrl+k", *"0.0003")
        await settle(pilot)
        assert app.draft.problems == []
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert load_recipe(path).train.learning_rate == pytest.approx(3e-4)
    assert path.read_text().endswith("[train]\nlearning_rate = 0.0003\n")  # that line alone
    assert main(["validate", str(path)]) == 0


class Ping(TrainingCallback):
    """A throwaway callback with an option of its own."""

    name = "ping"
    description = "Say ping every few steps."

    class Options(BaseModel):
        every: int = Field(5, ge=1, title="Ping every", description="Steps between pings.")


class PingPlugin:
    @hookimpl
    def register_callbacks(self, register):
        register(Ping)


@pytest.fixture
def shout(monkeypatch):
    """The example plugin's module, importable as if it were installed."""
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "loraforge-shout"))
    import loraforge_shout

    yield loraforge_shout
    for name in [n for n in sys.modules if n.startswith("loraforge_shout")]:
        del sys.modules[name]


async def test_third_party_components_bring_their_forms(folder, shout):
    path = folder / "recipe.toml"
    path.write_text('[model]\nloader = "tiny-llama"\n\n[data]\npath = "reviews.jsonl"\n')
    plugins = builtin_plugins()
    with registered(plugins, shout, "shout"), registered(plugins, PingPlugin(), "ping"):
        app = Wizard(Draft.open(path), plugins)
        async with app.run_test(size=(100, 40)) as pilot:
            app.show("data")
            await settle(pilot)
            formatter = app.query_one("#field-data-formatter")
            formatter.focus_control()
            await pilot.press("enter", *"shout", "enter")
            await settle(pilot)
            marks = row(app, "data.formatter.marks")
            assert "exclamation marks" in marks.spec.help
            marks.query_one(Input).focus()
            await pilot.press("5")
            await settle(pilot)
            assert "0 to 3 exclamation marks" in str(
                marks.query_one(".field-problem", Static).render())
            await pilot.press("backspace", "2")
            await settle(pilot)
            assert app.draft.problems == [], app.draft.problems
            assert "A REAL TREAT FROM START TO FINISH!!</s>" in text_of(app, "#data-preview")
            app.show("training")
            await settle(pilot)
            callbacks = app.query_one("#field-train-callbacks")
            listed = [str(o.prompt) for o in callbacks.query_one("SelectionList")._options]
            assert any("ping" in option for option in listed)
            app.draft.set(("train", "callbacks"), ["console", {"name": "ping", "every": 3}])
            app.recipe_changed()
            await settle(pilot)
            assert app.draft.problems == []
            await pilot.press("ctrl+s")
            await settle(pilot)
    saved = load_recipe(path)
    assert saved.data.formatter.name == "shout" and saved.data.formatter.options == {"marks": 2}
    assert [c.name for c in saved.train.callbacks] == ["console", "ping"]


async def test_the_fit_step_says_a_7b_recipe_does_not_fit_and_a_key_applies_a_fix(tmp_path,
                                                                                  monkeypatch):
    import shutil

    model = tmp_path / "Llama-2-7b-hf"
    model.mkdir()
    shutil.copy(ROOT / "benchmarks" / "configs" / "llama-2-7b.json", model / "config.json")
    (tmp_path / "reviews.jsonl").write_text(REVIEWS.read_text())
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "recipe.toml"
    path.write_text('[model]\npath = "Llama-2-7b-hf"\n\n[data]\npath = "reviews.jsonl"\n\n'
                    '[train]\nbatch_size = 8\n')
    app = Wizard(Draft.open(path), builtin_plugins())
    async with app.run_test(size=(100, 40)) as pilot:
        app.show("fit")
        await settle(pilot)
        gpu = app.query_one("#fit-gpu")
        gpu.value = "RTX 3060"
        await settle(pilot)
        report = text_of(app, "#fit-report")
        assert "✗ does not fit the RTX 3060" in report
        assert "  1: " in report
        first_fix = app.step("fit").fixes[0]
        await pilot.press("1")
        await settle(pilot)
        for (section, key), value in first_fix[1].items():
            assert app.draft.get((section, key)) == value
        assert "✓ fits the RTX 3060" in text_of(app, "#fit-report")


async def test_a_large_file_is_previewed_in_the_background_and_a_change_stops_the_old_preview(
        folder):
    import json
    import time

    from textual.worker import WorkerState

    rows = [json.loads(line) for line in REVIEWS.read_text().splitlines()]
    with open(folder / "big.jsonl", "w") as out:
        for number in range(60_000):
            out.write(json.dumps(rows[number % len(rows)]) + "\n")
    path = folder / "recipe.toml"
    path.write_text('[model]\nloader = "tiny-llama"\n\n[data]\npath = "big.jsonl"\n')
    app = Wizard(Draft.open(path), builtin_plugins())
    async with app.run_test(size=(100, 40)) as pilot:
        app.show("data")
        for _ in range(600):  # until tokenizing has begun
            await pilot.pause(0.05)
            if "tokenizing" in text_of(app, "#data-progress"):
                break
        assert "tokenizing" in text_of(app, "#data-progress")
        first = next(w for w in app.workers if w.group == "preview")
        await pilot.press("ctrl+n")  # the screen answers while the file is tokenized
        assert app.current == "training"
        app.draft.set(("data", "max_samples"), 100)
        app.recipe_changed()
        app.show("data")
        step = app.step("data")
        began = time.monotonic()
        while (step.previews_running > 1 or first.is_running) and time.monotonic() - began < 60:
            await pilot.pause(0.02)  # until the old thread stops (the new one may still run)
        stopped_after = time.monotonic() - began
        await settle(pilot)
        assert first.state is WorkerState.CANCELLED
        # it stopped at its next progress report, not after tokenizing all 60,000 rows
        assert stopped_after < 3.0, stopped_after
        assert "100 samples" in text_of(app, "#data-preview")


async def test_a_model_step_left_empty_has_its_problem_while_the_data_is_missing_too(folder):
    app = Wizard(Draft.new(folder / "recipe.toml"), builtin_plugins())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n")  # past the Model step without choosing a model
        await settle(pilot)
        marks = app.query_one(StepList).marks
        assert "✗ Model" in marks
        assert any("neither a checkpoint nor a loader" in message
                   for _, message in app.draft.problems_at("model"))
        app.draft.set(("model", "loader"), "tiny-llama")
        app.recipe_changed()
        await settle(pilot)
        assert app.draft.problems_at("model") == [] and app.draft.problems_at("data")


async def test_the_help_line_follows_the_focus_into_every_kind_of_field(folder):
    app = example_wizard(folder)
    async with app.run_test(size=(100, 40)) as pilot:
        app.show("data")
        await settle(pilot)

        def help_line() -> str:
            return text_of(app, "#help").strip()

        row(app, "data.path").query_one(Input).focus()
        await pilot.pause()
        assert help_line().startswith("Data path: ")
        await pilot.press("tab", "tab")  # the split, then the formatter's select
        await pilot.pause()
        assert help_line().startswith("Formatter: ")
        await pilot.press("tab")  # the formatter's own first option
        await pilot.pause()
        assert help_line().startswith("Template: ")
        app.show("training")
        await settle(pilot)
        app.query_one("#field-train-callbacks").focus_control()
        await pilot.pause()
        assert help_line().startswith("Callbacks: ")


async def test_a_field_with_a_problem_still_shows_what_was_typed(folder):
    app = example_wizard(folder, "\n[train]\nlearning_rate = -1.0\n")
    async with app.run_test(size=(80, 24)) as pilot:
        app.show("training")
        await settle(pilot)
        field = row(app, "train.learning_rate")
        assert field.has_class("has-problem")
        typed = field.query_one(Input)
        assert typed.value == "-1"
        assert typed.content_region.height == 1  # the line it is typed on is not drawn over


async def test_keys_typed_at_once_after_tab_go_to_the_next_field(folder):
    """Over a slow SSH link, tab and the text after it arrive together, in one read."""
    from textual import events

    app = example_wizard(folder)
    async with app.run_test(size=(100, 40)) as pilot:
        app.show("data")
        await settle(pilot)
        row(app, "data.path").query_one(Input).focus()
        await pilot.pause()
        for key, character in [("tab", "\t"), ("v", "v"), ("a", "a"), ("l", "l")]:
            app.post_message(events.Key(key, character))  # as the terminal's driver does
        await settle(pilot)
        assert row(app, "data.path").query_one(Input).value == "reviews.jsonl"
        assert row(app, "data.split").query_one(Input).value == "val"


async def test_a_data_path_that_is_not_there_is_told_beside_the_field(folder):
    (folder / "reviews.jsonl").unlink()  # the recipe names it, and it is gone
    app = example_wizard(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show("data")
        await settle(pilot)
        field = row(app, "data.path")
        problem = str(field.query_one(".field-problem", Static).render())
        assert "no such file or folder" in problem and "reviews.jsonl" in problem
        assert field.has_class("has-problem")

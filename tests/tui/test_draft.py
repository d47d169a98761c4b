"""The wizard's draft of a recipe: values in and out, problems by field, saving without damage."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from loraforge.recipe import load_recipe
from loraforge.testing import builtin_plugins
from loraforge.tui.draft import Draft

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))


def copied(recipe: Path, tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    return tmp_path / "recipes" / recipe.name


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_editing_a_recipe_without_a_change_saves_it_byte_for_byte(recipe, tmp_path):
    path = copied(recipe, tmp_path)
    before, loaded = path.read_text(), load_recipe(path)
    draft = Draft.open(path)
    assert draft.validate(builtin_plugins(("llama", "baichuan", "targets", "formatters",
                                           "callbacks")))
    draft.save()
    assert path.read_text() == before
    assert load_recipe(path) == loaded


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_editing_one_value_changes_exactly_its_line(recipe, tmp_path):
    path = copied(recipe, tmp_path)
    before = path.read_text().splitlines()
    draft = Draft.open(path)
    draft.set(("lora", "r"), 32)
    assert draft.validate()
    draft.save()
    after = path.read_text().splitlines()
    changed = [line for line in difflib.unified_diff(before, after, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    old = [line for line in before if line.startswith("r = ")]
    assert changed == [f"-{old[0]}", "+r = 32"] if old else changed == ["+r = 32"]
    assert load_recipe(path).lora.r == 32


def test_an_option_for_a_component_named_by_a_string_becomes_an_inline_table(tmp_path):
    path = copied(ROOT / "recipes" / "tiny-chat.toml", tmp_path)
    draft = Draft.open(path)
    assert draft.component_name(("data", "formatter")) == "chat"
    draft.set(("data", "formatter", "template"), "llama-2")
    assert draft.validate()
    draft.save()
    assert 'formatter = {name = "chat", template = "llama-2"}' in path.read_text()
    assert load_recipe(path).data.formatter.options == {"template": "llama-2"}


def test_choosing_another_component_drops_the_old_ones_options(tmp_path):
    draft = Draft.new(tmp_path / "recipe.toml")
    draft.set(("data", "formatter"), {"name": "template", "template": "{text}"})
    draft.set_component(("data", "formatter"), "template")  # the same: options kept
    assert draft.get(("data", "formatter", "template")) == "{text}"
    draft.set_component(("data", "formatter"), "alpaca")
    assert draft.get(("data", "formatter")) == "alpaca"


def test_problems_are_kept_by_field_and_found_by_prefix(tmp_path):
    draft = Draft.new(tmp_path / "recipe.toml")
    draft.set(("train", "epochs"), -1)
    draft.set(("data", "formatter"), {"name": "template"})
    assert not draft.validate(builtin_plugins())
    fields = dict(draft.problems)
    assert fields["data.path"] == "required, but missing"
    assert fields["train.epochs"] == "Input should be greater than 0"
    draft.set(("data", "path"), "rows.jsonl")
    draft.set(("train", "epochs"), 2)
    assert not draft.validate(builtin_plugins())  # the component's own options are checked too
    assert draft.problems_at("data.formatter") == [
        ("data.formatter.template", "required, but missing")]


def test_a_new_recipe_is_saved_as_a_person_would_write_it(tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"text": "a"}\n')
    draft = Draft.new(tmp_path / "recipe.toml")
    draft.set(("model", "loader"), "tiny-llama")
    draft.set(("data", "path"), "rows.jsonl")
    draft.set(("train", "epochs"), 3)
    assert draft.validate(builtin_plugins())
    text = draft.save().read_text()
    assert text.startswith("# LoRA r=8 on the 'auto' targets of tiny-llama")
    assert text.endswith('[model]\nloader = "tiny-llama"\n\n[data]\npath = "rows.jsonl"\n\n'
                         '[train]\nepochs = 3\n')
    assert load_recipe(tmp_path / "recipe.toml").train.epochs == 3

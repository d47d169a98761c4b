"""Recipes built or changed in code, saved as a person would write them, and read back equal."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from loraforge.cli import main
from loraforge.errors import RecipeError
from loraforge.recipe import Recipe, load_recipe, recipe_from_dict

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_saved_elsewhere_loads_equal_with_its_paths_kept(path, tmp_path):
    recipe = load_recipe(path)
    saved = recipe.save(tmp_path / "elsewhere" / "copy.toml")
    again = load_recipe(saved)
    assert again == recipe
    # the input paths point at the same files from the new folder
    for value, original in ((again.data.path, recipe.data.path),):
        assert again.input_path(value).resolve() == recipe.input_path(original).resolve()


def test_a_recipe_built_in_code_saves_only_what_differs_from_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "reviews.jsonl").write_text('{"text": "a"}\n')
    recipe = recipe_from_dict({"model": {"loader": "tiny-llama"},
                               "data": {"path": "data/reviews.jsonl"}})
    recipe.lora.r = 16
    recipe.train.callbacks = ["console"]
    path = recipe.save(tmp_path / "recipes" / "mine.toml")
    text = path.read_text()
    assert tomllib.loads(text) == {
        "model": {"loader": "tiny-llama"},
        "lora": {"r": 16},
        "data": {"path": "../data/reviews.jsonl"},
        "train": {"callbacks": ["console"]},
    }
    header = text.split("\n\n[")[0]
    assert all(line.startswith("#") for line in header.splitlines())
    assert "LoRA r=16" in header and "data/reviews.jsonl" in header and "tiny-llama" in header
    assert "Run it:   loraforge run recipes/mine.toml" in header
    assert load_recipe(path) == recipe
    assert not list(path.parent.glob(".*partial"))


def test_components_keep_their_short_form_and_their_options(tmp_path):
    recipe = recipe_from_dict({
        "model": {"loader": {"name": "tiny-llama", "layers": 3}},
        "lora": {"targets": ["q_proj", "k_proj"]},
        "data": {"path": str(tmp_path / "d.jsonl"),
                 "formatter": {"name": "template", "template": "Q: {q} A: {a}"}},
    })
    saved = tomllib.loads(recipe.to_toml(minimal=True))
    assert saved["model"]["loader"] == {"name": "tiny-llama", "layers": 3}
    assert saved["lora"]["targets"] == ["q_proj", "k_proj"]
    assert saved["data"]["formatter"] == {"name": "template", "template": "Q: {q} A: {a}"}
    assert recipe_from_dict(saved) == recipe


def test_the_saved_recipe_is_valid_as_it_is(tmp_path, capsys):
    recipe = load_recipe(ROOT / "recipes" / "quickstart.toml")
    recipe.train.epochs = 2
    path = recipe.save(tmp_path / "quick.toml")
    assert main(["validate", str(path)]) == 0
    assert "is valid" in " ".join(capsys.readouterr().out.split())


def test_a_hub_id_is_left_as_it_is_when_saved_elsewhere(tmp_path):
    recipe = recipe_from_dict({"model": {"path": "meta-llama/Llama-2-7b-hf"},
                               "data": {"path": "tatsu-lab/alpaca"}})
    saved = tomllib.loads(recipe.to_toml(minimal=True, folder=tmp_path / "deep" / "folder"))
    assert saved["model"]["path"] == "meta-llama/Llama-2-7b-hf"
    assert saved["data"]["path"] == "tatsu-lab/alpaca"


def test_recipes_differing_in_a_setting_are_not_equal(tmp_path):
    base = {"model": {"loader": "tiny-llama"}, "data": {"path": "x.jsonl"}}
    assert recipe_from_dict(base) == recipe_from_dict(base)
    assert recipe_from_dict(base) != recipe_from_dict({**base, "lora": {"r": 4}})


@pytest.mark.parametrize("section, field, value", [
    ("data", "eval_fraction", 0.1),       # refused with eval_split set: a check across fields
    ("train", "batch_size", -1),          # refused by the field's own bounds
    ("output", "resume", "auto"),         # refused with overwrite = true
    ("train", "epochs", float("inf")),
])
def test_a_failed_assignment_leaves_the_recipe_as_it_was(section, field, value):
    recipe = recipe_from_dict({"model": {}, "data": {"path": "x.jsonl", "eval_split": "dev"},
                               "output": {"overwrite": True}})
    before = recipe.model_dump()
    with pytest.raises(ValidationError):
        setattr(getattr(recipe, section), field, value)
    assert recipe.model_dump() == before


def test_validation_problems_come_as_field_and_message_pairs():
    with pytest.raises(RecipeError) as error:
        recipe_from_dict({"model": {}, "data": {"path": "x.jsonl", "max_length": 0},
                          "train": {"epochs": -1, "batch_sise": 2}})
    assert error.value.fields == [
        ("data.max_length", "Input should be greater than 1"),
        ("train.epochs", "Input should be greater than 0"),
        ("train.batch_sise", "unknown key; did you mean 'batch_size'?"),
    ]
    # the command line's lines are the same problems
    assert error.value.problems == [f"{f}: {m}" for f, m in error.value.fields]


def test_a_recipe_equals_itself_after_a_round_trip_through_its_full_form(tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "tiny-chat.toml")
    path = tmp_path / "full.toml"
    path.write_text(recipe.to_toml(folder=tmp_path))
    assert load_recipe(path) == recipe
    assert isinstance(load_recipe(path), Recipe)

"""Every value a user can type is refused by validation when it cannot work, naming the field."""

from __future__ import annotations

import pytest

from loraforge.cli import main
from loraforge.errors import RecipeError
from loraforge.recipe import load_recipe, parse_override

RECIPE = """
[model]
loader = "tiny-llama"

[data]
path = "data.jsonl"
"""


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_text(RECIPE)
    return path


@pytest.mark.parametrize("override, field", [
    ("train.learning_rate=1e6", "train.learning_rate"),
    ("train.learning_rate=inf", "train.learning_rate"),
    ("train.learning_rate=nan", "train.learning_rate"),
    ("lora.alpha=inf", "lora.alpha"),
    ("lora.alpha=1e308", "lora.alpha"),
    ("train.weight_decay=inf", "train.weight_decay"),
    ("data.seed=-5", "data.seed"),
    ("train.seed=-1", "train.seed"),
    ("train.seed=1e20", "train.seed"),
    ("train.seed=4294967296", "train.seed"),
    ("lora.r=1000000000000", "lora.r"),
    ("lora.r=100000000000000000000000000", "lora.r"),
    ("train.epochs=inf", "train.epochs"),
    ("train.batch_size=10000000000000000000", "train.batch_size"),
    ("train.batch_size=true", "train.batch_size"),
    ("train.grad_accum=2.5", "train.grad_accum"),
    ("model.trust_remote_code=yes", "model.trust_remote_code"),
    ("model.trust_remote_code=1", "model.trust_remote_code"),
    ('model.trust_remote_code="true"', "model.trust_remote_code"),
    ("data.packing=1", "data.packing"),
    ("data.max_length=10000000000", "data.max_length"),
    ('output.dir=""', "output.dir"),
    ("data.eval_fraction=1", "data.eval_fraction"),
])
def test_a_value_that_cannot_work_is_refused_naming_its_field(recipe, override, field):
    with pytest.raises(RecipeError) as error:
        load_recipe(recipe, [override])
    assert [f for f, _ in error.value.fields] == [field], error.value.problems


def test_seeds_at_their_bounds_are_accepted(recipe):
    loaded = load_recipe(recipe, ["train.seed=0", "data.seed=4294967295", "train.epochs=3"])
    assert (loaded.train.seed, loaded.data.seed, loaded.train.epochs) == (0, 4294967295, 3.0)


def test_text_after_a_line_break_in_a_set_value_is_refused_not_dropped():
    with pytest.raises(RecipeError, match="line break"):
        parse_override("train.epochs=2\ntrain.seed=7")


def test_a_recipe_nested_thousands_deep_is_a_recipe_error(tmp_path, capsys):
    path = tmp_path / "deep.toml"
    path.write_text(RECIPE + "[train]\ncallbacks = " + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "nested too deeply" in err and "Traceback" not in err


def test_a_byte_order_mark_at_the_start_of_a_recipe_is_read_past(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + RECIPE.encode())
    assert load_recipe(path).data.path == "data.jsonl"

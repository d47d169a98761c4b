"""The recipe schema: TOML in, one validated model out, every problem at once."""

from __future__ import annotations

import pytest

from loraforge.errors import RecipeError
from loraforge.recipe import ComponentRef, load_recipe, recipe_from_dict

MINIMAL = """
[model]
path = "models/tiny"

[data]
path = "data.jsonl"
"""


def write(tmp_path, text, name="recipe.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_recipe_gets_defaults(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert recipe.lora.r == 8
    assert recipe.lora.targets == ComponentRef(name="auto")
    assert recipe.data.formatter.name == "text"
    assert [c.name for c in recipe.train.callbacks] == ["console", "metrics"]
    assert recipe.model.quantization == "none"
    assert recipe.model.trust_remote_code is False


def test_component_table_carries_options(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL + """
[data.formatter]
name = "template"
template = "Review: {text} Label: {label}"
"""))
    assert recipe.data.formatter.name == "template"
    assert recipe.data.formatter.options == {"template": "Review: {text} Label: {label}"}


def test_target_list_becomes_modules_selector(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL.replace(
        "[data]", '[lora]\ntargets = ["q_proj", "k_proj"]\n\n[data]')))
    assert recipe.lora.targets.name == "modules"
    assert recipe.lora.targets.options == {"names": ["q_proj", "k_proj"]}


def test_input_paths_are_relative_to_the_recipe(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert recipe.input_path(recipe.data.path) == tmp_path / "data.jsonl"


def test_missing_file_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="no such file"):
        load_recipe(tmp_path / "absent.toml")


def test_toml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "[model]\npath = \n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert "line 2" in str(info.value)
    assert info.value.where == str(path)


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, MINIMAL + """
[lora]
r = "eight"
rank = 4

[trian]
epochs = 1
""")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    problems = info.value.problems
    assert any(p.startswith("lora.r:") for p in problems), problems
    assert any(p.startswith("lora.rank: unknown key") for p in problems), problems
    assert "trian: unknown key; did you mean 'train'?" in problems
    assert "lora.rank: unknown key; did you mean 'r'?" not in problems  # too far to guess
    assert info.value.where == str(path)


def test_missing_required_section():
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({"model": {"path": "x"}})
    assert info.value.problems == ["data: required, but missing"]


def test_a_component_given_as_neither_a_name_nor_a_table_says_what_it_takes():
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({"model": {"path": "m", "loader": 3}, "lora": {"targets": 3},
                          "data": {"path": "d.jsonl", "formatter": ["template"]},
                          "train": {"callbacks": ["metrics", 7]}})
    def component(example):
        return f'name a component: a string such as "{example}", or a table such as ' \
               f'{{name = "{example}", ...}}'

    assert info.value.problems == [
        f"model.loader: {component('llama')} (got 3)",
        f'lora.targets: {component("qv")}, or a list of module names such as ["q_proj", '
        '"v_proj"] (got 3)',
        f"data.formatter: {component('template')} (got ['template'])",
        f"train.callbacks.1: {component('metrics')} (got 7)",
    ]


def test_discriminated_choice_rejects_unknown_value(tmp_path):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, MINIMAL.replace('path = "models/tiny"',
                                                    'path = "m"\nquantization = "3bit"')))
    assert info.value.problems[0].startswith("model.quantization:")
    assert "'8bit'" in info.value.problems[0]


def test_overrides_are_typed_and_reach_component_options(tmp_path):
    path = write(tmp_path, MINIMAL)
    recipe = load_recipe(path, [
        "train.learning_rate=1e-4",
        "lora.r=16",
        "data.formatter.template=Q: {q}",
        "output.dir=runs/x",
    ])
    assert recipe.train.learning_rate == 1e-4
    assert recipe.lora.r == 16
    assert recipe.data.formatter.name == "text"
    assert recipe.data.formatter.options == {"template": "Q: {q}"}
    assert recipe.output.dir == "runs/x"


def test_bad_override_is_reported(tmp_path):
    with pytest.raises(RecipeError, match="section.field=value"):
        load_recipe(write(tmp_path, MINIMAL), ["train.learning_rate"])
    with pytest.raises(RecipeError, match="train.epochs"):
        load_recipe(write(tmp_path, MINIMAL), ["train.epochs=-1"])


def test_resolved_recipe_round_trips_through_toml(tmp_path):
    recipe = load_recipe(write(tmp_path, MINIMAL + """
[data.formatter]
name = "template"
template = "{a} {b}"
"""), ["lora.targets=[\"q_proj\"]"])
    again = load_recipe(write(tmp_path, recipe.to_toml(), "resolved.toml"))
    assert again.model_dump() == recipe.model_dump()

"""The shout plugin, tested offline with loraforge's pytest fixtures."""

import pytest

import loraforge_shout
from loraforge.errors import RecipeError


def test_the_installed_plugin_provides_a_formatter_and_a_callback(register_plugin):
    plugins = register_plugin("shout")  # the entry point, loaded as `loraforge` loads it
    assert plugins.hooks_of("shout") == ["register_callbacks", "register_dataset_formatters"]
    assert plugins.registry.get("formatter", "shout").plugin == "shout"
    assert plugins.registry.get("callback", "shout-log").plugin == "shout"


def test_shout_formats_a_row_in_capitals(register_plugin):
    plugins = register_plugin(loraforge_shout, "shout")
    shout = plugins.registry.create(
        "formatter", "shout", {"column": "review", "marks": 2}, where="data.formatter"
    )
    assert shout.columns() == {"review"}
    assert shout.format({"review": "A fine film."}).text == "A FINE FILM!!"


def test_too_many_marks_are_refused_with_the_plugins_message(register_plugin, validate_recipe):
    register_plugin(loraforge_shout, "shout")
    with pytest.raises(RecipeError) as error:
        validate_recipe({"data": {"formatter": {"name": "shout", "marks": 5}}})
    assert error.value.problems == [
        "data.formatter.marks: a shout ends with 0 to 3 exclamation marks, not 5"
    ]


def test_a_tiny_run_shouts_its_data_and_its_loss(register_plugin, run_recipe):
    register_plugin(loraforge_shout, "shout")
    result = run_recipe({"data": {"formatter": "shout"}, "train": {"callbacks": ["shout-log"]}})
    assert result.global_step == 2
    shouts = (result.output_dir / "shouts.txt").read_text().splitlines()
    assert shouts[0] == "TRAINING FOR 2 STEPS!"
    assert [line.split(":")[0] for line in shouts[1:-1]] == ["STEP 1", "STEP 2"]
    assert shouts[-1] == "DONE!"

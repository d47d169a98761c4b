"""Every shipped recipe is valid, opens with its comment, and binds to installed components."""

from __future__ import annotations

from pathlib import Path

import pytest

from loraforge.plan import bind, check_data
from loraforge.plugins import Plugins
from loraforge.recipe import load_recipe

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))


@pytest.fixture(scope="module")
def plugins():
    plugins = Plugins()
    plugins.load_entry_points()
    return plugins


def test_there_are_recipes():
    assert {"quickstart.toml"} <= {p.name for p in RECIPES}


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_recipe_opens_with_what_it_does_and_how_to_run_it(path):
    head = path.read_text().split("\n\n", 1)[0]
    assert head.startswith("# ")
    assert f"loraforge run recipes/{path.name}" in path.read_text()


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_recipe_binds_every_component(path, plugins):
    plan = bind(load_recipe(path), plugins)
    data = plan.recipe.input_path(plan.recipe.data.path)
    if data.is_relative_to(path.parent / "data") or data.exists():
        check_data(plan)  # shipped data: its columns fit the formatter

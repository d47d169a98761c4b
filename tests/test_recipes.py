"""Every shipped recipe is valid, opens with its comment, and binds to installed components."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loraforge.engine.inputs import check_data
from loraforge.plan import bind
from loraforge.plugins import Plugins
from loraforge.recipe import load_recipe

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
RECIPES = sorted(RECIPES_DIR.glob("*.toml"))


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


def test_the_quickstart_runs_end_to_end_from_the_command_line(tmp_path):
    """The README's main job, shortened: a real `loraforge run` process on the shipped recipe."""
    out = tmp_path / "quickstart"
    result = subprocess.run(
        [sys.executable, "-m", "loraforge", "run", str(RECIPES_DIR / "quickstart.toml"),
         "--set", f'output.dir="{out}"', "--set", "train.max_steps=30"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert f"adapter saved in {out}" in " ".join(result.stdout.split())
    for name in ("adapter_model.safetensors", "adapter_config.json", "recipe.toml", "run.json"):
        assert (out / name).is_file(), name
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in events if e.get("event") == "log" and "loss" in e]
    assert len(losses) >= 5 and losses[-1] < losses[0]
    # the recipe ends by setting the base beside the adapter on the held-out reviews
    shown = " ".join(result.stdout.split())
    assert "60 held-out samples of" in shown and "right answers" in shown
    assert "base" in shown and "adapter" in shown and "greedy answers" in shown
    assert (out / "loss.png").is_file()


SEVEN_B = {"llama-7b-imdb-8bit.toml": "llama-2-7b.json",
           "baichuan-7b-imdb-8bit.toml": "baichuan-7b.json"}


@pytest.mark.slow
@pytest.mark.parametrize("name, config", SEVEN_B.items())
def test_each_7b_recipe_states_the_estimate_for_a_12_gb_card(name, config, tmp_path, plugins):
    import re
    import shutil

    from loraforge.estimate import estimate, find_gpu

    text = (RECIPES_DIR / name).read_text()
    stated = re.search(r"# Memory: about ([\d.]+) GiB .*\n# .*fits a 12 GB RTX 3060", text)
    assert stated, f"{name} does not state its estimate for a 12 GB card"
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(RECIPES_DIR.parent / "benchmarks" / "configs" / config, folder / "config.json")
    recipe = load_recipe(RECIPES_DIR / name, [f'model.path="{folder}"'])
    total = estimate(recipe, plugins=plugins).total
    assert round(total / 2**30, 1) == float(stated.group(1))
    assert total <= find_gpu("RTX 3060").bytes

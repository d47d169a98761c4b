"""``[train] report_to``: the Trainer's logging integrations, checked before any model loads."""

from __future__ import annotations

import importlib.util

import pytest
from tiny_runs import plugins as tiny_plugins
from tiny_runs import recipe_file

from loraforge.cli import main
from loraforge.engine.run import run_recipe
from loraforge.errors import MissingPackageError, RecipeError
from loraforge.recipe import TrainSection, load_recipe


def test_tensorboard_gets_event_files_beside_the_adapter(tmp_path):
    path = recipe_file(tmp_path, "train.max_steps=3", 'train.report_to=["tensorboard"]')
    result = run_recipe(load_recipe(path), plugins=tiny_plugins())
    events = list((result.output_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    assert "train/loss" in accumulator.Tags()["scalars"]


def test_no_integration_by_default():
    from loraforge.engine.train import report_to

    assert report_to(TrainSection()) == "none"


def test_an_unknown_integration_is_refused_naming_the_known_ones():
    from loraforge.engine.train import report_to

    with pytest.raises(RecipeError) as error:
        report_to(TrainSection(report_to=["tensorbored"]))
    assert "train.report_to: no integration is named 'tensorbored'" in error.value.problems
    assert "tensorboard" in error.value.hint and "wandb" in error.value.hint


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed")
def test_a_missing_package_stops_the_run_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    path = recipe_file(tmp_path / "recipe", 'train.report_to=["wandb"]')
    assert main(["run", str(path), "--set", f'output.dir="{tmp_path / "out"}"']) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Missing package" in err and "train.report_to" in err and "pip install wandb" in err
    assert "loading model" not in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(MissingPackageError):
        from loraforge.engine.train import report_to

        report_to(TrainSection(report_to=["wandb"]))

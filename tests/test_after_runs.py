"""A trained run's folder as chat, generate, eval and merge read it, and the bad ones refused."""

from __future__ import annotations

import json
import shutil

import pytest
import tomli_w
from tiny_runs import REVIEWS, labelled_recipe, write_recipe
from tiny_runs import plugins as tiny_plugins

from loraforge.after.runs import open_run
from loraforge.cli import main
from loraforge.engine.run import run_recipe
from loraforge.errors import RunFolderError
from loraforge.recipe import load_recipe

pytestmark = pytest.mark.usefixtures("wide_terminal")


def error_of(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


def test_a_folder_that_is_no_run_is_refused(tmp_path, capsys):
    for argv in (["chat", str(tmp_path)], ["generate", str(tmp_path), "--prompt", "x"],
                 ["eval", str(tmp_path)], ["merge", str(tmp_path), str(tmp_path / "merged")]):
        assert "is not a run's folder: it has no run.json" in error_of(capsys, argv)
    assert not (tmp_path / "merged").exists()
    assert "no such folder" in error_of(capsys, ["report", str(tmp_path / "nope")])


@pytest.mark.parametrize("damage", ['{"status": "finis', "[1, 2]", ""])
def test_a_run_whose_record_is_damaged_is_told_so_not_called_no_run(
        labelled_run, tmp_path, capsys, damage):
    run = tmp_path / "damaged"
    shutil.copytree(labelled_run.output_dir, run)
    (run / "run.json").write_text(damage)
    checkpoint = run / "checkpoints" / f"checkpoint-{labelled_run.global_step}"
    for argv in (["generate", str(run), "--prompt", "x"], ["report", str(run)],
                 ["generate", str(checkpoint), "--prompt", "x"]):
        err = error_of(capsys, argv)
        assert f"{run / 'run.json'} is damaged" in err and "--overwrite" in err
    assert (run / "run.json").read_text() == damage  # nothing is written over


def test_an_unfinished_run_points_at_its_newest_checkpoint_which_can_be_used(
        labelled_run, tmp_path, capsys):
    run = tmp_path / "stopped"
    shutil.copytree(labelled_run.output_dir, run)
    record = json.loads((run / "run.json").read_text())
    record["status"] = "interrupted"
    (run / "run.json").write_text(json.dumps(record))
    checkpoint = run / "checkpoints" / f"checkpoint-{labelled_run.global_step}"
    err = error_of(capsys, ["generate", str(run), "--prompt", "A lovely film."])
    assert "was stopped: it has no final adapter" in err
    assert f"newest complete checkpoint instead: {checkpoint} (step {labelled_run.global_step})" in err

    assert main(["generate", str(checkpoint), "--prompt", "A superb, moving film. I loved it."]) == 0
    assert capsys.readouterr().out == " positive\n"
    assert open_run(checkpoint).checkpoint_step == labelled_run.global_step


def test_a_checkpoint_that_was_never_completed_is_refused(labelled_run, tmp_path):
    half = tmp_path / "run" / "checkpoints" / "checkpoint-3"
    half.mkdir(parents=True)
    with pytest.raises(RunFolderError, match="never completed"):
        open_run(half)


def test_the_runs_inputs_are_found_from_anywhere(tmp_path, monkeypatch, capsys):
    """recipe.toml keeps the data path relative to the original recipe, run from its project."""
    project = tmp_path / "project"
    (project / "recipes" / "data").mkdir(parents=True)
    shutil.copy(REVIEWS, project / "recipes" / "data" / "reviews.jsonl")
    recipe = labelled_recipe(REVIEWS, project / "unused")
    recipe["data"]["path"] = "data/reviews.jsonl"
    recipe["output"]["dir"] = "runs/relative"
    recipe["train"]["max_steps"] = 2
    (project / "recipes" / "r.toml").write_text(tomli_w.dumps(recipe))
    monkeypatch.chdir(project)
    run_recipe(load_recipe("recipes/r.toml"), plugins=tiny_plugins())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = open_run(project / "runs" / "relative")
    assert run.record["recipe"] == "recipes/r.toml"
    assert run.recipe().data.path == str(project / "recipes" / "data" / "reviews.jsonl")
    assert main(["eval", str(project / "runs" / "relative"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 60


@pytest.fixture(scope="module")
def own_base_run(tmp_path_factory):
    """A short run on a copy of the tiny model in a folder of its own, named by model.path."""
    from _loraforge_llama.tiny import tiny_llama_path

    folder = tmp_path_factory.mktemp("own-base")
    shutil.copytree(tiny_llama_path(), folder / "base")
    recipe = labelled_recipe(REVIEWS, folder / "out")
    recipe["model"] = {"path": "base"}
    recipe["train"]["max_steps"] = 2
    run_recipe(load_recipe(write_recipe(folder, recipe)), plugins=tiny_plugins())
    return folder


def test_the_run_records_its_bases_folder_and_fingerprint(own_base_run):
    recorded = open_run(own_base_run / "out").record["base_model"]
    assert recorded["path"] == str((own_base_run / "base").resolve())
    assert len(recorded["fingerprint"]) == 16


def test_a_base_model_that_moved_is_named_and_can_be_given_with_base(
        own_base_run, tmp_path, capsys):
    moved = tmp_path / "moved-base"
    (own_base_run / "base").rename(moved)
    try:
        err = error_of(capsys, ["generate", str(own_base_run / "out"), "--prompt", "Fine."])
        assert "model.path: the base model of" in err and "is not there any more" in err
        assert "--base PATH" in err
        assert main(["generate", str(own_base_run / "out"), "--prompt", "Fine.",
                     "--base", str(moved), "--max-new-tokens", "2"]) == 0
    finally:
        moved.rename(own_base_run / "base")


def test_a_base_model_that_changed_is_refused_and_nothing_is_written(own_base_run, tmp_path,
                                                                      capsys):
    import torch
    from safetensors.torch import load_file, save_file

    changed = tmp_path / "changed-base"
    shutil.copytree(own_base_run / "base", changed)
    weights = load_file(changed / "model.safetensors")
    weights["lm_head.weight"] = weights["lm_head.weight"] + 0.01 * torch.ones_like(
        weights["lm_head.weight"])
    save_file(weights, changed / "model.safetensors", metadata={"format": "pt"})
    run = str(own_base_run / "out")
    for argv in (["generate", run, "--prompt", "Fine.", "--out", str(tmp_path / "a.jsonl")],
                 ["merge", run, str(tmp_path / "merged")]):
        err = error_of(capsys, [*argv, "--base", str(changed)])
        assert "Base model changed" in err and "is not the one" in err and "run.json" in err
    assert not (tmp_path / "a.jsonl").exists() and not (tmp_path / "merged").exists()

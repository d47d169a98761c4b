"""The output directory: where a run starts, what run.json records, files that appear whole."""

from __future__ import annotations

import json
import os
import platform

import pytest
import torch
from tiny_runs import plugins, recipe, run_record, write_checkpoint_files

from loraforge.engine import outputs
from loraforge.engine.checkpoints import MARKER
from loraforge.engine.resume import prepare_output_dir
from loraforge.engine.run import run_recipe
from loraforge.errors import OutputError, RecipeError
from loraforge.recipe import load_recipe


@pytest.mark.slow
def test_run_json_records_the_environment_and_what_was_trained(tmp_path):
    run_recipe(recipe(tmp_path, "train.max_steps=2"), plugins=plugins())
    record = run_record(tmp_path / "out")
    assert record["status"] == "finished" and record["finished_at"]
    assert record["python"] == platform.python_version()
    assert record["packages"]["torch"] == torch.__version__
    for package in ("transformers", "peft", "bitsandbytes", "accelerate"):
        assert record["packages"][package]
    assert {"llama", "callbacks", "throwaway"} <= set(record["plugins"])
    assert record["cuda_available"] == torch.cuda.is_available()
    assert record["gpu_count"] == len(record["gpus"]) == torch.cuda.device_count()
    assert record["world_size"] == 1
    assert len(record["recipe_hash"]) == 16 and len(record["data_fingerprint"]) == 16
    assert record["resumed_from"] is None


def unfinished_run(out, *steps, finished=False):
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(
        {"status": "finished" if finished else "interrupted",
         "finished_at": "2026-01-01T00:00:00+00:00" if finished else None}))
    (out / "metrics.jsonl").write_text('{"event": "begin"}\n')
    (out / "notes.txt").write_text("the user's own file")
    for step, complete in steps:
        folder = write_checkpoint_files(out / "checkpoints" / f"checkpoint-{step}")
        if complete:
            (folder / MARKER).write_text(json.dumps({"step": step}))


def test_resume_continues_from_the_newest_complete_checkpoint_and_clears_the_rest(tmp_path):
    unfinished_run(tmp_path / "out", (2, True), (4, True), (6, False))
    start = prepare_output_dir(recipe(tmp_path), resume=True)
    assert start.step == 4 and start.checkpoint.path.name == "checkpoint-4"
    assert [p.name for p in start.removed] == ["checkpoint-6"]
    assert not (tmp_path / "out" / "checkpoints" / "checkpoint-6").exists()
    assert (tmp_path / "out" / "metrics.jsonl").exists()  # the loss curve goes on


def test_the_recipe_can_ask_to_resume(tmp_path):
    unfinished_run(tmp_path / "out", (2, True))
    assert prepare_output_dir(recipe(tmp_path, 'output.resume="auto"')).step == 2


def test_resume_without_a_checkpoint_starts_afresh_and_says_so(tmp_path):
    unfinished_run(tmp_path / "out", (2, False))
    start = prepare_output_dir(recipe(tmp_path), resume=True)
    assert start.checkpoint is None and "starting afresh" in start.note
    assert not (tmp_path / "out" / "metrics.jsonl").exists()
    assert (tmp_path / "out" / "notes.txt").exists()


def test_a_rerun_without_resume_does_not_throw_away_a_checkpoint(tmp_path):
    unfinished_run(tmp_path / "out", (4, True))
    with pytest.raises(OutputError) as error:
        prepare_output_dir(recipe(tmp_path))
    assert "unfinished run with a checkpoint at step 4" in error.value.message
    assert "--resume" in error.value.hint and "--overwrite" in error.value.hint
    assert (tmp_path / "out" / "checkpoints" / "checkpoint-4").exists()


def test_a_finished_run_has_nothing_to_resume(tmp_path):
    unfinished_run(tmp_path / "out", (4, True), finished=True)
    with pytest.raises(OutputError, match="nothing to resume"):
        prepare_output_dir(recipe(tmp_path), resume=True)


def test_overwrite_starts_over_and_keeps_the_users_files(tmp_path):
    unfinished_run(tmp_path / "out", (4, True))
    start = prepare_output_dir(recipe(tmp_path, 'output.resume="auto"'), overwrite=True)
    assert start.checkpoint is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["notes.txt"]


def test_overwrite_clears_a_run_whose_record_is_damaged(tmp_path):
    unfinished_run(tmp_path / "out", (4, True))
    (tmp_path / "out" / "run.json").write_text('{"status": "inter')  # cut short
    with pytest.raises(OutputError, match="unfinished run with a checkpoint at step 4"):
        prepare_output_dir(recipe(tmp_path))
    prepare_output_dir(recipe(tmp_path), overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["notes.txt"]


def test_deciding_without_writing_changes_nothing(tmp_path):
    unfinished_run(tmp_path / "out", (2, True), (4, False))
    start = prepare_output_dir(recipe(tmp_path), resume=True, write=False)
    assert start.step == 2 and (tmp_path / "out" / "checkpoints" / "checkpoint-4").exists()


def test_overwrite_and_resume_together_are_a_recipe_error(tmp_path):
    recipe(tmp_path)
    with pytest.raises(RecipeError, match="contradict"):
        load_recipe(tmp_path / "recipe.toml", ["output.overwrite=true", 'output.resume="auto"'])


class FakeModel:
    def save_pretrained(self, folder, safe_serialization=True):
        os.makedirs(folder, exist_ok=True)
        for name in ("adapter_config.json", "adapter_model.safetensors", "README.md"):
            (folder / name).write_text(name)


class FakeTokenizer:
    def save_pretrained(self, folder):
        (folder / "tokenizer.json").write_text("{}")


def test_the_adapter_config_is_moved_into_place_last(tmp_path, monkeypatch):
    moved = []
    real_replace = os.replace

    def replace(source, target):
        moved.append(os.path.basename(target))
        real_replace(source, target)

    monkeypatch.setattr(outputs.os, "replace", replace)
    outputs.save_adapter(FakeModel(), FakeTokenizer(), tmp_path)
    assert moved[-1] == "adapter_config.json" and len(moved) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json"]


def test_atomic_writes_leave_no_temporary_file(tmp_path):
    outputs.write_atomic(tmp_path / "run.json", "{}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_of_the_users_own_files_is_refused_and_kept(tmp_path, overwrite):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("README.md", "tokenizer.json", "recipe.toml"):  # names a run writes too
        (out / name).write_text("the user's own")
    with pytest.raises(OutputError) as error:
        prepare_output_dir(recipe(tmp_path), overwrite=overwrite)
    assert "holds files that are not a loraforge run's (README.md, recipe.toml, " \
           "tokenizer.json)" in error.value.message
    assert all((out / name).read_text() == "the user's own"
               for name in ("README.md", "tokenizer.json", "recipe.toml"))


def test_the_model_folder_and_the_data_folder_are_refused(tmp_path, tiny_llama_dir):
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.jsonl").write_text('{"text": "a"}\n')
    for where in (str(data), str(data / "run")):  # a folder of data files, and inside it
        with pytest.raises(OutputError, match="the data's folder"):
            prepare_output_dir(recipe(tmp_path, f'data.path="{data}"', f'output.dir="{where}"'))
    with pytest.raises(OutputError, match="the data's folder"):  # beside a data file
        prepare_output_dir(recipe(tmp_path, f'data.path="{data / "rows.jsonl"}"',
                                  f'output.dir="{data}"'))
    for where in (tiny_llama_dir, tiny_llama_dir / "adapter"):
        with pytest.raises(OutputError, match="model folder") as error:
            prepare_output_dir(recipe(tmp_path, 'model.loader="llama"',
                                      f'model.path="{tiny_llama_dir}"', f'output.dir="{where}"'))
        assert "adapter_config.json" in error.value.message
    assert not (tiny_llama_dir / "adapter").exists()


def test_writers_of_one_file_at_once_never_share_a_temporary_name(tmp_path):
    import threading

    failures = []

    def write(n):
        try:
            for _ in range(50):
                outputs.write_atomic(tmp_path / "run.json", f'{{"writer": {n}}}\n')
        except OSError as exc:  # a shared temporary name is renamed away under the other writer
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    assert json.loads((tmp_path / "run.json").read_text())["writer"] in range(4)


def test_an_output_path_too_long_for_the_file_system_is_a_clear_error(tmp_path):
    from loraforge.engine.run import run
    from loraforge.reporting import CollectingReporter

    too_long = tmp_path / ("x" * 300) / "out"
    with pytest.raises(OutputError, match="the path is too long for the file system") as error:
        run(recipe(tmp_path, f'output.dir="{too_long}"'), plugins=plugins(),
            reporter=CollectingReporter())
    assert "shorter output.dir" in error.value.hint

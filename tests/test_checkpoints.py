"""Checkpoints: when they are saved, which count as complete, which are kept, when they fit."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_runs import events, plugins, recipe, run_record, write_checkpoint_files

from _loraforge_llama.loaders import TinyLlamaLoader
from loraforge.engine import checkpoints
from loraforge.engine.checkpoints import MARKER, Checkpoint, TrainingStamp, check_resumable
from loraforge.engine.fingerprints import EFFECTIVE_BATCH, settings_hash, training_settings
from loraforge.engine.run import run_recipe
from loraforge.engine.signals import RunInterrupted
from loraforge.errors import ResumeError
from loraforge.hookspecs import hookimpl


class CountedLoader(TinyLlamaLoader):
    """The tiny LLaMA, counting how often it is loaded."""

    name = "tiny-llama-counted"
    loads = 0

    def load(self, spec):
        CountedLoader.loads += 1
        return super().load(spec)


class ThrowawayLoaders:
    @hookimpl
    def register_model_loaders(self, register):
        register(CountedLoader)


@pytest.fixture(scope="module")
def loaded():
    registered = plugins()
    registered.register(ThrowawayLoaders(), "throwaway-loaders")
    return registered


@pytest.fixture(scope="module")
def finished(tmp_path_factory, loaded):
    folder = tmp_path_factory.mktemp("checkpoints")
    run_recipe(recipe(folder, "train.save_steps=3", "train.save_total_limit=2"), plugins=loaded)
    return folder / "out"


@pytest.mark.slow
def test_checkpoints_every_save_steps_and_at_the_end_keeping_the_newest(finished):
    saves = [e["step"] for e in events(finished) if e["event"] == "save"]
    assert saves == [3, 6, 9, 10]
    complete, incomplete = checkpoints.scan(finished)
    assert [c.step for c in complete] == [9, 10] and incomplete == []
    for checkpoint in complete:
        assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth",
                "trainer_state.json", MARKER} <= {p.name for p in checkpoint.path.iterdir()}


@pytest.mark.slow
def test_each_marker_records_what_the_checkpoint_was_trained_with(finished):
    record = run_record(finished)
    marker = checkpoints.newest(finished).marker
    assert marker["step"] == 10
    assert marker["recipe_hash"] == record["recipe_hash"]
    assert marker["data_fingerprint"] == record["data_fingerprint"]
    assert marker["settings"]["lora.r"] == 4 and marker["settings"][EFFECTIVE_BATCH] == 8
    assert "train.logging_steps" not in marker["settings"]


@pytest.mark.slow
def test_a_checkpoint_at_each_epoch_end_when_asked(tmp_path, loaded):
    # 16 rows in batches of 8: two steps an epoch; the last epoch's end is also the last step
    run_recipe(recipe(tmp_path, "train.max_steps=6", "train.save_every_epoch=true", rows=16),
               plugins=loaded)
    saves = [e["step"] for e in events(tmp_path / "out") if e["event"] == "save"]
    assert saves == [2, 4, 6]


def write_checkpoint(out, step, marker=True):
    folder = write_checkpoint_files(out / "checkpoints" / f"checkpoint-{step}")
    if marker is True:
        (folder / MARKER).write_text(json.dumps({"step": step}))
    elif marker:
        (folder / MARKER).write_text(marker)
    return folder


def test_only_folders_with_a_whole_marker_for_their_step_are_complete(tmp_path):
    write_checkpoint(tmp_path, 3)
    write_checkpoint(tmp_path, 5, marker=False)  # killed while the Trainer was writing
    write_checkpoint(tmp_path, 6, marker='{"step": 6, "recipe')  # a torn marker
    write_checkpoint(tmp_path, 7, marker='{"step": 3}')  # copied from elsewhere
    (tmp_path / "checkpoints" / "checkpoint-8" / "").mkdir()
    (tmp_path / "checkpoints" / "checkpoint-8" / f".{MARKER}.tmp").write_text('{"step": 8}')
    complete, incomplete = checkpoints.scan(tmp_path)
    assert [c.step for c in complete] == [3]
    assert [p.name for p in incomplete] == [f"checkpoint-{n}" for n in (5, 6, 7, 8)]


def test_keep_newest_deletes_only_older_complete_checkpoints(tmp_path):
    for step in (2, 4, 6):
        write_checkpoint(tmp_path, step)
    write_checkpoint(tmp_path, 8, marker=False)
    checkpoints.keep_newest(tmp_path, 2)
    remaining = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert remaining == ["checkpoint-4", "checkpoint-6", "checkpoint-8"]


def stamp(**changes) -> TrainingStamp:
    settings = {"lora.r": 4, "train.learning_rate": 0.003, EFFECTIVE_BATCH: 8}
    settings.update(changes)
    return TrainingStamp(settings_hash(settings), settings, "data-a", 300)


def saved(tmp_path, with_stamp: TrainingStamp) -> Checkpoint:
    return Checkpoint(tmp_path / "checkpoint-4", 4, with_stamp.marker(4))


def test_resuming_names_each_changed_setting_and_refuses(tmp_path):
    with pytest.raises(ResumeError) as error:
        check_resumable(saved(tmp_path, stamp()), stamp(**{"train.learning_rate": 0.001}),
                        force=False)
    assert "train.learning_rate: 0.003 → 0.001" in error.value.message
    assert "--force-resume" in error.value.hint


def test_resuming_on_other_data_is_refused(tmp_path):
    other = stamp()
    other.data_fingerprint, other.samples = "data-b", 280
    with pytest.raises(ResumeError, match="the data: 280 samples with fingerprint data-b"):
        check_resumable(saved(tmp_path, stamp()), other, force=False)


def test_force_resume_goes_on_and_reports_what_changed(tmp_path):
    changes = check_resumable(saved(tmp_path, stamp()), stamp(**{"train.learning_rate": 0.001}),
                              force=True)
    assert changes == ["train.learning_rate: 0.003 → 0.001"]


def test_an_adapter_of_another_shape_cannot_be_forced(tmp_path):
    with pytest.raises(ResumeError, match="another shape"):
        check_resumable(saved(tmp_path, stamp()), stamp(**{"lora.r": 8}), force=True)


def test_a_new_seed_cannot_be_forced(tmp_path):
    # the checkpoint's random state and each epoch's order of samples come from the old seed
    with pytest.raises(ResumeError) as error:
        check_resumable(saved(tmp_path, stamp(**{"train.seed": 42})), stamp(**{"train.seed": 7}),
                        force=True)
    assert "train.seed: 42 → 7" in error.value.message


def test_the_micro_batch_may_change_if_the_effective_batch_does_not(tmp_path):
    first = recipe(tmp_path, "train.batch_size=8", "train.grad_accum=1")
    smaller = recipe(tmp_path, "train.batch_size=2", "train.grad_accum=4",
                     "train.gradient_checkpointing=true", "train.max_steps=50")
    assert training_settings(first, 1) == training_settings(smaller, 1)
    # two processes: twice the effective batch
    assert training_settings(first, 1) != training_settings(first, 2)


@pytest.mark.slow
def test_resuming_from_the_last_step_saves_its_adapter_without_training_more(tmp_path, loaded):
    from safetensors.torch import load_file

    run_recipe(recipe(tmp_path, "train.max_steps=4"), plugins=loaded)
    out = tmp_path / "out"
    # as if killed after the last checkpoint, before the adapter was saved
    record = run_record(out)
    record.update(status="running", finished_at=None)
    (out / "run.json").write_text(json.dumps(record))
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        (out / name).unlink()

    result = run_recipe(recipe(tmp_path, "train.max_steps=4"), plugins=loaded, resume=True)
    assert result.global_step == 4 and run_record(out)["global_step"] == 4
    assert [c.step for c in checkpoints.scan(out)[0]] == [4]
    final = load_file(out / "adapter_model.safetensors")
    saved = load_file(out / "checkpoints" / "checkpoint-4" / "adapter_model.safetensors")
    assert final.keys() == saved.keys()
    assert all((final[name] == saved[name]).all() for name in final)


def fake_checkpoint(out, settings_of, step=4, **marker):
    """A complete checkpoint trained with ``settings_of``'s settings, with no files to load."""
    settings = training_settings(settings_of, 1)
    stamped = TrainingStamp(settings_hash(settings), settings, "data-a", 300).marker(step)
    write_checkpoint(out, step, marker=json.dumps({**stamped, **marker}))


@pytest.mark.slow
def test_a_changed_setting_is_refused_before_the_model_is_loaded(tmp_path, loaded):
    counted = 'model.loader="tiny-llama-counted"'
    fake_checkpoint(tmp_path / "out", recipe(tmp_path, counted, "train.learning_rate=0.003"))
    CountedLoader.loads = 0
    with pytest.raises(ResumeError) as error:
        run_recipe(recipe(tmp_path, counted, "train.learning_rate=0.001"), plugins=loaded,
                   resume=True)
    assert "train.learning_rate: 0.003 → 0.001" in error.value.message
    assert CountedLoader.loads == 0  # no minutes of loading a model for a refusal

    # the data can only be compared once it is tokenized, which needs the tokenizer
    with pytest.raises(ResumeError, match="the data: 100 samples"):
        run_recipe(recipe(tmp_path, counted, "train.learning_rate=0.003", rows=100),
                   plugins=loaded, resume=True)
    assert CountedLoader.loads == 1


@pytest.mark.slow
def test_force_resume_trains_on_with_the_new_learning_rate_and_weight_decay(tmp_path, loaded):
    stop_at_3 = 'train.callbacks=["metrics", {name = "signal-at", step = 3}]'
    with pytest.raises(RunInterrupted):
        run_recipe(recipe(tmp_path, stop_at_3), plugins=loaded)  # a checkpoint at step 4
    run_recipe(recipe(tmp_path, "train.learning_rate=0.001", "train.weight_decay=0.1"),
               plugins=loaded, force_resume=True)
    out = tmp_path / "out"
    logged = {e["step"]: e["learning_rate"] for e in events(out) if e["event"] == "log"}
    assert sorted(logged) == list(range(1, 11))
    # the linear decay over 10 steps (each step logs the rate it used) goes on at the same
    # step, from the new peak
    for step, rate in logged.items():
        peak = 0.003 if step <= 4 else 0.001
        assert rate == pytest.approx(peak * (11 - step) / 10), step
    final = out / "checkpoints" / "checkpoint-10"
    optimizer = torch.load(final / "optimizer.pt", weights_only=True)
    assert {group["initial_lr"] for group in optimizer["param_groups"]} == {0.001}
    assert max(group["weight_decay"] for group in optimizer["param_groups"]) == 0.1
    assert set(torch.load(final / "scheduler.pt", weights_only=True)["base_lrs"]) == {0.001}
    assert run_record(out)["resumed_from"]["step"] == 4

"""The built-in callbacks: console progress and the metrics.jsonl file."""

from __future__ import annotations

import io
import json

import pytest
import torch

from loraforge.components import RunInfo
from loraforge.plugins import Plugins
from loraforge.registry import OptionsError


@pytest.fixture(scope="module")
def registry():
    plugins = Plugins()
    plugins.load_entry_points(["callbacks"])
    assert plugins.failures == {}
    return plugins.registry


def callback(registry, name, **options):
    return registry.create("callback", name, options, where="train.callbacks")


def run_info(output_dir="runs/test", resumed_from_step=0):
    return RunInfo(output_dir=str(output_dir), max_steps=120, epochs=3, trainable_parameters=1024,
                   total_parameters=1_000_000, resumed_from_step=resumed_from_step)


def logs(step):
    return {"loss": 2.4312 - step / 100, "grad_norm": 0.75, "learning_rate": 1.8e-4,
            "epoch": step / 60}


SUMMARY = {"output_dir": "runs/test", "global_step": 120, "train_loss": 2.05, "runtime_s": 192.4}


def console(registry, *, terminal, **options):
    cb = callback(registry, "console", **options)
    cb.file = io.StringIO()
    cb.terminal = terminal
    return cb


def test_the_package_registers_its_callbacks_with_documented_options(registry):
    assert registry.names("callback") == ["compare", "console", "metrics"]
    for name in registry.names("callback"):
        cls = registry.get("callback", name).cls
        assert cls.description and "\n" not in cls.description
        assert all(f.description for f in cls.Options.model_fields.values())


def test_console_off_a_terminal_prints_plain_lines(registry):
    cb = console(registry, terminal=False)
    cb.on_begin(run_info())
    cb.on_log(20, logs(20))
    cb.on_evaluate(20, {"eval_loss": 2.5, "epoch": 0.33})
    cb.on_save(20, "runs/test/checkpoints/checkpoint-20")
    cb.on_end(SUMMARY)
    assert cb.file.getvalue().splitlines() == [
        "training 120 steps (3 epochs), 1,024 of 1,000,000 parameters trainable (0.10%), "
        "output in runs/test",
        "step 20/120  epoch 0.33  loss 2.2312  lr 1.8e-04  grad_norm 0.75",
        "eval at step 20/120  epoch 0.33  eval_loss 2.5000",
        "saved a checkpoint at step 20: runs/test/checkpoints/checkpoint-20",
        "finished 120 steps in 3m 12s, last loss 2.2312, mean loss 2.0500",
        "adapter saved in runs/test",
    ]


def test_console_says_how_a_stopped_run_ended(registry):
    cb = console(registry, terminal=False)
    cb.on_begin(run_info())
    cb.on_end({"status": "interrupted", "global_step": 40, "runtime_s": 75,
               "checkpoint": "runs/test/checkpoints/checkpoint-40"})
    assert cb.file.getvalue().splitlines()[-2:] == [
        "interrupted after 40 steps in 1m 15s",
        "last checkpoint: runs/test/checkpoints/checkpoint-40",
    ]
    cb = console(registry, terminal=False)
    cb.on_begin(run_info())
    cb.on_end({"status": "failed", "global_step": 0, "runtime_s": 3, "checkpoint": None,
               "error": "ran out of memory at step 1"})
    assert cb.file.getvalue().splitlines()[-2:] == [
        "failed after 0 steps in 3s: ran out of memory at step 1",
        "no checkpoint was saved",
    ]


def test_console_every_prints_the_first_then_every_nth_logged_step(registry):
    cb = console(registry, terminal=False, every=3)
    cb.on_begin(run_info(resumed_from_step=40))
    for step in range(50, 120, 10):
        cb.on_log(step, {"loss": 1.0})
    lines = cb.file.getvalue().splitlines()
    assert lines[0].endswith("resuming at step 40")
    assert [line.split()[1] for line in lines[1:]] == ["50/120", "80/120", "110/120"]


def test_console_every_must_be_positive(registry):
    with pytest.raises(OptionsError, match="train.callbacks.every"):
        callback(registry, "console", every=0)


def test_console_on_a_terminal_draws_a_progress_bar(registry):
    cb = console(registry, terminal=True)
    cb.on_begin(run_info())
    try:
        cb.on_log(30, logs(30))
        live = cb.file.getvalue()
        assert "30/120" in live
        assert "loss 2.1312" in live and "lr 1.8e-04" in live
        assert "\x1b[" in live  # drawn with terminal control codes, not printed as lines
    finally:
        cb.on_end(SUMMARY)
    out = cb.file.getvalue()
    assert "120/120" in out
    assert "finished 120 steps in 3m 12s, last loss 2.1312, mean loss 2.0500" in out
    assert "adapter saved in runs/test" in out


def read_events(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_metrics_writes_one_json_object_per_event(registry, tmp_path):
    cb = callback(registry, "metrics")
    cb.on_begin(run_info(tmp_path))
    cb.on_log(10, logs(10))
    cb.on_evaluate(10, {"eval_loss": 2.5, "eval_accuracy": torch.tensor(0.75)})
    cb.on_save(10, str(tmp_path / "checkpoint-10"))
    cb.on_end({**SUMMARY, "train_loss": float("nan")})
    events = read_events(tmp_path / "metrics.jsonl")
    assert [e["event"] for e in events] == ["begin", "log", "evaluate", "save", "end"]
    assert all(isinstance(e["time"], float) for e in events)
    assert events[1] == {"event": "log", "time": events[1]["time"], "step": 10, **logs(10)}
    assert events[2]["eval_loss"] == 2.5
    assert events[2]["eval_accuracy"] == 0.75  # a tensor is written as its number
    assert events[3]["path"] == str(tmp_path / "checkpoint-10")
    assert events[4]["train_loss"] is None  # NaN is not JSON
    assert events[4]["global_step"] == 120


def test_metrics_lines_are_on_disk_as_soon_as_they_are_logged(registry, tmp_path):
    cb = callback(registry, "metrics", filename="logs/train.jsonl")
    cb.on_begin(run_info(tmp_path))
    cb.on_log(10, {"loss": 3.0})
    # read while the run is still going: nothing is waiting in a buffer
    assert read_events(tmp_path / "logs" / "train.jsonl")[-1]["loss"] == 3.0
    cb.on_end(SUMMARY)


def test_metrics_a_resumed_run_appends_to_the_same_file(registry, tmp_path):
    first = callback(registry, "metrics")
    first.on_begin(run_info(tmp_path))
    first.on_log(10, {"loss": 3.0})
    # the first run dies here, without on_end
    second = callback(registry, "metrics")
    second.on_begin(run_info(tmp_path, resumed_from_step=10))
    second.on_log(20, {"loss": 2.0})
    second.on_end(SUMMARY)
    events = read_events(tmp_path / "metrics.jsonl")
    assert [(e["event"], e.get("step")) for e in events] == [
        ("begin", 0), ("log", 10), ("begin", 10), ("log", 20), ("end", None)
    ]
    assert events[2]["resumed_from_step"] == 10



def test_compare_says_so_when_a_run_held_no_rows_out(run_recipe, capsys):
    run_recipe({"train": {"callbacks": ["compare"]}})
    assert "compare: the run in" in capsys.readouterr().out

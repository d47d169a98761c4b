"""A run never shares its folder, never resumes from a damaged checkpoint, and survives its terminal.

Real ``loraforge run`` processes: two at once in one folder, one writing to a
closed pipe or to /dev/full, one whose files may grow no larger than a limit
(the kernel refuses the write, as a full disk does), one signalled in the
middle of loading its model or saving its adapter.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_runs import plugins, recipe, recipe_file, run_record

from loraforge.engine import checkpoints
from loraforge.engine.run import run
from loraforge.engine.signals import RunInterrupted
from loraforge.errors import OutputError, ResumeError
from loraforge.recipe import load_recipe
from loraforge.reporting import CollectingReporter

pytestmark = pytest.mark.slow

SLOW_CLI = Path(__file__).with_name("slow_cli.py")
SLOWLY = 'train.callbacks=["metrics", {name = "slow", seconds = 0.2}]'


def start(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SLOW_CLI), *args],
                            stdout=kwargs.pop("stdout", subprocess.PIPE),
                            stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended first: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("timed out")
        time.sleep(0.05)


def logged(out: Path) -> int:
    path = out / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return sum(1 for line in lines if '"event": "log"' in line)


def test_a_second_run_in_a_busy_folder_is_refused_naming_the_first(tmp_path):
    path = recipe_file(tmp_path, "train.max_steps=40", "train.save_steps=2")
    first = start("run", str(path), "--set", SLOWLY)
    out = tmp_path / "out"
    try:
        wait_for(lambda: checkpoints.newest(out) is not None, first)
        for options in ({}, {"overwrite": True}, {"resume": True}):
            with pytest.raises(OutputError) as error:
                run(load_recipe(path), plugins=plugins(), reporter=CollectingReporter(),
                    **options)
            assert f"is in use by another run: process {first.pid}" in error.value.message
        # the first run's checkpoints are untouched by the refused ones
        assert checkpoints.newest(out) is not None and run_record(out)["status"] == "running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    # killed: its lock went with it, and the run resumes
    result = run(load_recipe(path), plugins=plugins(), reporter=CollectingReporter(), resume=True)
    assert result.global_step == 40


def damaged_run(tmp_path: Path) -> Path:
    """A stopped run with checkpoints at steps 2 and 4 (of 6)."""
    path = recipe_file(tmp_path, "train.max_steps=6", "train.save_steps=2",
                       'train.callbacks=["metrics", {name = "signal-at", step = 3}]')
    with pytest.raises(RunInterrupted):
        run(load_recipe(path), plugins=plugins(), reporter=CollectingReporter())
    out = tmp_path / "out"
    assert [c.step for c in checkpoints.scan(out)[0]] == [2, 4]
    return out


def truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


@pytest.mark.parametrize("damage", ["optimizer.pt", "adapter_model.safetensors", "rng_state.pth",
                                    "trainer_state.json", "scheduler.pt"])
def test_a_damaged_checkpoint_is_set_aside_and_the_older_one_used(tmp_path, damage):
    out = damaged_run(tmp_path)
    broken = out / "checkpoints" / "checkpoint-4" / damage
    if damage == "trainer_state.json":
        broken.write_text("")
    elif damage == "scheduler.pt":
        broken.unlink()
    else:
        truncate(broken)
    events = CollectingReporter()
    result = run(recipe(tmp_path, "train.max_steps=6", "train.save_steps=2"),
                 plugins=plugins(), reporter=events, resume=True)
    assert result.global_step == 6
    assert run_record(out)["resumed_from"]["step"] == 2
    said = " ".join(e.text for e in events.events if e.kind == "message")
    assert f"checkpoint-4 is damaged ({damage}" in said and "resuming from checkpoint-2" in said
    assert (out / "checkpoints" / "checkpoint-4.damaged").is_dir()


def test_with_every_checkpoint_damaged_the_run_says_none_is_usable(tmp_path):
    out = damaged_run(tmp_path)
    for step in (2, 4):
        truncate(out / "checkpoints" / f"checkpoint-{step}" / "optimizer.pt")
    with pytest.raises(ResumeError, match="no usable checkpoint remains") as error:
        run(recipe(tmp_path, "train.max_steps=6", "train.save_steps=2"),
            plugins=plugins(), reporter=CollectingReporter(), resume=True)
    assert "checkpoint-4: optimizer.pt is" in error.value.message
    assert "--overwrite" in error.value.hint


def limited_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_write_the_disk_refuses_ends_the_run_with_a_message_and_a_final_status(tmp_path):
    path = recipe_file(tmp_path, "train.max_steps=4", "train.save_steps=2")
    # a checkpoint's tokenizer.json (120 kB) and optimizer state (40 kB) pass this limit
    process = start("run", str(path), preexec_fn=limited_file_size(30_000))
    _, err = process.communicate(timeout=180)
    assert process.returncode == 2, err
    err = " ".join(err.replace("│", " ").split())
    assert "Output error" in err and "could not write" in err
    assert "the file is larger than this system allows" in err and "Traceback" not in err
    record = run_record(tmp_path / "out")
    # the first file over the limit: the tokenized data's cache, or the first checkpoint
    assert record["status"] == "failed" and record["failed_phase"] in ("tokenize", "train")
    # with room again, the run continues from where it was
    result = run(load_recipe(path), plugins=plugins(), reporter=CollectingReporter(), resume=True)
    assert result.global_step == 4


def test_a_closed_pipe_on_standard_output_does_not_stop_training(tmp_path):
    path = recipe_file(tmp_path, "train.max_steps=12", "train.logging_steps=1",
                       'train.callbacks=["console", "metrics"]')
    process = start("run", str(path), "--set", 'train.callbacks=["console", "metrics", '
                    '{name = "slow", seconds = 0.05}]')
    for _ in range(2):  # `| head -2`
        process.stdout.readline()
    process.stdout.close()
    _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    assert run_record(tmp_path / "out")["status"] == "finished"
    assert "the console callback could not write its output" in " ".join(err.split())


def test_standard_output_on_a_full_device_does_not_stop_training(tmp_path):
    path = recipe_file(tmp_path, "train.max_steps=4", 'train.callbacks=["console", "metrics"]')
    with open("/dev/full", "w") as full:
        process = start("run", str(path), stdout=full)
        _, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    assert run_record(tmp_path / "out")["status"] == "finished"


@pytest.mark.parametrize("fault, signum, status", [
    ("slow-load", signal.SIGINT, "interrupted"),   # Ctrl-C while the model loads
    ("slow-load", signal.SIGTERM, "interrupted"),
    ("slow-save", signal.SIGTERM, "finished"),     # the adapter is being saved: it is finished
])
def test_a_signal_in_any_phase_ends_the_run_with_a_final_status(tmp_path, fault, signum, status):
    path = recipe_file(tmp_path, "train.max_steps=3",
                       f'model.loader={{name = "tiny-llama-failing", fail_in = "{fault}", '
                       f'seconds = 4}}')
    process = start("run", str(path))
    out = tmp_path / "out"
    phase = "model" if fault == "slow-load" else "save"

    def in_phase() -> bool:
        log = out / "events.jsonl"
        return log.exists() and any(
            json.loads(line).get("phase") == phase and json.loads(line)["event"] == "phase_started"
            for line in log.read_text().splitlines())

    wait_for(in_phase, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=180)
    record = run_record(out)
    assert record["status"] == status, err
    assert process.returncode == (0 if status == "finished" else 128 + signum)
    assert os.path.exists(out / "adapter_model.safetensors") == (status == "finished")

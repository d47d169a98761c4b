"""Two processes under torchrun train one adapter with DDP (gloo on the CPU) into one output dir."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from peft import PeftModel
from tiny_runs import recipe_file

from loraforge.engine import checkpoints
from loraforge.engine.checkpoints import MARKER

pytestmark = pytest.mark.slow

TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    torchrun = TORCHRUN if TORCHRUN.exists() else shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    folder = tmp_path_factory.mktemp("distributed")
    recipe = recipe_file(folder, "train.max_steps=4", "train.batch_size=4", "train.save_steps=2",
                         'train.callbacks=["console", "metrics"]')
    # --standalone: a free port of its own, so parallel test runs do not meet on one
    command = [str(torchrun), "--standalone", "--nproc_per_node=2",
               "-m", "loraforge", "run", str(recipe)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and both of its workers
        process.communicate()
        pytest.fail("torchrun did not finish in time")
    assert process.returncode == 0, stderr[-4000:]
    return folder / "out", stdout, stderr


def test_both_processes_train_one_run_with_ddp(two_processes):
    out, _, _ = two_processes
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and record["global_step"] == 4
    assert record["world_size"] == 2
    # two processes of 4 samples each: an effective batch of 8
    assert checkpoints.newest(out).marker["settings"]["train.batch_size × train.grad_accum × "
                                                        "processes"] == 8


def test_only_the_first_process_writes_logs_and_outputs(two_processes):
    out, stdout, stderr = two_processes
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["event"] for e in lines].count("begin") == 1
    assert [e["event"] for e in lines].count("end") == 1
    assert [e["step"] for e in lines if e["event"] == "log"] == [1, 2, 3, 4]
    assert stderr.count("loading model with") == 1
    assert stdout.count("finished 4 steps") == 1
    # the folder's lock stays (it is taken again by the next run); nothing else hidden does
    assert [p.name for p in out.glob(".*")] == [".loraforge.lock"], "temporary files are left"


def test_checkpoints_hold_every_process_random_state_and_complete_once(two_processes):
    out, _, _ = two_processes
    complete, incomplete = checkpoints.scan(out)
    assert [c.step for c in complete] == [2, 4] and incomplete == []
    for checkpoint in complete:
        names = {p.name for p in checkpoint.path.iterdir()}
        assert {"rng_state_0.pth", "rng_state_1.pth", MARKER} <= names
        assert checkpoint.marker["world_size"] == 2


def test_the_adapter_is_stock_peft(two_processes):
    out, _, _ = two_processes
    from _loraforge_llama.loaders import TinyLlamaLoader
    from loraforge.recipe import ModelSection

    base = TinyLlamaLoader().load(ModelSection()).model
    reloaded = PeftModel.from_pretrained(base, str(out))
    assert any("lora_A" in name for name, _ in reloaded.named_parameters())

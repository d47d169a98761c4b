"""Real ``loraforge run`` processes, killed or terminated and resumed, against one left alone.

Each run trains the tiny LLaMA for 24 steps over 80 reviews (10 steps an
epoch), with LoRA dropout on. The killed run resumes in the middle of its
second epoch, the terminated one in its first: the resumed runs must restore
the optimizer, the scheduler, the data order and position and the random
state to end where the uninterrupted run ends.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_runs import plugins, recipe_file
from tiny_runs import recipe as tiny_recipe

from loraforge.engine import checkpoints
from loraforge.engine.run import run_recipe
from loraforge.engine.signals import RunInterrupted

pytestmark = pytest.mark.slow

SLOW_CLI = Path(__file__).with_name("slow_cli.py")
STEPS = 24
SLOWLY = 'train.callbacks=["metrics", {name = "slow", seconds = 0.1}]'


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("resume")


def recipe(workspace: Path, name: str) -> str:
    """The run's recipe, writing to ``workspace/name/out``: 80 reviews, dropout on, 24 steps."""
    return str(recipe_file(workspace / name, f"train.max_steps={STEPS}", "lora.dropout=0.1",
                           "train.save_steps=4", "train.save_total_limit=2", rows=80))


def loraforge(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loraforge", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_slowly(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SLOW_CLI), *args, "--set", SLOWLY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> str:
    """Wait for a run that must succeed; its stderr."""
    try:
        _, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, stderr
    return stderr


def events(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def logged_steps(out: Path) -> list[int]:
    return [e["step"] for e in events(out) if e["event"] == "log"]


def run_record(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def interrupt_when(plans: dict[str, tuple[subprocess.Popen, object, int]], timeout=120) -> None:
    """Send each process its signal once its condition holds (all watched at once)."""
    deadline = time.monotonic() + timeout
    while plans:
        for name, (process, condition, signum) in list(plans.items()):
            if condition():
                process.send_signal(signum)
                del plans[name]
            elif process.poll() is not None:
                pytest.fail(f"the {name} run ended before it was interrupted: "
                            f"{process.stderr.read()}")
        if time.monotonic() > deadline:
            for process, _, _ in plans.values():
                process.kill()
            pytest.fail(f"timed out waiting to interrupt {', '.join(plans)}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def runs(workspace):
    """Three runs at once (left alone, killed, terminated), then the two stopped ones resumed.

    Running them side by side keeps the test's time near that of one run:
    most of each is the import of torch and transformers, and the stopped
    runs spend theirs asleep in the ``slow`` callback.
    """
    reference = loraforge("run", recipe(workspace, "reference"))
    killed_recipe, terminated_recipe = recipe(workspace, "killed"), recipe(workspace, "terminated")
    killed, terminated = start_slowly("run", killed_recipe), start_slowly("run", terminated_recipe)
    killed_out, terminated_out = workspace / "killed" / "out", workspace / "terminated" / "out"
    interrupt_when({
        "killed": (killed,
                   lambda: (c := checkpoints.newest(killed_out)) is not None and c.step >= 12,
                   signal.SIGKILL),
        "terminated": (terminated, lambda: max(logged_steps(terminated_out), default=0) >= 7,
                       signal.SIGTERM),
    })
    killed.communicate(timeout=60)
    _, terminated_stderr = terminated.communicate(timeout=60)
    state = {
        "killed": {"checkpoint": checkpoints.newest(killed_out).step,
                   "record": run_record(killed_out)},
        "terminated": {"returncode": terminated.returncode, "stderr": terminated_stderr,
                       "checkpoint": checkpoints.newest(terminated_out),
                       "record": run_record(terminated_out), "events": events(terminated_out),
                       "adapter": (terminated_out / "adapter_model.safetensors").exists()},
    }
    resumed = {"killed": loraforge("run", killed_recipe, "--resume"),
               "terminated": loraforge("run", terminated_recipe, "--resume")}
    finish(reference)
    state["killed"]["resumed_stderr"] = finish(resumed["killed"])
    state["terminated"]["resumed_stderr"] = finish(resumed["terminated"])
    return workspace, state


@pytest.fixture(scope="module")
def reference(runs):
    return runs[0] / "reference" / "out"


@pytest.fixture(scope="module")
def killed(runs):
    return runs[0] / "killed" / "out", runs[1]["killed"]


@pytest.fixture(scope="module")
def terminated(runs):
    return runs[0] / "terminated" / "out", runs[1]["terminated"]


def same_adapter(one: Path, other: Path) -> None:
    expected, actual = load_file(one / "adapter_model.safetensors"), load_file(
        other / "adapter_model.safetensors")
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-5, atol=1e-7,
                                   msg=lambda m, name=name: f"{name}: {m}")


def test_a_killed_run_resumes_to_the_same_final_step(reference, killed):
    out, state = killed
    assert state["record"]["status"] == "running"  # SIGKILL leaves no chance to record anything
    # in the middle of the second epoch: its order of samples must be that epoch's, not the first's
    assert state["checkpoint"] in (12, 16)
    record = run_record(out)
    assert record["status"] == "finished"
    assert record["global_step"] == run_record(reference)["global_step"] == STEPS
    assert record["resumed_from"]["step"] == state["checkpoint"]
    # over all its steps, those before the checkpoint too
    assert record["train_loss"] == pytest.approx(run_record(reference)["train_loss"], rel=1e-5)
    assert f"resuming from {out / 'checkpoints' / ('checkpoint-%d' % state['checkpoint'])}" in \
        " ".join(state["resumed_stderr"].split())


def test_the_loss_curve_continues_where_the_checkpoint_was(reference, killed):
    out, state = killed
    everything = events(out)
    begins = [i for i, e in enumerate(everything) if e["event"] == "begin"]
    assert len(begins) == 2
    resumed_at = everything[begins[1]]["resumed_from_step"]
    assert resumed_at == state["checkpoint"]
    before = [e["step"] for e in everything[:begins[1]] if e["event"] == "log"]
    after = [e for e in everything[begins[1]:] if e["event"] == "log"]
    assert before[:resumed_at] == list(range(1, resumed_at + 1))
    assert [e["step"] for e in after] == list(range(resumed_at + 1, STEPS + 1))
    # the same losses as the run that was never stopped: same weights, optimizer, data, dropout
    reference_loss = {e["step"]: e["loss"] for e in events(reference) if e["event"] == "log"}
    for e in after:
        assert e["loss"] == pytest.approx(reference_loss[e["step"]], rel=1e-5)


def test_with_a_fixed_seed_the_resumed_adapter_is_the_uninterrupted_one(reference, killed):
    out, _ = killed
    same_adapter(reference, out)
    complete, incomplete = checkpoints.scan(out)
    assert incomplete == [] and [c.step for c in complete] == [20, 24]


def test_sigterm_saves_a_checkpoint_and_exits_143(terminated):
    out, state = terminated
    assert state["returncode"] == 143, state["stderr"]
    checkpoint = state["checkpoint"]
    stopped = state["record"]["global_step"]
    assert checkpoint is not None and checkpoint.step == stopped and 7 <= stopped < STEPS
    assert state["record"]["status"] == "interrupted"
    assert state["record"]["finished_at"] is None
    assert not state["adapter"]  # the final adapter appears only when the run finishes
    stderr = " ".join(state["stderr"].split())
    assert f"stopped by SIGTERM at step {stopped}" in stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert state["events"][-1]["event"] == "end"
    assert state["events"][-1]["status"] == "interrupted"


def test_a_terminated_run_resumes_to_the_uninterrupted_adapter(reference, terminated):
    out, state = terminated
    assert run_record(out)["global_step"] == STEPS
    same_adapter(reference, out)


@pytest.mark.parametrize("packing", [False, True], ids=["length-grouped", "packed"])
def test_stopped_mid_epoch_after_the_first_the_resumed_run_keeps_that_epochs_order(
        tmp_path, packing):
    """In process, either sampler: stopped at step 13 (the second epoch's fourth), resumed there.

    Each epoch draws its own order of samples; the resumed run has to draw the
    second epoch's, not the first's again, to reach the same adapter.
    """
    loaded = plugins()
    settings = ("train.max_steps=14", "lora.dropout=0.1", "train.save_steps=100",
                f"data.packing={str(packing).lower()}")
    for name in ("reference", "stopped"):
        (tmp_path / name).mkdir()
    run_recipe(tiny_recipe(tmp_path / "reference", *settings, rows=80), plugins=loaded)
    stopped = tmp_path / "stopped"
    stop_at_12 = 'train.callbacks=["metrics", {name = "signal-at", step = 12}]'
    with pytest.raises(RunInterrupted) as info:
        run_recipe(tiny_recipe(stopped, *settings, stop_at_12, rows=80), plugins=loaded)
    assert info.value.step == 13
    result = run_recipe(tiny_recipe(stopped, *settings, rows=80), plugins=loaded, resume=True)
    assert result.global_step == 14
    same_adapter(tmp_path / "reference" / "out", stopped / "out")


def test_under_two_processes_a_skipped_epoch_still_tells_the_sampler_its_epoch():
    """What a resumed epoch does to the data loader of process 1 of 2, without the processes."""
    from accelerate.data_loader import prepare_data_loader, skip_first_batches
    from torch.utils.data import DataLoader

    from loraforge.engine.train import EpochSampler, reach_sampler

    sampler = EpochSampler(16, seed=3)
    loader = prepare_data_loader(DataLoader(list(range(16)), sampler=sampler, batch_size=2),
                                 num_processes=2, process_index=1, put_on_device=False)
    reach_sampler(loader, sampler)
    resumed = skip_first_batches(loader, 2)  # as the Trainer does, then tells it the epoch
    resumed.set_epoch(3)
    order = sampler.order(3)
    batches = [order[i:i + 2] for i in range(0, 16, 2)]
    # process 1 takes every other batch of epoch 3's order; the first two of those are skipped
    assert [batch.tolist() for batch in resumed] == batches[1::2][2:]

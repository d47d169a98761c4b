"""SIGINT and SIGTERM stop a run after a step with a checkpoint; a second Ctrl-C stops at once.

The signals here are real ones, sent by a throwaway callback to the test's
own process in the middle of a run.
"""

from __future__ import annotations

import signal

import pytest
from throwaway_callbacks import ThrowawayCallbacks
from tiny_runs import events, plugins, recipe, run_record

from loraforge.cli import main
from loraforge.engine import checkpoints
from loraforge.engine.run import run_recipe
from loraforge.engine.signals import RunInterrupted
from loraforge.plugins import get_plugins

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded():
    return plugins()


def signal_at(step: int, name: str = "SIGINT", times: int = 1) -> str:
    return (f'train.callbacks=["metrics", {{name = "signal-at", step = {step}, '
            f'signal = "{name}", times = {times}}}]')


def test_sigint_ends_the_run_after_a_step_with_a_complete_checkpoint(tmp_path, loaded):
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(RunInterrupted) as info:
        run_recipe(recipe(tmp_path, signal_at(3)), plugins=loaded)
    stop = info.value
    assert (stop.signal_name, stop.exit_code) == ("SIGINT", 130)
    # the signal came while step 3 was being logged: step 4 runs to its end, then it stops
    assert stop.step == 4
    assert signal.getsignal(signal.SIGINT) is before

    out = tmp_path / "out"
    complete, incomplete = checkpoints.scan(out)
    assert [c.step for c in complete] == [4] and incomplete == []
    assert stop.checkpoint == complete[0].path
    assert not (out / "adapter_model.safetensors").exists()
    record = run_record(out)
    assert record["status"] == "interrupted" and record["finished_at"] is None
    assert record["global_step"] == 4 and record["checkpoint"] == str(complete[0].path)
    last = events(out)[-1]
    assert last["event"] == "end" and last["status"] == "interrupted" and last["global_step"] == 4


def test_a_second_sigint_stops_at_once_without_a_checkpoint(tmp_path, loaded):
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe(tmp_path, signal_at(3, times=2)), plugins=loaded)
    out = tmp_path / "out"
    assert checkpoints.scan(out) == ([], [])
    record = run_record(out)
    assert record["status"] == "interrupted" and record["global_step"] == 3
    assert events(out)[-1]["status"] == "interrupted"


@pytest.fixture
def cli_with_throwaways():
    registered = get_plugins()
    registered.register(ThrowawayCallbacks(), "throwaway")
    yield
    registered.unregister("throwaway")


def test_the_command_exits_143_on_sigterm_says_how_to_resume_and_resumes(
        tmp_path, capsys, cli_with_throwaways):
    path = str(tmp_path / "recipe.toml")
    recipe(tmp_path)  # writes the recipe file
    assert main(["run", path, "--set", signal_at(2, "SIGTERM")]) == 143
    err = " ".join(capsys.readouterr().err.split())
    assert "stopped by SIGTERM at step 3" in err
    assert f"loraforge run {path} --set " in err and "--resume" in err

    assert main(["run", path, "--resume"]) == 0
    record = run_record(tmp_path / "out")
    assert record["status"] == "finished" and record["global_step"] == 10
    assert record["resumed_from"]["step"] == 3
    begins = [e for e in events(tmp_path / "out") if e["event"] == "begin"]
    assert [b["resumed_from_step"] for b in begins] == [0, 3]
    # the loss of the whole run, the three steps before the checkpoint included
    losses = {e["step"]: e["loss"] for e in events(tmp_path / "out") if e["event"] == "log"}
    assert sorted(losses) == list(range(1, 11))
    assert record["train_loss"] == pytest.approx(sum(losses.values()) / 10, rel=1e-6)


def test_a_second_ctrl_c_still_says_how_to_resume_from_the_last_checkpoint(
        tmp_path, capsys, cli_with_throwaways):
    path = str(tmp_path / "recipe.toml")
    recipe(tmp_path)
    assert main(["run", path, "--set", "train.save_steps=2", "--set",
                 signal_at(3, times=2)]) == 130
    err = " ".join(capsys.readouterr().err.split())
    checkpoint = tmp_path / "out" / "checkpoints" / "checkpoint-2"
    assert f"the newest checkpoint is in {checkpoint} (step 2)" in err
    assert f"loraforge run {path} --set train.save_steps=2 --set " in err and "--resume" in err

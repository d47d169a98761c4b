"""The events of a run: documented, versioned, written as JSON lines by ``run --events``."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from tiny_runs import recipe

from loraforge.cli import main
from loraforge.events import EVENT_TYPES, EVENTS_VERSION, PHASES, RunEnded, StepLogged

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")


def section(kind: str) -> str:
    match = re.search(rf"^### `{kind}`\n(.*?)(?=^#)", DOC, re.S | re.M)
    assert match, f"docs/events.md has no section for the event {kind!r}"
    return match.group(1)


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_kind_of_event_and_each_of_its_fields_is_documented(kind):
    text = section(kind)
    for field in dataclasses.fields(EVENT_TYPES[kind]):
        if field.name != "time":
            assert f"`{field.name}`" in text, f"docs/events.md: {kind} lacks `{field.name}`"


def test_the_documented_version_and_phases_are_the_codes():
    assert f"now `{EVENTS_VERSION}`" in DOC
    documented = re.findall(r"^\| `(\w+)` \| ", DOC.split("## The phases")[1], re.M)
    assert documented == list(PHASES)


def test_an_event_is_one_json_object_with_the_version_kind_and_time():
    line = StepLogged(3, 10, {"loss": float("nan"), "learning_rate": 1e-4}, time=12.5).to_dict()
    assert line == {"v": EVENTS_VERSION, "event": "step", "time": 12.5, "step": 3,
                    "max_steps": 10, "metrics": {"loss": None, "learning_rate": 1e-4}}
    assert json.loads(json.dumps(line, allow_nan=False)) == line  # strict JSON: no NaN
    assert RunEnded("finished").to_dict()["event"] == "run_ended"


@pytest.mark.slow
def test_run_events_to_standard_output_hold_only_json_and_every_kind_is_documented(
        tmp_path, capsys):
    path = tmp_path / "recipe.toml"
    recipe(tmp_path, 'train.callbacks=["console", "metrics"]', "train.max_steps=3",
           "data.eval_fraction=0.1")
    assert main(["run", str(path), "--set", "train.max_steps=3", "--set",
                 'train.callbacks=["console", "metrics"]', "--set", "data.eval_fraction=0.1",
                 "--events", "-"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]  # nothing but JSON lines
    kinds = {line["event"] for line in lines}
    assert {"run_started", "phase_started", "phase_finished", "train_started", "step",
            "evaluated", "checkpoint_saved", "run_ended"} <= kinds
    assert kinds <= set(EVENT_TYPES)
    for kind in kinds:
        section(kind)
    assert lines[-1]["event"] == "run_ended" and lines[-1]["status"] == "finished"
    steps = [line for line in lines if line["event"] == "step"]
    # the epochs at the end, whichever step was logged last
    assert lines[-1]["epoch"] == pytest.approx(steps[-1]["metrics"]["epoch"] * 3 /
                                               steps[-1]["step"], abs=1e-3)
    # the human log went to standard error: the engine's lines and the console callback's
    assert "› LoRA r=4 on q_proj, v_proj" in err and "finished 3 steps" in err
    # the output folder holds the same stream
    saved = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text()
             .splitlines()]
    assert [line["event"] for line in saved] == [line["event"] for line in lines][1:]


@pytest.mark.slow
def test_run_events_to_a_file_and_a_failure_with_its_kind_message_and_hint(tmp_path, capsys):
    path = tmp_path / "recipe.toml"
    recipe(tmp_path)
    events = tmp_path / "events.jsonl"
    assert main(["run", str(path), "--set", 'data.formatter="nonesuch"',
                 "--events", str(events)]) == 2
    ended = json.loads(events.read_text().splitlines()[-1])
    assert ended["event"] == "run_ended" and ended["status"] == "failed"
    assert ended["phase"] == "plugins"
    assert ended["error"]["kind"] == "RecipeError"
    assert "no dataset formatter is named 'nonesuch'" in ended["error"]["message"]
    assert ended["error"]["hint"]
    assert "Invalid recipe" in capsys.readouterr().err  # the panel, as without --events


def test_an_events_file_that_cannot_be_written_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "recipe.toml"
    recipe(tmp_path)
    assert main(["run", str(path), "--events", str(tmp_path / "no" / "such" / "events.jsonl")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--events: cannot write the events to" in err and "Traceback" not in err

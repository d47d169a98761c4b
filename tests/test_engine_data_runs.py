"""Whole runs on the tiny LLaMA with the shipped instruction and chat recipes, and with bad rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from loraforge.engine.run import run_recipe
from loraforge.plugins import Plugins
from loraforge.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def builtins():
    plugins = Plugins()
    plugins.load_entry_points(["llama", "targets", "formatters", "callbacks"])
    return plugins


def run(path, tmp_path, builtins, *overrides):
    recipe = load_recipe(path, [f'output.dir="{tmp_path / "out"}"', "train.max_steps=2",
                                'train.callbacks=["metrics"]', *overrides])
    result = run_recipe(recipe, plugins=builtins)
    return result, json.loads((result.output_dir / "run.json").read_text())


def test_the_instruction_recipe_trains_and_evaluates_the_held_out_rows(tmp_path, builtins):
    result, record = run(RECIPES / "tiny-instructions.toml", tmp_path, builtins)
    assert result.global_step == 2 and math.isfinite(result.train_loss)
    train, held_out = record["data"]["train"], record["data"]["eval"]
    assert train["samples"] + held_out["samples"] == 312 and held_out["samples"] == 16
    assert 0 < train["trained_tokens"] < train["tokens"]
    assert math.isfinite(record["eval_metrics"]["eval_loss"])
    events = [json.loads(line) for line in (result.output_dir / "metrics.jsonl").open()]
    assert any("eval_loss" in json.dumps(event) for event in events)


def test_the_chat_recipe_trains_on_packed_conversations(tmp_path, builtins):
    result, record = run(RECIPES / "tiny-chat.toml", tmp_path, builtins)
    assert result.global_step == 2 and math.isfinite(result.train_loss)
    data = record["data"]
    assert data["train"]["samples"] == 300 and 0 < data["packed_blocks"] < 300


def test_bad_and_long_rows_are_counted_in_run_json(tmp_path, builtins, capsys):
    rows = [{"prompt": f"Question {i}?", "completion": f" Answer {i}."} for i in range(12)]
    rows[3] = {"prompt": "Where is the answer?", "completion": ""}
    rows[7] = {"prompt": "Long? " * 40, "completion": " Yes."}
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")
    recipe = RECIPES / "tiny-instructions.toml"
    result, record = run(recipe, tmp_path, builtins, f'data.path="{data}"',
                         'data.formatter="prompt_completion"', "data.max_length=32",
                         'data.on_bad_rows="skip"', 'data.on_long_rows="drop"',
                         "data.eval_fraction=0.2", "data.shuffle=false")
    train = record["data"]["train"]
    assert train["bad_rows"] == 2 and train["long_rows"] == 1
    assert train["long_rows_action"] == "dropped"
    assert any("qa.jsonl, row 4, column 'completion'" in b for b in train["bad_row_examples"])
    assert any("qa.jsonl, row 13: line 13 is not valid JSON" in b for b in train["bad_row_examples"])
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped 2 bad rows" in err and "1 sample was longer" in err and "was dropped" in err

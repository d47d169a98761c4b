"""The callback that does real work in docs/plugins/callbacks.md runs, and leaves the run as it was."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "plugins" / "callbacks.md"

pytestmark = pytest.mark.slow


def example_module(tmp_path):
    """The page's listing, imported as a module."""
    text = PAGE.read_text(encoding="utf-8")
    (code,) = re.findall(r"<!-- example: sample_text.py -->\n```python\n(.*?)```", text, re.S)
    path = tmp_path / "sample_text.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("sample_text", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sampling_callback_reads_the_recipe_model_and_tokenizer(tmp_path, register_plugin,
                                                                   run_recipe):
    register_plugin(example_module(tmp_path), "sample-text")
    plain = run_recipe()
    sampled = run_recipe({"train": {"callbacks": [{"name": "sample-text", "prompt": "A film",
                                                   "max_new_tokens": 4}]}})
    lines = [json.loads(line) for line in
             (sampled.output_dir / "samples.jsonl").read_text().splitlines()]
    header, samples = lines[0], lines[1:]
    assert header["recipe"]["model"]["loader"]["name"] == "tiny-llama"
    assert header["trainable_parameters"] > 0
    assert [s["step"] for s in samples] == [1, 2]
    assert all(s["prompt"] == "A film" and s["text"].strip() for s in samples)
    # read-only by contract: sampling on the way changed nothing of the training
    assert sampled.train_loss == pytest.approx(plain.train_loss, abs=0, rel=0)
    record = json.loads((sampled.output_dir / "run.json").read_text())
    assert record.get("callback_errors", []) == []

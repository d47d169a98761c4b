"""``loraforge inspect``, ``estimate`` and ``doctor`` from the command line, on real configs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loraforge.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "benchmarks" / "configs"
pytestmark = pytest.mark.slow


def err_of(capsys) -> str:
    return " ".join(capsys.readouterr().err.replace("│", " ").split())


def checkpoint(tmp_path: Path, config: str) -> Path:
    folder = tmp_path / config.removesuffix(".json")
    folder.mkdir()
    shutil.copy(CONFIGS / config, folder / "config.json")
    return folder


def test_inspect_a_7b_config_reads_no_weights_and_counts_what_lora_trains(tmp_path, capsys):
    folder = checkpoint(tmp_path, "llama-2-7b.json")
    assert main(["inspect", "--model", str(folder), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["architecture"] == "LlamaForCausalLM" and found["layers"] == 32
    assert found["parameters"] == 6_738_415_616
    q_proj = next(g for g in found["linear"] if g["name"] == "q_proj")
    assert (q_proj["count"], q_proj["shapes"]) == (32, [[4096, 4096]])
    by_selector = {s["selector"]: s for s in found["selections"]}
    # r = 8 on q and v in 32 layers: 8 × (4096 + 4096) × 2 × 32
    assert by_selector["auto"]["trainable"] == 4_194_304
    assert by_selector["auto"]["adapter_bytes"] == 4_194_304 * 4
    assert by_selector["all-linear"]["trainable"] > by_selector["attention"]["trainable"]


def test_estimate_a_7b_recipe_for_a_card_lists_the_fixes_when_it_does_not_fit(tmp_path, capsys):
    folder = checkpoint(tmp_path, "llama-2-7b.json")
    code = main(["estimate", str(ROOT / "recipes" / "llama-7b-imdb-8bit.toml"), "--set",
                 f'model.path="{folder}"', "--set", "train.gradient_checkpointing=false",
                 "--set", "train.batch_size=8", "--gpu", "RTX 3060", "--json"])
    found = json.loads(capsys.readouterr().out)
    assert code == 1 and found["gpu"]["fits"] is False
    assert [p["name"] for p in found["parts"]] == [
        "base weights", "LoRA weights", "LoRA gradients", "optimizer states", "activations",
        "logits and loss", "allocator reserve", "CUDA context"]
    assert found["fixes"] and all(f["total_bytes"] <= 12 * 2**30 for f in found["fixes"])
    assert {c["name"] for c in found["cards"]} >= {"RTX 3060", "RTX 4090", "H200"}


def test_bad_input_to_estimate_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    recipe = ROOT / "recipes" / "llama-7b-imdb-8bit.toml"
    assert main(["estimate", str(recipe), "--set", f'model.path="{empty}"']) == 2
    assert "has no config.json" in err_of(capsys)
    assert main(["estimate", str(ROOT / "recipes" / "quickstart.toml"), "--gpu", "RTX 9999"]) == 2
    err = err_of(capsys)
    assert "no GPU is called 'RTX 9999'" in err and "RTX 3060" in err and "Traceback" not in err


def test_doctor_says_what_this_machine_runs_and_whether_it_runs_the_recipe(capsys):
    code = main(["doctor", str(ROOT / "recipes" / "quickstart.toml")])
    out = " ".join(capsys.readouterr().out.split())
    assert "python" in out and "torch" in out and "bitsandbytes 8bit" in out
    assert "disk: cache" in out and "hub" in out and "a token is" in out
    assert "This machine can run the recipe." in out and code == 0

"""Merged models: stock checkpoints that load without loraforge, equal to base + adapter."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig

import pytest
import torch
from tiny_runs import REVIEWS, labelled_recipe, write_recipe
from tiny_runs import plugins as tiny_plugins

from loraforge.after.merge import merge_run
from loraforge.after.models import load_trained
from loraforge.after.runs import open_run
from loraforge.cli import main
from loraforge.engine.run import run_recipe
from loraforge.recipe import load_recipe

pytestmark = pytest.mark.usefixtures("wide_terminal")

PROMPTS = ["Review: A superb, moving film.\nSentiment:", "Review: Dull and far too long.\nSentiment:",
           "The weather today is"]
# loads each merged model with nothing but the installed libraries: no loraforge, no peft
# needed, and site-packages' .pth files (where an editable loraforge hooks in) left unread
STOCK_LOAD = """
import json, sys
sys.path.append({site!r})
try:
    import loraforge
    raise SystemExit("loraforge is importable")
except ImportError:
    pass
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
out = {{}}
for folder in {folders!r}:
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        out[folder] = [model(input_ids=torch.tensor([tokenizer.encode(p)])).logits[0, -1].tolist()
                       for p in {prompts!r}]
print(json.dumps(out))
"""


def stock_logits(folders: list[str]) -> dict[str, torch.Tensor]:
    code = STOCK_LOAD.format(site=sysconfig.get_paths()["purelib"], folders=folders,
                             prompts=PROMPTS)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                          text=True, timeout=300, cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    return {k: torch.tensor(v) for k, v in json.loads(done.stdout.splitlines()[-1]).items()}


def logits(model, tokenizer) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack([model(input_ids=torch.tensor([tokenizer.encode(p)])).logits[0, -1]
                            for p in PROMPTS])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Ten steps of the labelled recipe on the base in full precision, 8-bit and 4-bit."""
    found = {}
    for bits in ("none", "8bit", "4bit"):
        folder = tmp_path_factory.mktemp(f"merge-{bits}")
        recipe = labelled_recipe(REVIEWS, folder / "out")
        recipe["model"]["quantization"] = bits
        recipe["train"]["max_steps"] = 10
        run_recipe(load_recipe(write_recipe(folder, recipe)), plugins=tiny_plugins())
        found[bits] = open_run(folder / "out")
    return found


@pytest.fixture(scope="module")
def merged(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("merged")
    out = {bits: merge_run(run, folder / bits).out_dir for bits, run in runs.items()}
    out["4bit-rounded"] = merge_run(runs["4bit"], folder / "4bit-rounded", rounded=True).out_dir
    out["none-sharded"] = merge_run(runs["none"], folder / "none-sharded",
                                    max_shard_bytes=1 << 20).out_dir
    return out


@pytest.fixture(scope="module")
def loaded(merged):
    return stock_logits([str(path) for path in merged.values()])


def full_precision(run):
    """The base in float32 with the adapter on it, through peft."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(run.record["base_model"]["path"])
    model = PeftModel.from_pretrained(base, str(run.adapter)).eval()
    return logits(model, AutoTokenizer.from_pretrained(str(run.adapter)))


@pytest.mark.parametrize("bits", ["none", "8bit", "4bit"])
def test_a_merged_model_loads_without_loraforge_and_equals_base_plus_adapter(
        bits, runs, merged, loaded):
    got = loaded[str(merged[bits])]
    assert (got - full_precision(runs[bits])).abs().max() < 1e-4


def test_a_merged_model_is_written_in_shards_of_at_most_the_size_asked(runs, merged, loaded):
    folder = merged["none-sharded"]
    shards = sorted(folder.glob("model-*-of-*.safetensors"))
    assert len(shards) > 2 and not (folder / "model.safetensors").exists()
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == {path.name for path in shards}
    # a shard holds one tensor larger than the limit, or tensors adding up to no more than it
    header_bytes = 64 * 1024
    assert all(path.stat().st_size <= (1 << 20) + header_bytes or len(
        [k for k, v in index["weight_map"].items() if v == path.name]) == 1 for path in shards)
    assert torch.equal(loaded[str(folder)], loaded[str(merged["none"])])


def test_merging_a_4bit_run_into_its_rounded_base_reproduces_what_was_trained(runs, merged, loaded):
    trained = load_trained(runs["4bit"])
    assert trained.quantized
    as_trained = logits(trained.model, trained.tokenizer)
    assert (loaded[str(merged["4bit-rounded"])] - as_trained).abs().max() < 1e-4
    # the full-precision merge is what the adapter would do on the unrounded base: further off
    assert (loaded[str(merged["4bit"])] - as_trained).abs().max() > 1e-2


def test_the_merged_folder_is_a_stock_checkpoint_with_a_model_card(runs, merged):
    folder = merged["none"]
    files = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "README.md"} <= files
    assert not any(name.startswith("adapter_") for name in files)
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 2
    card = (folder / "README.md").read_text()
    run = runs["none"]
    for named in (run.record["base_model"]["path"], str(run.adapter), "[data.formatter]",
                  "transformers", "peft", "loraforge"):
        assert named in card


def test_merge_refuses_a_folder_that_is_not_empty_unless_told(runs, tmp_path, capsys):
    out = tmp_path / "merged"
    run = str(runs["none"].folder)
    assert main(["merge", run, str(out)]) == 0
    assert main(["merge", run, str(out), "--dtype", "bfloat16"]) == 2
    assert "is not empty" in " ".join(capsys.readouterr().err.split())
    assert json.loads((out / "config.json").read_text())["dtype"] == "float32"
    assert main(["merge", run, str(out), "--overwrite", "--dtype", "bfloat16"]) == 0
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert f"merged model saved in {out}" in capsys.readouterr().out


def test_overwrite_replaces_only_a_merged_model(runs, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    run = str(runs["none"].folder)
    assert main(["merge", run, str(out)]) == 2
    assert "is not empty" in " ".join(capsys.readouterr().err.split())
    assert main(["merge", run, str(out), "--overwrite"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no merge wrote" in err and "notes.txt" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_merge_never_writes_over_the_run_it_reads(runs, capsys):
    run = runs["none"].folder
    assert main(["merge", str(run), str(run.parent), "--overwrite"]) == 2
    assert "which the merge reads" in " ".join(capsys.readouterr().err.split())
    assert (run / "adapter_model.safetensors").is_file()


def test_rounding_is_only_for_runs_on_a_quantized_base(runs, tmp_path, capsys):
    assert main(["merge", str(runs["none"].folder), str(tmp_path / "m"), "--rounded-base"]) == 2
    assert "trained in full precision" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "m").exists()


def test_a_merge_that_needs_a_missing_package_says_so_and_writes_nothing(
        runs, tmp_path, monkeypatch, capsys):
    # bitsandbytes uninstalled: importing it fails
    for name in [m for m in sys.modules if m == "bitsandbytes" or m.startswith("bitsandbytes.")]:
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "new" / "merged"
    assert main(["merge", str(runs["4bit"].folder), str(out), "--rounded-base"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Missing package" in err and "bitsandbytes" in err and "Traceback" not in err
    # loading the run as it trained, quantized, needs it too
    answers = tmp_path / "answers.jsonl"
    assert main(["generate", str(runs["8bit"].folder), "--prompt", "Fine.", "--out",
                 str(answers)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "8bit quantization needs bitsandbytes" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_merge_that_fails_midway_leaves_no_folder_behind(runs, tmp_path, capsys):
    import shutil

    run = tmp_path / "dora-run"
    shutil.copytree(runs["none"].folder, run)
    config = json.loads((run / "adapter_config.json").read_text())
    (run / "adapter_config.json").write_text(json.dumps({**config, "use_dora": True}))
    out = tmp_path / "merged" / "deeper" / "model"
    assert main(["merge", str(run), str(out)]) == 2
    assert "DoRA" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "merged").exists()


def test_an_unknown_dtype_is_one_panel_naming_the_dtype_meant(runs, tmp_path, capsys):
    out = tmp_path / "merged"
    assert main(["merge", str(runs["none"].folder), str(out), "--dtype", "fp16"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--dtype: unknown dtype 'fp16'" in err and "float16" in err and "usage:" not in err
    assert not out.exists()

"""A whole run on the tiny LLaMA: what it trains, what it writes, and that the adapter is stock PEFT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from loraforge.components import DatasetFormatter, Sample, TrainingCallback
from loraforge.engine.run import run_recipe
from loraforge.hookspecs import hookimpl
from loraforge.plugins import Plugins
from loraforge.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "recipes" / "data" / "reviews.jsonl"
BUILTINS = ["llama", "targets", "formatters", "callbacks"]

RECIPE = f"""
[model]
loader = "tiny-llama"

[lora]
r = 4
alpha = 8
targets = "qv"

[data]
path = "{DATA}"
max_length = 48

[data.formatter]
name = "template"
template = "Review: {{text}} Label: {{label}}"

[train]
max_steps = 12
batch_size = 8
learning_rate = 3e-3
logging_steps = 2
device = "cpu"
callbacks = ["metrics"]
"""


def load(tmp_path, *overrides):
    path = tmp_path / "recipe.toml"
    path.write_text(RECIPE)
    return load_recipe(path, [f'output.dir="{tmp_path / "out"}"', *overrides])


@pytest.fixture(scope="module")
def builtins():
    plugins = Plugins()
    plugins.load_entry_points(BUILTINS)
    return plugins


@pytest.fixture(scope="module")
def finished(tmp_path_factory, builtins):
    tmp_path = tmp_path_factory.mktemp("run")
    result = run_recipe(load(tmp_path), plugins=builtins)
    return result


def test_run_writes_a_complete_output_dir(finished):
    out = finished.output_dir
    for name in ("adapter_model.safetensors", "adapter_config.json", "recipe.toml",
                 "run.json", "metrics.jsonl", "tokenizer.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*partial*"))
    record = json.loads((out / "run.json").read_text())
    assert record["finished_at"] and record["started_at"]
    assert record["global_step"] == 12
    assert record["trainable_parameters"] == finished.trainable_parameters
    assert record["packages"]["torch"] == torch.__version__.split("+")[0] or record["packages"]["torch"]
    assert set(BUILTINS) <= set(record["plugins"])
    assert record["components"]["model.loader"] == "tiny-llama (llama)"


def test_resolved_recipe_reloads_to_the_same_settings(finished, tmp_path):
    again = load_recipe(finished.output_dir / "recipe.toml")
    assert again.lora.targets.name == "qv"
    assert again.train.max_steps == 12
    assert again.data.formatter.options["template"] == "Review: {text} Label: {label}"


def test_metrics_record_a_falling_loss(finished):
    lines = [json.loads(line) for line in (finished.output_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in lines if e.get("event") == "log" and "loss" in e]
    assert len(losses) >= 4
    assert losses[-1] < losses[0]


def test_only_targeted_modules_get_lora_and_counts_match_peft(finished):
    model = finished.model
    wrapped = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
               if hasattr(module, "lora_A")}
    assert wrapped == {"q_proj", "v_proj"}
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    trainable, _ = model.get_nb_trainable_parameters()
    assert finished.trainable_parameters == trainable == counted
    config = model.base_model.model.config
    layers, hidden = config.num_hidden_layers, config.hidden_size
    kv = config.num_key_value_heads * hidden // config.num_attention_heads
    r = 4
    assert counted == layers * (r * (hidden + hidden) + r * (hidden + kv))


def test_saved_adapter_reloads_with_stock_peft_to_the_same_logits(finished, builtins):
    from peft import PeftModel

    from loraforge.recipe import ModelSection

    loader = builtins.registry.create("loader", "tiny-llama", {}, where="model.loader")
    base = loader.load(ModelSection()).model
    reloaded = PeftModel.from_pretrained(base, str(finished.output_dir))
    ids = finished.tokenizer("Review: a quiet, lovely film Label:", return_tensors="pt").input_ids
    finished.model.eval()
    reloaded.eval()
    with torch.no_grad():
        expected = finished.model(input_ids=ids).logits
        actual = reloaded(input_ids=ids).logits
    assert torch.equal(expected, actual)
    # and the adapter did something: it differs from the base model alone
    with reloaded.disable_adapter(), torch.no_grad():
        assert not torch.allclose(reloaded(input_ids=ids).logits, actual)


class Recorder(TrainingCallback):
    name = "recorder"
    events: list[str] = []

    def on_begin(self, run):
        Recorder.events.append(f"begin {run.max_steps}")

    def on_log(self, step, logs):
        Recorder.events.append(f"log {step}")

    def on_end(self, summary):
        Recorder.events.append(f"end {summary['global_step']}")


class Reversed(DatasetFormatter):
    name = "reversed"

    def columns(self):
        return {"text"}

    def format(self, row):
        return Sample.of_prompt("Backwards: ", row["text"][::-1])


class Throwaway:
    @hookimpl
    def register_callbacks(self, register):
        register(Recorder)

    @hookimpl
    def register_dataset_formatters(self, register):
        register(Reversed)


@pytest.fixture
def with_throwaway(builtins):
    builtins.register(Throwaway(), "throwaway")
    yield builtins
    builtins.unregister("throwaway")


def test_a_throwaway_plugin_is_usable_from_a_recipe(tmp_path, with_throwaway):
    Recorder.events.clear()
    recipe = load(tmp_path, 'data.formatter="reversed"', 'train.callbacks=["recorder"]',
                  "train.max_steps=2", "train.logging_steps=1")
    result = run_recipe(recipe, plugins=with_throwaway)
    assert result.global_step == 2
    assert Recorder.events == ["begin 2", "log 1", "log 2", "end 2"]
    record = json.loads((result.output_dir / "run.json").read_text())
    assert record["components"]["data.formatter"] == "reversed (throwaway)"


@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_quantized_base_trains_through_the_engine(tmp_path, builtins, bits):
    recipe = load(tmp_path, f'model.quantization="{bits}"', "train.max_steps=10",
                  "train.learning_rate=1e-2")
    result = run_recipe(recipe, plugins=builtins)
    record = json.loads((result.output_dir / "run.json").read_text())
    assert record["quantized"] is True
    import bitsandbytes as bnb

    layer = bnb.nn.Linear8bitLt if bits == "8bit" else bnb.nn.Linear4bit
    assert any(isinstance(m, layer) for m in result.model.modules())
    lines = [json.loads(line) for line in (result.output_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in lines if e.get("event") == "log" and "loss" in e]
    assert losses[-1] < losses[0]


def test_the_first_run_on_a_machine_trains_the_same_adapter_as_later_ones(
        tmp_path, builtins, monkeypatch):
    """The first run builds the tiny model into an empty cache; the second finds it there."""
    from safetensors.torch import load_file

    monkeypatch.setenv("LORAFORGE_CACHE", str(tmp_path / "cache"))
    adapters = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        result = run_recipe(load(tmp_path / name, "train.max_steps=1"), plugins=builtins)
        adapters.append(load_file(result.output_dir / "adapter_model.safetensors"))
    first, second = adapters
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key

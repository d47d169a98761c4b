"""The llama plugin: the tiny offline model, the loaders, and loading in full precision, 8-bit and 4-bit."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from _loraforge_llama import tiny
from _loraforge_llama.loading import load_causal_lm
from _loraforge_llama.tiny import build_tiny_llama, tiny_llama_path
from loraforge.errors import ModelError
from loraforge.plugins import Plugins
from loraforge.recipe import ModelSection
from loraforge.registry import OptionsError

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Review: A charming comedy with a warm heart. Label: positive",
    "Water boils at one hundred degrees Celsius at sea level.",
    "User: What is the capital of France?",
]


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    plugins = Plugins()
    plugins.load_entry_points(["llama"])
    return plugins


def create_loader(plugins: Plugins, name: str, options: dict | None = None):
    return plugins.registry.create("loader", name, options or {}, where="model.loader")


@pytest.fixture(scope="module")
def loaded(plugins, tiny_llama_dir):
    return create_loader(plugins, "llama").load(ModelSection(path=str(tiny_llama_dir)))


def lora_trainer(loaded_model):
    """Wrap the model with LoRA as the engine does; return functions to train n steps and to evaluate."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    torch.manual_seed(0)
    tokenizer = loaded_model.tokenizer
    model = loaded_model.model
    if loaded_model.quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0,
        target_modules=loaded_model.default_targets, task_type="CAUSAL_LM",
    ))
    batch = tokenizer(TEXTS, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)

    def train(steps: int) -> list[float]:
        model.train()
        losses = []
        for _ in range(steps):
            loss = model(**batch, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        return losses

    def evaluate() -> float:
        model.eval()
        with torch.no_grad():
            return model(**batch, labels=labels).loss.item()

    return train, evaluate


def falling(losses: list[float]) -> bool:
    return all(later < earlier for earlier, later in zip(losses, losses[1:]))


# --- the tiny model ---------------------------------------------------------


def test_tiny_model_is_built_offline_into_the_cache(tiny_llama_dir):
    from loraforge.cache import cache_dir

    assert tiny_llama_dir.parent == cache_dir() / "models"
    files = {p.name for p in tiny_llama_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    config = json.loads((tiny_llama_dir / "config.json").read_text())
    assert config["model_type"] == "llama"
    sizes = [config["hidden_size"], config["intermediate_size"], config["vocab_size"]]
    assert all(size % 32 == 0 for size in sizes)


def test_tiny_model_is_reused_not_rebuilt(tiny_llama_dir, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("rebuilt a cached model")

    monkeypatch.setattr(tiny, "build_tiny_llama", fail)
    assert tiny_llama_path() == tiny_llama_dir
    # naming a default asks for the same model
    assert tiny_llama_path(hidden_size=128, seed=0) == tiny_llama_dir


def test_a_build_that_loses_the_race_uses_the_winners_model(tmp_path, monkeypatch):
    monkeypatch.setenv("LORAFORGE_CACHE", str(tmp_path))

    def winner_builds(directory, **options):
        (Path(directory) / "config.json").write_text('{"winner": true}')

    def loser_builds(directory, **options):
        # while this build runs, another process builds the same model and finishes first
        monkeypatch.setattr(tiny, "build_tiny_llama", winner_builds)
        tiny_llama_path(**options)
        (Path(directory) / "config.json").write_text('{"winner": false}')

    monkeypatch.setattr(tiny, "build_tiny_llama", loser_builds)
    path = tiny_llama_path(layers=1)

    assert json.loads((path / "config.json").read_text()) == {"winner": True}
    assert [p.name for p in (tmp_path / "models").iterdir()] == [path.name]  # no leftovers


def test_building_the_tiny_model_leaves_the_callers_random_state_alone(tmp_path):
    # a run seeds, then its loader builds the model on first use: the run's draws must not change
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    build_tiny_llama(tmp_path, hidden_size=32, layers=1, vocab_size=300)
    assert torch.equal(torch.get_rng_state(), before)


def test_tiny_shapes_must_split_into_heads(tmp_path):
    with pytest.raises(ValueError, match="heads"):
        build_tiny_llama(tmp_path, hidden_size=90, heads=4)


# --- the tokenizer ----------------------------------------------------------


@pytest.mark.parametrize("text", [
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces,\ttabs and\nnewlines  ",
    "Unseen words: zyzzyva, quokka; numbers 1234567 and 3.14159.",
    "Unicode: café, naïve, Straße, 東京, 🙂",
])
def test_tokenizer_round_trips_text(loaded, text):
    tokenizer = loaded.tokenizer
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.unk_token_id not in ids  # byte-level: nothing is unknown
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_tokenizer_has_llama_special_tokens_and_a_chat_template(loaded):
    tokenizer = loaded.tokenizer
    assert (tokenizer.unk_token, tokenizer.bos_token, tokenizer.eos_token) == ("<unk>", "<s>", "</s>")
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert len(tokenizer) <= loaded.model.config.vocab_size
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
        tokenize=False,
    )
    assert chat == "<s>user: Hi\nassistant: Hello!</s>\n"


def test_missing_pad_token_becomes_unk(loaded, tiny_llama_dir):
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tiny_llama_dir).pad_token is None
    tokenizer = loaded.tokenizer
    assert tokenizer.pad_token == "<unk>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert loaded.model.config.pad_token_id == tokenizer.pad_token_id
    batch = tokenizer(["short", "a somewhat longer sentence"], padding=True)
    assert batch["input_ids"][0][-1] == tokenizer.pad_token_id
    assert batch["attention_mask"][0][-1] == 0


def test_missing_pad_token_becomes_eos_without_unk(tiny_llama_dir, tmp_path):
    checkpoint = tmp_path / "no-unk"
    shutil.copytree(tiny_llama_dir, checkpoint)
    config_file = checkpoint / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    del config["unk_token"]
    config_file.write_text(json.dumps(config))

    tokenizer = load_causal_lm(checkpoint, ModelSection()).tokenizer

    assert tokenizer.unk_token is None
    assert tokenizer.pad_token == "</s>"


# --- the loaders ------------------------------------------------------------


def test_llama_loader_loads_through_the_registry(plugins, loaded):
    from transformers import LlamaForCausalLM

    assert plugins.registry.names("loader") == ["llama", "tiny-llama"]
    assert isinstance(loaded.model, LlamaForCausalLM)
    assert loaded.default_targets == ["q_proj", "v_proj"]
    assert not loaded.quantized
    assert loaded.model.dtype == torch.float32  # "auto" on the CPU
    ids = loaded.tokenizer("Hello there", return_tensors="pt")["input_ids"]
    assert loaded.model(ids).logits.shape == (1, ids.shape[1], loaded.model.config.vocab_size)


def test_llama_loader_recognises_llama_configs_only(plugins, tiny_llama_dir):
    loader = create_loader(plugins, "llama")
    assert loader.handles(json.loads((tiny_llama_dir / "config.json").read_text()))
    assert loader.handles({"architectures": ["LlamaForCausalLM"]})
    assert not loader.handles({"model_type": "mistral", "architectures": ["MistralForCausalLM"]})
    assert not loader.handles({"model_type": "baichuan", "architectures": ["BaichuanForCausalLM"]})
    assert not loader.handles({})


def test_llama_loader_needs_a_path(plugins):
    with pytest.raises(ModelError) as error:
        create_loader(plugins, "llama").load(ModelSection())
    assert error.value.where == "model.path"


def test_tiny_llama_loader_builds_and_loads_the_cached_model(plugins, tiny_llama_dir):
    loader = create_loader(plugins, "tiny-llama")
    assert loader.description
    loaded = loader.load(ModelSection(path="ignored"))
    assert loaded.model.config.hidden_size == 128
    assert loaded.model.name_or_path == str(tiny_llama_dir)


def test_tiny_llama_options_are_checked(plugins):
    with pytest.raises(OptionsError) as error:
        create_loader(plugins, "tiny-llama", {"hidden_size": 100, "colour": "red"})
    problems = "\n".join(error.value.problems)
    assert "model.loader.hidden_size" in problems
    assert "model.loader.colour: unknown key" in problems


@pytest.mark.parametrize("path", ["./no-such-model", "/no/such/model", "models/tiny/llama", "~/no-such"])
def test_missing_local_directory_is_named(path):
    with pytest.raises(ModelError, match="no such directory") as error:
        load_causal_lm(path, ModelSection(path=path))
    assert error.value.where == "model.path"


def test_unreachable_hub_id_asks_for_a_local_path():
    with pytest.raises(ModelError, match="cannot be downloaded") as error:
        load_causal_lm("loraforge-tests/no-such-model", ModelSection())
    assert "local checkpoint directory" in error.value.hint


def test_a_folder_that_is_not_a_checkpoint_is_reported(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        load_causal_lm(tmp_path, ModelSection())


def test_remote_code_is_not_run_unless_trusted(tiny_llama_dir, tmp_path):
    checkpoint = tmp_path / "custom"
    checkpoint.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_llama_dir / name, checkpoint)
    (checkpoint / "config.json").write_text(json.dumps({
        "model_type": "custom",
        "auto_map": {"AutoConfig": "custom.CustomConfig", "AutoModelForCausalLM": "custom.Custom"},
    }))
    (checkpoint / "custom.py").write_text("raise SystemExit('remote code ran')\n")

    with pytest.raises(ModelError, match="modeling code") as error:
        load_causal_lm(checkpoint, ModelSection())
    assert error.value.where == "model.trust_remote_code"


def test_weights_are_read_from_safetensors(tiny_llama_dir, tmp_path):
    checkpoint = tmp_path / "both"
    shutil.copytree(tiny_llama_dir, checkpoint)
    (checkpoint / "pytorch_model.bin").write_bytes(b"not a pickle")
    assert load_causal_lm(checkpoint, ModelSection()).model is not None


def test_dtype_auto_is_float32_on_cpu_whatever_the_checkpoint(tiny_llama_dir, tmp_path):
    half = load_causal_lm(tiny_llama_dir, ModelSection(dtype="bfloat16"))
    assert half.model.dtype == torch.bfloat16
    checkpoint = tmp_path / "half"
    half.model.save_pretrained(checkpoint)
    half.tokenizer.save_pretrained(checkpoint)
    assert load_causal_lm(checkpoint, ModelSection()).model.dtype == torch.float32


# --- quantization -----------------------------------------------------------


def test_quantization_without_bitsandbytes_says_what_to_do(tiny_llama_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as if it were not installed
    with pytest.raises(ModelError, match="needs bitsandbytes") as error:
        load_causal_lm(tiny_llama_dir, ModelSection(quantization="8bit"))
    assert error.value.where == "model.quantization"
    assert 'quantization = "none"' in error.value.hint


def test_8bit_loads_on_cpu_and_lora_training_lowers_the_loss(tiny_llama_dir):
    import bitsandbytes as bnb

    loaded = load_causal_lm(tiny_llama_dir, ModelSection(quantization="8bit"))
    assert loaded.quantized
    assert any(isinstance(m, bnb.nn.Linear8bitLt) for m in loaded.model.modules())

    train, _ = lora_trainer(loaded)
    assert falling(train(6))


def test_4bit_keeps_training_after_an_evaluation_pass(tiny_llama_dir):
    import bitsandbytes as bnb

    loaded = load_causal_lm(tiny_llama_dir, ModelSection(quantization="4bit"))
    assert loaded.quantized
    layers = [m for m in loaded.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and not any(m.support_avx512bf16_for_cpu for m in layers)

    train, evaluate = lora_trainer(loaded)
    before = train(4)
    evaluated = evaluate()
    after = train(4)
    # Without the fix the loss after an evaluation stays exactly where it was.
    assert falling(before)
    assert after[0] == pytest.approx(evaluated, abs=1e-3)
    assert falling(after)


def test_4bit_works_with_sizes_that_are_not_multiples_of_32(tmp_path):
    # bitsandbytes' AVX512-BF16 inference kernel needs multiples of 32; with it
    # turned off, as the loader does, any size quantizes, trains and evaluates.
    # pretraining is beside the point here: the sizes are
    checkpoint = build_tiny_llama(tmp_path / "odd", hidden_size=80, layers=1, pretrain_steps=0)
    loaded = load_causal_lm(checkpoint, ModelSection(quantization="4bit"))
    assert loaded.model.config.hidden_size % 32 != 0

    train, evaluate = lora_trainer(loaded)
    train(2)
    evaluate()
    assert falling(train(3))


def test_the_tiny_model_is_pretrained_to_write_the_english_it_was_shown(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    ids = tokenizer("The weather today is", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=0)
    assert tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).startswith(
        " sunny with a light breeze")

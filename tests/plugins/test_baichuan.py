"""The baichuan loader: variants recognised, 7B converted to LLaMA exactly, 13B only on opt-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from baichuan_fixtures import (
    CHAT_PIECES,
    LAYERS,
    SAMPLES,
    make_baichuan2_7b,
    make_baichuan_7b,
    real_config,
    train_sentencepiece,
)
from safetensors.torch import load_file, save_file

import _loraforge_baichuan.convert as convert_module
from _loraforge_baichuan import BaichuanLoader, detect_variant
from _loraforge_baichuan.variants import BAICHUAN2_CHAT_MARKERS, BAICHUAN_13B_CHAT_MARKERS
from loraforge.errors import ModelError
from loraforge.plugins import Plugins
from loraforge.recipe import ModelSection, load_recipe, recipe_from_dict
from loraforge.registry import OptionsError

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "baichuan-7b-imdb-8bit.toml"
REVIEWS = ROOT / "recipes" / "data" / "reviews.jsonl"
PLUGINS = ["baichuan", "llama", "targets", "formatters", "callbacks"]


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    """Conversions of this module's throwaway checkpoints go to a throwaway cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORAFORGE_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def plugins():
    plugins = Plugins()
    plugins.load_entry_points(PLUGINS)
    assert not plugins.failures
    return plugins


@pytest.fixture(scope="module")
def loader(plugins):
    return plugins.registry.create("loader", "baichuan", {}, where="model.loader")


@pytest.fixture(scope="module")
def sp_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentencepiece")
    return {
        "baichuan": train_sentencepiece(folder / "baichuan", baichuan2=False),
        "baichuan2": train_sentencepiece(folder / "baichuan2", baichuan2=True),
    }


@pytest.fixture(scope="module")
def baichuan_7b(tmp_path_factory, sp_models):
    return make_baichuan_7b(tmp_path_factory.mktemp("b1") / "Baichuan-7B", sp_models["baichuan"])


@pytest.fixture(scope="module")
def baichuan2_7b(tmp_path_factory, sp_models):
    return make_baichuan2_7b(tmp_path_factory.mktemp("b2") / "Baichuan2-7B", sp_models["baichuan2"])


@pytest.fixture(scope="module")
def loaded_7b(loader, baichuan_7b):
    return loader.load(ModelSection(path=str(baichuan_7b.path)))


@pytest.fixture(scope="module")
def loaded2_7b(loader, baichuan2_7b):
    return loader.load(ModelSection(path=str(baichuan2_7b.path)))


def ids_like(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(3, model.config.vocab_size, (2, 12), generator=generator)


# --- recognising the variants ------------------------------------------------------------


@pytest.mark.parametrize(
    "variant", ["baichuan-7b", "baichuan2-7b", "baichuan-13b", "baichuan2-13b"]
)
def test_released_configs_are_recognised(variant):
    config = real_config(variant)
    assert detect_variant(config).name == variant
    assert BaichuanLoader().handles(config)


def test_tiny_configs_are_recognised_by_architecture_name(baichuan_7b, baichuan2_7b):
    read = lambda c: json.loads((c.path / "config.json").read_text())  # noqa: E731
    assert detect_variant(read(baichuan_7b)).name == "baichuan-7b"
    assert detect_variant(read(baichuan2_7b)).name == "baichuan2-7b"


def test_other_models_are_not_claimed():
    for config in ({"architectures": ["LlamaForCausalLM"], "model_type": "llama"},
                   {"architectures": ["BaichuanM1ForCausalLM"], "model_type": "baichuan_m1"}, {}):
        assert detect_variant(config) is None
        assert not BaichuanLoader().handles(config)


def test_chat_markers_are_the_reserved_tokens():
    assert (BAICHUAN_13B_CHAT_MARKERS.user, BAICHUAN_13B_CHAT_MARKERS.assistant) == (
        "<reserved_102>", "<reserved_103>")
    assert (BAICHUAN2_CHAT_MARKERS.user, BAICHUAN2_CHAT_MARKERS.assistant) == (
        "<reserved_106>", "<reserved_107>")
    assert detect_variant(real_config("baichuan2-7b")).chat_markers == BAICHUAN2_CHAT_MARKERS
    assert detect_variant(real_config("baichuan-13b")).chat_markers == BAICHUAN_13B_CHAT_MARKERS


def test_options_are_checked(plugins):
    with pytest.raises(OptionsError, match="model.loader.varaint"):
        plugins.registry.create("loader", "baichuan", {"varaint": "auto"}, where="model.loader")
    with pytest.raises(OptionsError, match="model.loader.variant"):
        plugins.registry.create("loader", "baichuan", {"variant": "baichuan-70b"},
                                where="model.loader")


def test_the_variant_option_overrides_detection(plugins, baichuan2_7b):
    def load_as(variant):
        loader = plugins.registry.create("loader", "baichuan", {"variant": variant},
                                         where="model.loader")
        return loader.load(ModelSection(path=str(baichuan2_7b.path)))

    head = load_as("baichuan-7b").model.lm_head.weight.detach()
    assert not torch.allclose(head.norm(dim=-1), torch.ones(head.shape[0]))
    with pytest.raises(ModelError, match="ALiBi"):
        load_as("baichuan2-13b")


# --- the 7B models become LLaMA ----------------------------------------------------------


def test_baichuan_7b_loads_as_the_llama_it_was_made_from(loaded_7b, baichuan_7b):
    model = loaded_7b.model
    assert type(model).__name__ == "LlamaForCausalLM"
    expected = baichuan_7b.reference.state_dict()
    actual = model.state_dict()
    assert set(actual) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), name
    ids = ids_like(model)
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, baichuan_7b.reference(ids).logits,
                                   atol=1e-5, rtol=0)


def test_baichuan2_7b_norm_head_is_stored_normalised(loaded2_7b, baichuan2_7b):
    model = loaded2_7b.model
    head = model.lm_head.weight.detach()
    torch.testing.assert_close(head.norm(dim=-1), torch.ones(head.shape[0]))
    expected = baichuan2_7b.reference.state_dict()
    actual = model.state_dict()
    assert set(actual) == set(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(actual[name], tensor, atol=1e-6, rtol=0, msg=name)
    ids = ids_like(model, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, baichuan2_7b.reference(ids).logits,
                                   atol=1e-5, rtol=0)


def test_default_targets_are_q_proj_and_v_proj(loaded_7b, loaded2_7b):
    assert loaded_7b.default_targets == ["q_proj", "v_proj"]
    assert loaded2_7b.default_targets == ["q_proj", "v_proj"]
    assert not loaded_7b.quantized


def test_8bit_quantization_is_passed_through_to_bitsandbytes(loader, baichuan_7b):
    try:
        loaded = loader.load(ModelSection(path=str(baichuan_7b.path), quantization="8bit"))
    except ModelError as exc:
        if exc.where != "model.quantization":
            raise
        pytest.skip(f"bitsandbytes cannot quantize here: {exc.message}")
    assert loaded.quantized
    attention = loaded.model.model.layers[0].self_attn
    assert type(attention.q_proj).__name__ == type(attention.v_proj).__name__ == "Linear8bitLt"
    ids = ids_like(loaded.model)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids).logits.float(),
                                   baichuan_7b.reference(ids).logits, atol=0.05, rtol=0)


def test_lora_lands_on_exactly_q_proj_and_v_proj_of_every_layer(loader, baichuan_7b):
    from peft import LoraConfig, get_peft_model

    loaded = loader.load(ModelSection(path=str(baichuan_7b.path)))
    model = get_peft_model(loaded.model, LoraConfig(r=4, target_modules=loaded.default_targets))
    adapted = {name.removeprefix("base_model.model.")
               for name, module in model.named_modules() if hasattr(module, "lora_A")}
    assert adapted == {f"model.layers.{i}.self_attn.{p}" for i in range(LAYERS)
                       for p in ("q_proj", "v_proj")}


def test_conversion_is_reused_until_a_weight_file_changes(tmp_path, loader, sp_models, monkeypatch):
    source = make_baichuan_7b(tmp_path / "Baichuan-7B", sp_models["baichuan"]).path
    conversions = []
    real_convert = convert_module.convert
    monkeypatch.setattr(convert_module, "convert",
                        lambda *a: conversions.append(a[0]) or real_convert(*a))
    spec = ModelSection(path=str(source))

    loader.load(spec)
    loader.load(spec)
    assert len(conversions) == 1

    shard = source / "model-00002-of-00002.safetensors"
    tensors = load_file(str(shard))
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1
    save_file(tensors, str(shard), metadata={"format": "pt"})
    reloaded = loader.load(spec)
    assert len(conversions) == 2
    assert torch.equal(reloaded.model.state_dict()[name], tensors[name])


def test_a_failed_conversion_leaves_nothing_behind(tmp_path, loader, sp_models):
    source = make_baichuan_7b(tmp_path / "Baichuan-7B", sp_models["baichuan"]).path
    (source / "tokenizer.model").unlink()
    with pytest.raises(ModelError, match="no tokenizer.model"):
        loader.load(ModelSection(path=str(source)))
    root = convert_module.converted_root()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_a_damaged_weight_file_is_reported_by_name(tmp_path, loader, sp_models):
    source = make_baichuan2_7b(tmp_path / "Baichuan2-7B", sp_models["baichuan2"]).path
    weights = source / "pytorch_model.bin"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelError, match="cannot read .*pytorch_model.bin") as caught:
        loader.load(ModelSection(path=str(source)))
    assert caught.value.where == "model.path"


# --- the tokenizer -----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["baichuan", "baichuan2"])
def test_tokenizer_encodes_chinese_and_english_like_sentencepiece(which, request, sp_models):
    loaded = request.getfixturevalue("loaded_7b" if which == "baichuan" else "loaded2_7b")
    tokenizer = loaded.tokenizer
    sp = spm.SentencePieceProcessor(model_file=str(sp_models[which]))
    for text in SAMPLES:
        ids = sp.encode(text)
        assert tokenizer.encode(text, add_special_tokens=False) == ids, text
        assert tokenizer.decode(ids) == sp.decode(ids)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<unk>", 0)
    assert (tokenizer.bos_token, tokenizer.bos_token_id) == ("<s>", 1)
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("</s>", 2)


def test_tokenizer_adds_bos_as_the_source_tokenizer_config_says(loaded_7b, loaded2_7b):
    text = SAMPLES[0]
    with_bos = loaded_7b.tokenizer.encode(text)
    assert with_bos[0] == 1
    assert with_bos[1:] == loaded_7b.tokenizer.encode(text, add_special_tokens=False)
    assert loaded2_7b.tokenizer.encode(text)[0] != 1


def test_chat_markers_stay_single_tokens(loaded2_7b, sp_models):
    sp = spm.SentencePieceProcessor(model_file=str(sp_models["baichuan2"]))
    tokenizer = loaded2_7b.tokenizer
    for piece in CHAT_PIECES:
        assert tokenizer.encode(piece, add_special_tokens=False) == [sp.piece_to_id(piece)]
    turn = f"{BAICHUAN2_CHAT_MARKERS.user}你好{BAICHUAN2_CHAT_MARKERS.assistant}"
    assert tokenizer.decode(tokenizer.encode(turn, add_special_tokens=False),
                            skip_special_tokens=True) == "你好"


# --- what is refused ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["baichuan-13b", "baichuan2-13b"])
def test_13b_without_trust_remote_code_is_refused_with_the_reason(tmp_path, loader, variant):
    (tmp_path / "config.json").write_text(json.dumps(real_config(variant)))
    with pytest.raises(ModelError) as caught:
        loader.load(ModelSection(path=str(tmp_path)))
    error = caught.value
    assert error.where == "model.trust_remote_code"
    assert "ALiBi" in error.message and "cannot be converted" in error.message
    assert "trust_remote_code = true" in error.hint and "W_pack" in error.hint


def test_13b_with_trust_remote_code_loads_through_its_own_code(tmp_path, loader, monkeypatch):
    import _loraforge_baichuan.loader
    from loraforge.components import LoadedModel

    class RemoteModel:
        input_grads = False

        def enable_input_require_grads(self):
            self.input_grads = True

    calls = []

    def fake_load(path, spec, *, default_targets):
        calls.append((path, spec.trust_remote_code))
        return LoadedModel(RemoteModel(), None, default_targets=list(default_targets))

    monkeypatch.setattr(_loraforge_baichuan.loader, "load_causal_lm", fake_load)
    (tmp_path / "config.json").write_text(json.dumps(real_config("baichuan2-13b")))
    loaded = loader.load(ModelSection(path=str(tmp_path), trust_remote_code=True))
    assert calls == [(str(tmp_path), True)]
    assert loaded.default_targets == ["W_pack"]
    assert loaded.model.input_grads


def test_a_hub_id_is_refused_with_the_download_command(loader):
    with pytest.raises(ModelError) as caught:
        loader.load(ModelSection(path="baichuan-inc/Baichuan-7B"))
    assert caught.value.where == "model.path"
    command = "hf download baichuan-inc/Baichuan-7B --local-dir models/Baichuan-7B"
    assert command in caught.value.hint


def test_a_missing_folder_is_refused_as_a_missing_folder(tmp_path, loader):
    with pytest.raises(ModelError, match="no such folder") as caught:
        loader.load(ModelSection(path=str(tmp_path / "models" / "Baichuan-7B")))
    assert caught.value.where == "model.path"


def test_a_non_baichuan_checkpoint_is_refused(tmp_path, loader):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(ModelError, match="not a Baichuan checkpoint"):
        loader.load(ModelSection(path=str(tmp_path)))


# --- training and the shipped recipe ------------------------------------------------------


def test_a_short_training_run_on_the_converted_model_lowers_the_loss(
    tmp_path, plugins, baichuan_7b
):
    from loraforge.engine.run import run_recipe

    recipe = recipe_from_dict({
        "model": {"path": str(baichuan_7b.path), "loader": "baichuan"},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "targets": "auto"},
        "data": {"path": str(REVIEWS), "max_length": 48,
                 "formatter": {"name": "template", "template": "Review: {text} Label: {label}"}},
        "train": {"max_steps": 20, "batch_size": 8, "learning_rate": 2e-2, "logging_steps": 2,
                  "device": "cpu", "callbacks": ["metrics"]},
        "output": {"dir": str(tmp_path / "run")},
    })
    result = run_recipe(recipe, plugins=plugins)
    lines = (result.output_dir / "metrics.jsonl").read_text().splitlines()
    losses = [e["loss"] for e in map(json.loads, lines) if e["event"] == "log" and "loss" in e]
    assert len(losses) >= 4
    # a random-init model with LoRA on q/v alone learns slowly; steadily is enough
    assert losses[-1] < losses[0] - 0.2, losses
    assert max(losses[len(losses) // 2:]) < losses[0], losses
    adapter = json.loads((result.output_dir / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == ["q_proj", "v_proj"]
    base = Path(adapter["base_model_name_or_path"])
    assert base.parent == convert_module.converted_root()
    assert json.loads((base / "loraforge-conversion.json").read_text())["variant"] == "baichuan-7b"


def test_a_recipe_without_a_loader_gets_the_baichuan_one(plugins, baichuan2_7b):
    from loraforge.plan import bind

    recipe = recipe_from_dict({"model": {"path": str(baichuan2_7b.path)},
                               "data": {"path": str(REVIEWS)}})
    assert bind(recipe, plugins).components["model.loader"] == "baichuan (baichuan)"


def test_the_shipped_recipe_is_the_classic_8bit_flow(plugins):
    from loraforge.plan import bind

    recipe = load_recipe(RECIPE)
    assert recipe.model.loader.name == "baichuan"
    assert recipe.model.quantization == "8bit"
    assert (recipe.lora.r, recipe.lora.alpha, recipe.lora.dropout) == (8, 32, 0.1)
    assert recipe.lora.targets.name == "qv"
    assert recipe.data.formatter.name == "template"
    assert recipe.data.formatter.options["template"] == "Review: {text} Label: {label}"
    train = recipe.train
    assert (train.epochs, train.batch_size, train.grad_accum) == (3, 2, 4)
    assert (train.learning_rate, train.precision) == (2e-4, "fp16")
    plan = bind(recipe, plugins)
    assert isinstance(plan.loader, BaichuanLoader)
    assert RECIPE.read_text().startswith("#")
    assert "loraforge run recipes/baichuan-7b-imdb-8bit.toml" in RECIPE.read_text()


def test_the_conversion_is_announced_through_the_reporter_not_printed(
        loader, sp_models, tmp_path, capfd):
    from loraforge.engine.quiet import quiet_libraries
    from loraforge.reporting import CollectingReporter, reporting_to

    fresh = make_baichuan_7b(tmp_path / "Baichuan-7B", sp_models["baichuan"])
    events = CollectingReporter()
    with quiet_libraries(), reporting_to(events):  # as inside a run
        loader.load(ModelSection(path=str(fresh.path)))
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    (said,) = [e for e in events.events if e.kind == "message"]
    assert said.text.startswith("converting Baichuan-7B in") and said.phase == "model"


def test_a_baichuan_7b_run_merges_into_a_llama_checkpoint(tmp_path, plugins, baichuan_7b):
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from loraforge.after.merge import merge_run
    from loraforge.after.runs import open_run
    from loraforge.engine.run import run_recipe

    recipe = recipe_from_dict({
        "model": {"path": str(baichuan_7b.path)},
        "lora": {"r": 4, "alpha": 8, "targets": "auto"},
        "data": {"path": str(REVIEWS), "max_length": 32, "max_samples": 16,
                 "formatter": {"name": "template", "template": "Review: {text} Label: {label}"}},
        "train": {"max_steps": 2, "batch_size": 8, "learning_rate": 2e-2, "device": "cpu",
                  "callbacks": []},
        "output": {"dir": str(tmp_path / "run")},
    })
    run_recipe(recipe, plugins=plugins)
    run = open_run(tmp_path / "run")
    result = merge_run(run, tmp_path / "merged", plugins=plugins)
    assert result.base.parent == convert_module.converted_root()
    config = json.loads((tmp_path / "merged" / "config.json").read_text())
    assert config["model_type"] == "llama" and config["architectures"] == ["LlamaForCausalLM"]
    names = set()
    for shard in (tmp_path / "merged").glob("*.safetensors"):
        with safe_open(str(shard), framework="pt") as file:
            names.update(file.keys())
    assert "model.layers.0.self_attn.q_proj.weight" in names
    assert not any("W_pack" in name for name in names)

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    ids = torch.tensor([tokenizer.encode(SAMPLES[0])])
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(result.base),
                                        str(run.adapter)).eval()
    with torch.no_grad():
        assert (merged(input_ids=ids).logits - adapted(input_ids=ids).logits).abs().max() < 1e-4

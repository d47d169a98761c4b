"""The memory estimate against the real tensors of a run on the tiny models, component by component.

Each case loads the real model (bitsandbytes layers included), applies LoRA,
takes one optimizer step, and counts the bytes of its tensors; activations
are counted as autograd saves them for backward (with
``torch.autograd.graph.saved_tensors_hooks``, each storage once).
"""

from __future__ import annotations

import json

import pytest
import torch

from loraforge.engine.model import apply_lora, load_base
from loraforge.errors import LoraforgeError
from loraforge.estimate import estimate, find_gpu, fixes, size_text
from loraforge.modelinfo import selection
from loraforge.plan import bind
from loraforge.recipe import recipe_from_dict
from loraforge.testing import builtin_plugins

pytestmark = pytest.mark.slow
PLUGINS = ("llama", "baichuan", "targets", "formatters", "callbacks")


@pytest.fixture(scope="module")
def plugins():
    return builtin_plugins(PLUGINS)


@pytest.fixture(scope="module")
def baichuan(tmp_path_factory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "plugins"))
    from baichuan_fixtures import make_baichuan_7b, train_sentencepiece

    folder = tmp_path_factory.mktemp("baichuan")
    return make_baichuan_7b(folder / "Baichuan-7B",
                            train_sentencepiece(folder / "sp", baichuan2=False)).path


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:  # the Baichuan conversion goes here
        patch.setenv("LORAFORGE_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def recipe(model: dict, *, batch=2, length=32, checkpointing=False, targets="qv"):
    return recipe_from_dict({
        "model": model, "lora": {"r": 4, "targets": targets},
        "data": {"path": "rows.jsonl", "max_length": length},
        "train": {"device": "cpu", "batch_size": batch, "gradient_checkpointing": checkpointing},
    })


MODELS = ["tiny-llama", "baichuan"]


def model_of(name, baichuan, quantization="none"):
    if name == "tiny-llama":
        return {"loader": "tiny-llama", "quantization": quantization}
    return {"loader": "baichuan", "path": str(baichuan), "quantization": quantization}


def real_weights(model) -> int:
    """Bytes of the base's tensors as loaded: quantized data and bitsandbytes' scales included."""
    seen = {}

    def add(tensor):
        if isinstance(tensor, torch.Tensor):
            storage = tensor.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()

    for name, parameter in model.named_parameters():
        if "lora_" in name:
            continue
        add(parameter)
        add(getattr(parameter, "SCB", None))
        state = getattr(parameter, "quant_state", None)
        if state is not None:
            add(state.absmax)
            add(getattr(state, "offset", None))
            if getattr(state, "state2", None) is not None:
                add(state.state2.absmax)
    return sum(seen.values())


def saved_for_backward(model, batch, length) -> int:
    owned = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in owned:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    ids = torch.randint(3, 250, (batch, length))
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
    loss.backward()  # the graph is real: it trains (what its backward recomputes is not counted)
    return sum(seen.values())


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("quantization", ["none", "8bit", "4bit"])
def test_weights_lora_gradients_and_optimizer_match_the_real_tensors(
        plugins, baichuan, name, quantization):
    planned = recipe(model_of(name, baichuan, quantization))
    plan = bind(planned, plugins)
    model = apply_lora(plan, load_base(plan)).model
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-3)
    ids = torch.randint(3, 250, (2, 32))
    model.train()
    model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    real = {
        "base weights": real_weights(model),
        "LoRA weights": sum(p.numel() * p.element_size() for p in trainable),
        "LoRA gradients": sum(p.grad.numel() * p.grad.element_size() for p in trainable),
        "optimizer states": sum(v.numel() * v.element_size() for state in optimizer.state.values()
                                for key, v in state.items() if key != "step"),
    }
    estimated = estimate(planned, plugins=plugins)
    for part, nbytes in real.items():
        assert estimated.part(part).bytes == pytest.approx(nbytes, rel=0.03), part


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("quantization", ["none", "8bit", "4bit"])
@pytest.mark.parametrize("checkpointing", [False, True])
def test_activations_match_what_autograd_saves(plugins, baichuan, name, quantization,
                                               checkpointing):
    for batch, length in ((2, 32), (4, 64)):
        planned = recipe(model_of(name, baichuan, quantization), batch=batch, length=length,
                         checkpointing=checkpointing)
        plan = bind(planned, plugins)
        model = apply_lora(plan, load_base(plan)).model
        if checkpointing:
            # the reentrant form keeps each layer's input with save_for_backward, where the
            # hooks see it; the non-reentrant one a run uses holds the same tensors
            model.base_model.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": True})
        real = saved_for_backward(model, batch, length)
        saved = estimate(planned, plugins=plugins).saved
        forward = saved["layers"] + saved["outside"] + saved["head"]
        assert forward == pytest.approx(real, rel=0.15), (batch, length)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("quantization", ["none", "8bit", "4bit"])
def test_inspected_counts_are_peft_counts_on_the_loaded_model(plugins, baichuan, name,
                                                              quantization):
    for selector in ("auto", "qv", "attention", "all-linear"):
        planned = recipe(model_of(name, baichuan, quantization), targets=selector)
        plan = bind(planned, plugins)
        prepared = apply_lora(plan, load_base(plan))
        from loraforge.modelinfo import model_config

        counted = selection(plan, model_config(plan))
        assert counted.trainable == prepared.trainable_parameters, selector
        assert counted.targets == prepared.targets, selector
        if quantization == "none":
            assert counted.total == prepared.total_parameters, selector


def test_a_recipe_too_large_for_a_card_gets_the_changes_that_make_it_fit(plugins):
    planned = recipe({"loader": "tiny-llama"}, batch=64, length=512)
    needed = estimate(planned, plugins=plugins).total
    from loraforge.estimate.fixes import candidates

    suggested = fixes(planned, int(needed * 0.6), plugins=plugins)
    assert suggested and all(f.estimate.total <= needed * 0.6 for f in suggested)
    order = [label for label, _ in candidates(planned)]
    assert [order.index(f.label) for f in suggested] == sorted(order.index(f.label)
                                                               for f in suggested)
    batch_one = next(f for f in suggested if f.label.startswith("batch 1"))
    assert batch_one.overrides == ["train.batch_size=1", "train.grad_accum=64"]
    # the effective batch, and so what is learned, is kept
    assert batch_one.estimate.batch_size == 1


def test_an_unknown_gpu_is_refused_listing_the_known_ones():
    with pytest.raises(LoraforgeError) as error:
        find_gpu("RTX 9999")
    assert "RTX 3060" in error.value.hint and error.value.where == "--gpu"
    assert find_gpu("geforce rtx 3060").memory_gib == 12


def test_an_architecture_transformers_cannot_build_says_what_it_can_estimate(tmp_path, plugins):
    from loraforge.modelinfo import UnknownArchitecture

    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"],
                                                    "model_type": "odd"}))
    with pytest.raises(UnknownArchitecture) as error:
        estimate(recipe({"loader": "llama", "path": str(folder)}), plugins=plugins)
    assert "model_type 'odd'" in error.value.message
    assert "CUDA context" in error.value.hint and "activations" in error.value.hint


@pytest.mark.parametrize(("count", "text"), [
    (int(7.01 * 2**30), "7.01 GiB"), (500 * 2**20, "0.49 GiB"), (40 * 2**20, "40.0 MiB"),
    (2**20, "1.0 MiB"), (2**17, "128.0 KiB"), (32_768, "32.0 KiB"), (0, "0.0 KiB"),
])
def test_a_size_is_said_in_the_unit_where_its_digits_say_something(count, text):
    assert size_text(count) == text

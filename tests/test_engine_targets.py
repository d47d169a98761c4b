"""Which modules LoRA can wrap, and checking a selection against a real model."""

from __future__ import annotations

import pytest
import torch
import transformers

from loraforge.engine.targets import check_targets
from loraforge.errors import ModelError
from loraforge.modules import linear_module_names

LLAMA_LEAVES = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def test_linear_modules_are_every_projection_but_the_output_head(llama):
    names = linear_module_names(llama)
    assert "lm_head" not in names
    assert len(names) == 2 * len(LLAMA_LEAVES)
    assert "model.layers.1.mlp.down_proj" in names
    assert sorted({n.rsplit(".", 1)[-1] for n in names}) == LLAMA_LEAVES


def test_linear_subclasses_count_as_linear():
    class QuantizedLinear(torch.nn.Linear):  # as bitsandbytes' Linear8bitLt / Linear4bit are
        pass

    model = torch.nn.Sequential()
    model.add_module("proj", QuantizedLinear(4, 4))
    model.add_module("norm", torch.nn.LayerNorm(4))
    assert linear_module_names(model) == ["proj"]


def test_gpt2_conv1d_projections_count_as_linear():
    config = transformers.GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=64, n_positions=32)
    names = linear_module_names(transformers.GPT2LMHeadModel(config))
    assert names == ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj",
                     "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj"]


def test_check_accepts_leaf_and_full_names_and_drops_duplicates(llama):
    names = ["q_proj", "model.layers.0.self_attn.k_proj", "q_proj", "mlp.up_proj"]
    assert check_targets(llama, names) == ["q_proj", "model.layers.0.self_attn.k_proj",
                                           "mlp.up_proj"]


def test_check_rejects_a_missing_module_listing_the_linear_ones(llama):
    with pytest.raises(ModelError) as info:
        check_targets(llama, ["q_proj", "W_pack"])
    error = info.value
    assert error.where == "lora.targets"
    assert error.message == (
        "the model has no module named 'W_pack'; its linear modules are: " + ", ".join(LLAMA_LEAVES)
    )
    assert "all-linear" in error.hint


def test_check_tells_a_non_linear_module_from_a_missing_one(llama):
    with pytest.raises(ModelError) as info:
        check_targets(llama, ["self_attn", "lm_head", "qproj"])
    message = info.value.message
    assert "no module named 'qproj'" in message
    assert "'self_attn' is not a Linear or Conv1D layer" in message
    assert "'lm_head' is the output head" in message


def test_check_rejects_an_empty_selection(llama):
    with pytest.raises(ModelError, match="no target modules"):
        check_targets(llama, [])


def test_a_partial_leaf_name_does_not_match(llama):
    # peft matches whole dotted components, so "proj" must not pass for "q_proj"
    with pytest.raises(ModelError, match="no module named 'proj'"):
        check_targets(llama, ["proj"])

"""The built-in target selectors, on a tiny LLaMA, and what peft makes of their choice."""

from __future__ import annotations

import copy

import pytest
from peft import LoraConfig, get_peft_model

from loraforge.engine.targets import check_targets
from loraforge.errors import ModelError
from loraforge.plugins import Plugins
from loraforge.registry import OptionsError

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]


@pytest.fixture(scope="module")
def registry():
    plugins = Plugins()
    plugins.load_entry_points(["targets"])
    assert plugins.failures == {}
    return plugins.registry


def select(registry, model, name, defaults=("q_proj", "v_proj"), **options):
    selector = registry.create("selector", name, options, where="lora.targets")
    return selector.select(model, list(defaults))


def full(layers, parts):
    """Full module names of ``parts`` (leaf names) in each of ``layers``."""
    block = {p: "self_attn" if p in ATTENTION else "mlp" for p in parts}
    return {f"model.layers.{i}.{block[p]}.{p}" for i in layers for p in parts}


def lora_modules(model, targets):
    peft_model = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=targets))
    prefix = "base_model.model."
    return {n.removeprefix(prefix) for n, m in peft_model.named_modules() if hasattr(m, "lora_A")}


def test_the_package_registers_every_selector_through_its_entry_point(registry):
    assert registry.names("selector") == ["all-linear", "attention", "auto", "modules", "qv",
                                          "regex"]
    for name in registry.names("selector"):
        cls = registry.get("selector", name).cls
        assert cls.description and "\n" not in cls.description
        assert all(f.description for f in cls.Options.model_fields.values())


def test_auto_returns_the_loaders_defaults(registry, llama):
    assert select(registry, llama, "auto", defaults=["W_pack", "o_proj"]) == ["W_pack", "o_proj"]


def test_fixed_selectors_name_the_llama_projections(registry, llama):
    assert select(registry, llama, "qv") == ["q_proj", "v_proj"]
    assert select(registry, llama, "attention") == ATTENTION


def test_all_linear_is_every_projection_sorted_without_the_head(registry, llama):
    assert select(registry, llama, "all-linear") == sorted(ATTENTION + MLP)


def test_modules_returns_the_names_given(registry, llama):
    names = ["q_proj", "model.layers.1.mlp.down_proj"]
    assert select(registry, llama, "modules", names=names) == names


def test_regex_returns_full_names_matching_the_whole_name(registry, llama):
    chosen = select(registry, llama, "regex", pattern=r"model\.layers\.1\.self_attn\.(q|v)_proj")
    assert chosen == ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]
    # a pattern matching only part of a name selects nothing, as with peft
    with pytest.raises(ModelError, match="matches no linear module"):
        select(registry, llama, "regex", pattern="q_proj")


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("qv", {}, full([0, 1], ["q_proj", "v_proj"])),
        ("attention", {}, full([0, 1], ATTENTION)),
        ("all-linear", {}, full([0, 1], ATTENTION + MLP)),
        ("modules", {"names": ["k_proj", "model.layers.0.mlp.up_proj"]},
         full([0, 1], ["k_proj"]) | full([0], ["up_proj"])),
        ("regex", {"pattern": r".*\.1\.mlp\.\w+_proj"}, full([1], MLP)),
    ],
)
def test_peft_puts_lora_on_exactly_the_selected_modules(registry, llama, name, options, expected):
    targets = check_targets(llama, select(registry, llama, name, **options))
    assert lora_modules(llama, targets) == expected


def test_modules_needs_at_least_one_name(registry):
    with pytest.raises(OptionsError) as info:
        registry.create("selector", "modules", {"names": []}, where="lora.targets")
    assert info.value.problems[0].startswith("lora.targets.names:")


def test_regex_rejects_a_pattern_that_does_not_compile(registry):
    with pytest.raises(OptionsError) as info:
        registry.create("selector", "regex", {"pattern": "q_proj("}, where="lora.targets")
    assert "lora.targets.pattern: not a valid regular expression" in str(info.value)

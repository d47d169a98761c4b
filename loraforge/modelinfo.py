"""What a model is, and what LoRA would train in it, known from its config.json alone.

The model is built on the meta device (shapes and dtypes, no storage): no
weight is read, and a 7B model is built in about a second, once per config
(it is kept). LoRA is applied to a copy of it by peft itself, with the
recipe's settings, so the counts are peft's own: what ``loraforge run``
would report for the loaded model. ``loraforge inspect``, ``loraforge
estimate`` and the wizard use these functions.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loraforge.errors import LoraforgeError, ModelError

BUILTIN_SELECTORS = ("auto", "qv", "attention", "all-linear")
ADAPTER_BYTES_PER_PARAMETER = 4
"""peft keeps (and saves) the adapter's weights in float32, whatever the base's dtype."""
_lock = threading.Lock()


class UnknownArchitecture(LoraforgeError):
    """The model's config names an architecture transformers cannot build from the config alone."""

    title = "Unknown architecture"


@dataclass
class LinearGroup:
    """The linear modules that share a leaf name (``q_proj``): how many, and their shapes."""

    name: str
    count: int
    shapes: list[tuple[int, int]]
    """(in_features, out_features) of each distinct shape."""
    parameters: int


@dataclass
class ModelFacts:
    """What config.json says a model is, counted on the model built from it."""

    architecture: str
    model_type: str
    parameters: int
    layers: int | None
    hidden_size: int | None
    vocab_size: int | None
    dtype: str | None
    linear: list[LinearGroup] = field(default_factory=list)

    def summary(self) -> str:
        """One line: family, size, layers, width, vocabulary, dtype."""
        parts = [self.architecture, f"{human(self.parameters)} parameters"]
        if self.layers:
            parts.append(f"{self.layers} layers")
        if self.hidden_size:
            parts.append(f"hidden {self.hidden_size:,}")
        if self.vocab_size:
            parts.append(f"vocabulary {self.vocab_size:,}")
        if self.dtype:
            parts.append(str(self.dtype))
        return " · ".join(parts)


@dataclass
class Selection:
    """What one target selection would train."""

    selector: str
    targets: list[str]
    modules: int
    """How many modules get LoRA layers."""
    trainable: int
    total: int
    adapter_bytes: int
    module_names: list[str] = field(default_factory=list)
    """The modules that get LoRA layers, by their names in the base model."""

    @property
    def share(self) -> float:
        return self.trainable / self.total if self.total else 0.0


def human(number: float) -> str:
    """1.2B, 6.7B, 4.2M: a count as people say it."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            return f"{number / size:.1f}{unit}"
    return f"{number:.0f}"


def model_config(plan: Any) -> dict[str, Any]:
    """The config.json of the model the plan's loader would load, without loading it."""
    from loraforge.engine.model import model_spec
    from loraforge.registry import component_errors

    spec = model_spec(plan)
    with component_errors(plan.loader, "model_config"):
        config = plan.loader.model_config(spec)
    if config is None and spec.path and Path(spec.path).is_dir():
        raise ModelError(
            f"{spec.path} has no config.json, so what the model is cannot be told",
            where="model.path",
            hint="Point model.path at the folder save_pretrained wrote (config.json, weights, "
            "tokenizer files).",
        )
    if config is None:
        raise ModelError(
            "no config.json to tell what the model is: it is neither a local checkpoint folder "
            "nor a loader that knows its model without loading it", where="model.path",
            hint="Point model.path at the folder that holds config.json (download a hub model "
            "first with `hf download ID --local-dir models/NAME`).",
        )
    return config


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


@functools.lru_cache(maxsize=8)
def _meta_model(key: str, dtype: str | None) -> Any:
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = json.loads(key)
    model_type = config.get("model_type")
    try:
        built = AutoConfig.for_model(model_type, **{k: v for k, v in config.items()
                                                    if k != "model_type"})
    except (ValueError, KeyError, TypeError) as exc:
        raise UnknownArchitecture(
            f"transformers cannot build the architecture {config.get('architectures')} "
            f"(model_type {model_type!r}) from its config alone: {exc}",
            where="model.path",
            hint="It can estimate the CUDA context and allocator reserve, but not the weights, "
            "LoRA, optimizer or activations, which need the model's modules. A model that loads "
            "only with trust_remote_code cannot be inspected without running its code.",
        ) from None
    with init_empty_weights(include_buffers=True):
        model = AutoModelForCausalLM.from_config(
            built, dtype=getattr(torch, dtype) if dtype else None)
    model.eval()
    return model


def meta_model(config: dict[str, Any], dtype: str | None = None) -> Any:
    """The model of ``config`` on the meta device (kept: later calls return the same one)."""
    with _lock:
        return _meta_model(_config_key(config), dtype)


def facts(config: dict[str, Any]) -> ModelFacts:
    """The model's facts, from its config and the model built from it."""
    from loraforge.modules import leaf_name, linear_module_names

    model = meta_model(config)
    modules = dict(model.named_modules())
    groups: dict[str, LinearGroup] = {}
    for name in linear_module_names(model):
        module = modules[name]
        leaf = leaf_name(name)
        shape = (int(module.in_features), int(module.out_features))
        group = groups.setdefault(leaf, LinearGroup(leaf, 0, [], 0))
        group.count += 1
        group.parameters += sum(p.numel() for p in module.parameters(recurse=False))
        if shape not in group.shapes:
            group.shapes.append(shape)
    text = config.get("text_config") or config
    return ModelFacts(
        architecture=(config.get("architectures") or [type(model).__name__])[0],
        model_type=str(config.get("model_type")),
        parameters=sum(p.numel() for p in model.parameters()),
        layers=text.get("num_hidden_layers"),
        hidden_size=text.get("hidden_size"),
        vocab_size=text.get("vocab_size"),
        dtype=config.get("torch_dtype") or config.get("dtype"),
        linear=list(groups.values()),
    )


def lora_model(plan: Any, config: dict[str, Any], targets: Sequence[str],
               dtype: str | None = None) -> Any:
    """A copy of the meta model with the recipe's LoRA applied by peft, in training mode."""
    from peft import get_peft_model

    from loraforge.engine.model import lora_config

    model = copy.deepcopy(meta_model(config, dtype))
    peft_model = get_peft_model(model, lora_config(plan, list(targets)))
    peft_model.train()
    return peft_model


def selection(plan: Any, config: dict[str, Any], selector: Any | None = None) -> Selection:
    """What the plan's target selector (or ``selector``) picks in the model, and what trains."""
    from loraforge.engine.targets import check_targets
    from loraforge.registry import component_errors

    chosen = selector or plan.selector
    base = meta_model(config)
    defaults = plan.loader.default_targets(config)
    with component_errors(chosen, "select"):
        picked = chosen.select(base, defaults)
    targets = check_targets(base, picked)
    model = lora_model(plan, config, targets)
    trainable, total = model.get_nb_trainable_parameters()
    names = [name.removeprefix("base_model.model.") for name, module in model.named_modules()
             if hasattr(module, "lora_A")]
    return Selection(type(chosen).name, targets, len(names), int(trainable), int(total),
                     int(trainable) * ADAPTER_BYTES_PER_PARAMETER, names)


def module_ranges(names: Sequence[str]) -> list[str]:
    """Module names with their layer numbers folded: ``model.layers.0-31.self_attn.q_proj``."""
    grouped: dict[str, list[int]] = {}
    for name in names:
        found = re.search(r"\.(\d+)\.", name)
        if found is None:
            grouped.setdefault(name, [])
            continue
        pattern = f"{name[:found.start(1)]}{{}}{name[found.end(1):]}"
        grouped.setdefault(pattern, []).append(int(found.group(1)))
    return [pattern.format(_ranges(numbers)) if numbers else pattern
            for pattern, numbers in grouped.items()]


def _ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0-2,5``."""
    spans: list[list[int]] = []
    for number in sorted(set(numbers)):
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def selections(plan: Any, config: dict[str, Any], registry: Any) -> list[Selection]:
    """The recipe's selection, then each built-in selector's (the ones it differs from)."""
    found = [selection(plan, config)]
    for name in BUILTIN_SELECTORS:
        if name == found[0].selector or name not in registry.components["selector"]:
            continue
        try:
            found.append(selection(plan, config, registry.create("selector", name, {},
                                                                 where="lora.targets")))
        except LoraforgeError:
            continue  # a selector whose names this model lacks: not a choice here
    return found

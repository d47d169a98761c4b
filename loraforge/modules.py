"""Which modules of a model LoRA can wrap: the public listing target selectors build on.

peft matches a list of target names against full module names: a name
matches a module when it is the full dotted name or its last components
(``q_proj`` matches ``model.layers.0.self_attn.q_proj``). A selector
plugin lists candidates with :func:`linear_module_names` and names them by
:func:`leaf_name` or in full; the engine checks every selection against the
model before peft applies it. torch is imported only when a model is
inspected.
"""

from __future__ import annotations

from typing import Any


def output_head(model: Any) -> Any:
    """The model's vocabulary projection (``lm_head``), or None if it has none it will name."""
    get = getattr(model, "get_output_embeddings", None)
    if get is None:
        return None
    try:
        return get()
    except (AttributeError, NotImplementedError):
        return None


def linear_classes() -> tuple[type, ...]:
    """The module types LoRA can wrap: linear layers (quantized ones too) and GPT-2's Conv1D."""
    import torch
    from transformers.pytorch_utils import Conv1D  # GPT-2 style projections, stored transposed

    # bitsandbytes' Linear8bitLt and Linear4bit subclass torch.nn.Linear
    return (torch.nn.Linear, Conv1D)


def linear_module_names(model: Any) -> list[str]:
    """Full dotted names of the modules LoRA can wrap, in model order.

    Linear layers (and their quantized subclasses) and transformers' Conv1D;
    the output head is left out, as peft's own ``all-linear`` does, because
    adapting the vocabulary projection is rarely wanted and costs a lot.
    """
    linear = linear_classes()
    head = output_head(model)
    return [
        name
        for name, module in model.named_modules()
        if name and isinstance(module, linear) and module is not head
    ]


def leaf_name(full_name: str) -> str:
    """The last component of a dotted module name: ``q_proj`` of ``model.layers.0.self_attn.q_proj``."""
    return full_name.rsplit(".", 1)[-1]


def matches(name: str, full_name: str) -> bool:
    """Whether a target name selects a module, by peft's rule for a list of names."""
    return full_name == name or full_name.endswith("." + name)

"""``estimate(recipe) -> Estimate``: the peak GPU memory of training a recipe, by component.

It binds the recipe (the loader says what model it would load, the selector
which modules LoRA wraps), builds the model on the meta device and counts:

- the base weights as loaded: 16/32-bit, or int8 (1 byte a weight of each
  quantized linear layer and a float32 scale a row), or NF4 (half a byte a
  weight, a scale a block of 64, themselves 8-bit with double quantization);
  the modules bitsandbytes leaves as they are (embeddings, the output head,
  norms) in float32, as ``prepare_model_for_kbit_training`` upcasts them;
- the LoRA weights, their gradients and AdamW's two moments, in float32;
- the activations saved for backward, measured on the meta model
  (:func:`loraforge.estimate.memory.activation_bytes`);
- the logits' gradients while the loss is differentiated (batch × sequence ×
  vocabulary, in float32 and in the compute dtype);
- the CUDA context and the allocator's reserve (stated constants).
"""

from __future__ import annotations

import threading
from typing import Any

from loraforge.estimate.memory import (
    ALLOCATOR_RESERVE,
    BYTES,
    CUDA_CONTEXT,
    NESTED_BLOCK,
    NF4_BLOCK,
    Estimate,
    Part,
    activation_bytes,
)
from loraforge.recipe import Recipe

_lock = threading.Lock()


def compute_dtype(recipe: Recipe, config: dict[str, Any]) -> tuple[str, str]:
    """(device, dtype of the activations): what the run computes in, as the engine decides it."""
    train = recipe.train
    if train.device == "cpu":
        return "cpu", "float32"
    if train.precision in ("bf16", "fp16"):
        return "cuda", {"bf16": "bfloat16", "fp16": "float16"}[train.precision]
    if train.precision == "auto":
        return "cuda", "bfloat16"  # bf16 where the GPU has it (Ampere and later), else fp16
    return "cuda", weights_dtype(recipe, config, "cuda")


def weights_dtype(recipe: Recipe, config: dict[str, Any], device: str) -> str:
    """The dtype of the weights that are not quantized, as the loader loads them."""
    if recipe.model.dtype != "auto":
        return recipe.model.dtype
    if device == "cpu":
        return "float32"
    stored = str(config.get("torch_dtype") or config.get("dtype") or "float32")
    return stored if stored in BYTES else "float32"


def base_weights(model: Any, quantization: str, dtype: str) -> tuple[int, str]:
    """Bytes of the base model's weights as loaded, and how they were counted."""
    import torch

    head = model.get_output_embeddings()
    quantized = [m for m in model.modules()
                 if isinstance(m, torch.nn.Linear) and m is not head]
    in_linear = {id(m.weight) for m in quantized}
    other = sum(p.numel() for p in model.parameters() if id(p) not in in_linear)
    weights = sum(m.weight.numel() for m in quantized)
    rows = sum(m.out_features for m in quantized)
    if quantization == "none":
        total = (weights + other) * BYTES[dtype]
        return total, f"{weights + other:,} weights in {dtype}"
    # prepare_model_for_kbit_training upcasts what bitsandbytes left alone to float32
    rest = other * 4
    if quantization == "8bit":
        total = weights + rows * 4 + rest
        return total, (f"int8: {weights:,} quantized weights (1 byte) + a float32 scale for each "
                       f"of {rows:,} rows; {other:,} others in float32")
    blocks = -(-weights // NF4_BLOCK)
    scales = blocks + (-(-blocks // NESTED_BLOCK)) * 4  # double quantization: 8-bit absmaxes
    total = -(-weights // 2) + scales + rest
    return total, (f"nf4: {weights:,} quantized weights (½ byte) + a scale a block of "
                   f"{NF4_BLOCK} (double-quantized); {other:,} others in float32")


def estimate(recipe: Recipe, *, plugins: Any = None, seq_len: int | None = None) -> Estimate:
    """The peak memory of training ``recipe``, by component (no weight is read).

    ``seq_len`` replaces ``data.max_length`` (the data's longest batch,
    where it is known). About a second for a 7B model the first time (the
    meta model is built and kept), then a few tenths of a second.
    """
    from loraforge.modelinfo import lora_model, meta_model, model_config
    from loraforge.plan import bind
    from loraforge.plugins import get_plugins

    plan = bind(recipe, plugins or get_plugins())
    config = model_config(plan)
    device, act_dtype = compute_dtype(recipe, config)
    length = seq_len or recipe.data.max_length
    batch = recipe.train.batch_size
    base = meta_model(config)
    weights, how = base_weights(base, recipe.model.quantization,
                                weights_dtype(recipe, config, device))
    from loraforge.engine.targets import check_targets

    targets = check_targets(base, plan.selector.select(base, plan.loader.default_targets(config)))
    with _lock:  # the meta models are shared; a forward pass on one at a time
        model = lora_model(plan, config, targets, act_dtype)
        trainable, _ = model.get_nb_trainable_parameters()
        saved = activation_bytes(model, batch, length, config.get("num_hidden_layers"),
                                 checkpointing=recipe.train.gradient_checkpointing,
                                 fused=device == "cuda")
    vocab = base.get_output_embeddings().out_features
    logits = batch * length * vocab * (4 + BYTES[act_dtype])
    parts = [
        Part("base weights", weights, how),
        Part("LoRA weights", trainable * 4, f"{trainable:,} trainable parameters in float32"),
        Part("LoRA gradients", trainable * 4, "one float32 gradient each"),
        Part("optimizer states", trainable * 8, "AdamW's two moments each, in float32"),
        Part("activations", saved["layers"] + saved["outside"] + saved["recomputed"],
             f"saved for backward at batch {batch} × {length} tokens in {act_dtype}"
             + (": each layer's input, and one layer recomputed"
                if recipe.train.gradient_checkpointing else ", every layer")),
        Part("logits and loss", saved["head"] + logits,
             f"batch × sequence × vocabulary ({vocab:,}) saved by the loss, and its "
             "gradients in float32 and in the compute dtype"),
    ]
    if device == "cuda":
        subtotal = sum(part.bytes for part in parts)
        parts.append(Part("allocator reserve", int(subtotal * ALLOCATOR_RESERVE),
                          f"{ALLOCATOR_RESERVE:.0%} kept by torch's caching allocator"))
        parts.append(Part("CUDA context", CUDA_CONTEXT, "the context and its kernels"))
    return Estimate(parts, device, batch, length, saved=saved)

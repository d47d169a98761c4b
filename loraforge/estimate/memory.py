"""The peak memory of a recipe's training, by component, from the model built on the meta device.

Weights, LoRA, gradients and optimizer states are counted from the model's
modules as loading and peft would make them. Activations are not a formula:
the recipe's model, with peft's LoRA, runs one forward pass on the meta
device (shapes, no data) at the recipe's batch size and sequence length,
and every tensor autograd saves for backward is counted once, by storage,
as torch would keep it. docs/memory.md says where each constant comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIB = 2**20
GIB = 2**30


def size_text(count: int) -> str:
    """Bytes in GiB; below a tenth of one in MiB, and below one MiB in KiB
    (where 0.00 GiB or 0.1 MiB would say little)."""
    if count >= GIB / 10:
        return f"{count / GIB:.2f} GiB"
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    return f"{count / 2**10:.1f} KiB"

CUDA_CONTEXT = 500 * MIB
"""The CUDA context and the kernels torch loads into it: 300 to 600 MiB on recent GPUs and
drivers with lazy loading (CUDA_MODULE_LOADING=LAZY, the default since CUDA 11.7)."""
ALLOCATOR_RESERVE = 0.10
"""torch's caching allocator keeps freed blocks for reuse: what it reserves runs 5-15 % above
the peak allocated (max_memory_reserved / max_memory_allocated); 10 % is stated here."""
NF4_BLOCK = 64
"""bitsandbytes quantizes 4-bit weights in blocks of 64, one absmax each."""
NESTED_BLOCK = 256
"""With double quantization the absmaxes are quantized to 8 bits in blocks of 256."""
BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass
class Part:
    """One component of the peak: what it is, how many bytes, and a line on how it is counted."""

    name: str
    bytes: int
    note: str


@dataclass
class Estimate:
    """The peak memory of training a recipe, by component."""

    parts: list[Part]
    device: str
    batch_size: int
    seq_len: int
    notes: list[str] = field(default_factory=list)
    saved: dict[str, int] = field(default_factory=dict)
    """What the forward pass saves for backward, by where (see :func:`activation_bytes`)."""

    @property
    def total(self) -> int:
        return sum(part.bytes for part in self.parts)

    def part(self, name: str) -> Part:
        return next(part for part in self.parts if part.name == name)

    def left_on(self, memory: int) -> int:
        """Bytes left on a card of ``memory`` bytes (negative: it does not fit)."""
        return memory - self.total

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "batch_size": self.batch_size, "seq_len": self.seq_len,
                "total_bytes": self.total, "notes": self.notes,
                "parts": [{"name": p.name, "bytes": p.bytes, "note": p.note} for p in self.parts]}


FUSED = "loraforge-fused-estimate"


def fused_attention():
    """An attention function that saves for backward what a fused GPU kernel saves.

    On a GPU, torch's scaled-dot-product attention runs a fused kernel (flash
    or memory-efficient) that keeps the query, key, value, output and one
    float32 log-sum-exp a row, never the T × T attention matrix. On the meta
    device there is no such kernel, so the estimate for a GPU uses this one:
    the same shapes, the same saves.
    """
    import torch
    from transformers import AttentionInterface

    class Fused(torch.autograd.Function):
        @staticmethod
        def forward(ctx, query, key, value):
            out = torch.empty_like(query)
            lse = query.new_empty(query.shape[:3], dtype=torch.float32)
            ctx.save_for_backward(query, key, value, out, lse)
            return out

        @staticmethod
        def backward(ctx, grad):  # never called: the meta model is not differentiated
            raise NotImplementedError

    def forward(module, query, key, value, attention_mask, **kwargs):
        return Fused.apply(query, key, value).transpose(1, 2).contiguous(), None

    AttentionInterface.register(FUSED, forward)
    return FUSED


def _layers(model: Any, count: int | None) -> Any:
    """The model's stack of decoder layers: the ModuleList as long as its layer count."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and (count is None or len(module) == count):
            return module
    return None


def activation_bytes(model: Any, batch_size: int, seq_len: int, layers: int | None,
                     *, checkpointing: bool, fused: bool = False) -> dict[str, int]:
    """Bytes autograd saves for backward in one training forward pass, by where they are saved.

    ``layers`` (the decoder layers, all of them), ``outside`` (embeddings,
    the final norm), ``head`` (the output head, the logits and the loss).
    The model (on the meta device) is run once; parameters are not counted.
    With ``checkpointing``, a layer keeps only its input, and backward
    recomputes one layer at a time (``recomputed``). ``fused``: attention as
    a GPU's fused kernel saves it (:func:`fused_attention`).
    """
    import torch

    if fused:
        implementation = fused_attention()
        for module in model.modules():
            config = getattr(module, "config", None)
            if config is not None and hasattr(config, "_attn_implementation"):
                config._attn_implementation = implementation

    owned = {p.untyped_storage()._cdata for p in model.parameters()}
    owned |= {b.untyped_storage()._cdata for b in model.buffers()}
    seen: dict[int, tuple[str, int]] = {}
    where = ["outside"]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key not in owned and key not in seen:
            seen[key] = (where[0], storage.nbytes())
        return tensor

    stack = _layers(model, layers)
    handles = []
    if stack is not None and len(stack):
        handles.append(stack[0].register_forward_pre_hook(lambda *_: where.__setitem__(0, "layers")))
        handles.append(stack[-1].register_forward_hook(lambda *_: where.__setitem__(0, "outside")))
    head = model.get_output_embeddings()
    if head is not None:
        handles.append(head.register_forward_pre_hook(lambda *_: where.__setitem__(0, "head")))
    ids = torch.zeros(batch_size, seq_len, dtype=torch.long, device="meta")
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            # no mask and a cache: the only way past transformers' checks of a mask's values,
            # which a meta tensor does not have; the attention is causal either way
            model(input_ids=ids, labels=ids, use_cache=True)
    finally:
        for handle in handles:
            handle.remove()
    found = {"layers": 0, "outside": 0, "head": 0, "recomputed": 0}
    for place, nbytes in seen.values():
        found[place] += nbytes
    if checkpointing and stack is not None and len(stack):
        # a checkpointed layer keeps its input; backward recomputes one layer's saves at a time
        hidden = next(p for p in model.parameters()).dtype
        width = model.config.get_text_config().hidden_size
        per_layer = found["layers"] // len(stack)
        found["layers"] = len(stack) * batch_size * seq_len * width * hidden.itemsize
        found["recomputed"] = per_layer
    return found

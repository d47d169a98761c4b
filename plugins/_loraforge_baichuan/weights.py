"""Rewriting a Baichuan 7B checkpoint's tensors as a LLaMA checkpoint's.

Baichuan's 7B models are LLaMA with two differences in the weights:

- ``self_attn.W_pack`` is one ``Linear(h, 3h)`` whose rows are the query,
  then key, then value projections. Cut by rows, it is LLaMA's ``q_proj``,
  ``k_proj`` and ``v_proj`` (with no reordering: Baichuan applies rotary
  embeddings with the same ``rotate_half`` layout as transformers' LLaMA).
- Baichuan2's ``NormHead`` divides each ``lm_head`` row by its L2 norm on every
  forward pass; storing the normalised rows makes a plain ``lm_head`` equal.

``rotary_emb.inv_freq`` buffers are dropped: LLaMA computes them from the
config. Shards are converted one at a time, so peak memory is about one
shard, not the whole model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loraforge.errors import ModelError
from loraforge.modelfiles import check_weight_files

INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
PROJECTIONS = ("q_proj", "k_proj", "v_proj")
LAYER_KEYS = (
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
)


def weight_files(source: Path) -> list[Path]:
    """The checkpoint's weight files: the shards its index lists, or its one file."""
    check_weight_files(source)  # an interrupted download is said as such, before converting
    for index_name in INDEX_FILES:
        index = source / index_name
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            return [source / name for name in sorted(set(weight_map.values()))]
    for name in SINGLE_FILES:
        if (source / name).is_file():
            return [source / name]
    raise ModelError(
        f"no weights found in {source}",
        where="model.path",
        hint="A Baichuan checkpoint folder holds pytorch_model.bin or model.safetensors "
        "(or their sharded form with an index .json); check that the download finished.",
    )


def read_shard(path: Path) -> dict[str, Any]:
    try:
        return _load(path)
    except Exception as exc:  # torch and safetensors raise several kinds for a bad file
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"cannot read {path}: {first_line}",
            where="model.path",
            hint="The file may be damaged or incompletely downloaded; fetch it again.",
        ) from exc


def _load(path: Path) -> dict[str, Any]:
    if path.name.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    # weights_only: a .bin is a pickle, and unpickling anything else runs code.
    # mmap: a 7B .bin can be one 14 GB file; mapped, it is read as it is written out.
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):  # only the legacy, pre-zip format cannot be mapped
            raise
        return torch.load(str(path), map_location="cpu", weights_only=True)


def convert_tensors(state: dict[str, Any], *, norm_head: bool) -> dict[str, Any]:
    """One shard's tensors with ``W_pack`` split, the head normalised, ``inv_freq`` gone."""
    import torch.nn.functional as F

    converted = {}
    for name, tensor in state.items():
        if name.endswith("rotary_emb.inv_freq"):
            continue
        if ".W_pack." in name:
            if tensor.shape[0] % 3:
                raise ModelError(
                    f"{name} has {tensor.shape[0]} rows, not a multiple of 3 (query, key, value)",
                    where="model.path",
                    hint="This is not a Baichuan 7B checkpoint; set model.loader to the loader "
                    "that fits it.",
                )
            # clone: the three views share storage, which safetensors refuses to save
            for projection, part in zip(PROJECTIONS, tensor.chunk(3, dim=0)):
                converted[name.replace("W_pack", projection)] = part.clone()
        elif name == "lm_head.weight" and norm_head:
            converted[name] = F.normalize(tensor.float(), dim=-1).to(tensor.dtype)
        else:
            converted[name] = tensor
    return converted


def converted_shards(source: Path, *, norm_head: bool) -> Iterator[dict[str, Any]]:
    for path in weight_files(source):
        yield convert_tensors(read_shard(path), norm_head=norm_head)


def write_converted(source: Path, target: Path, *, norm_head: bool, num_layers: int) -> str:
    """Convert every shard of ``source`` into safetensors files (and an index) in ``target``.

    Returns the dtype the embeddings are stored in (``"bfloat16"``...): released
    configs may say ``float32`` for half-precision files, and ``dtype = "auto"``
    should load what is actually there.
    """
    from safetensors.torch import save_file

    files = weight_files(source)
    names = (
        ["model.safetensors"]
        if len(files) == 1
        else [f"model-{i:05d}-of-{len(files):05d}.safetensors" for i in range(1, len(files) + 1)]
    )
    weight_map: dict[str, str] = {}
    total_size = 0
    stored_dtype = "float32"
    for name, shard in zip(names, converted_shards(source, norm_head=norm_head)):
        save_file(shard, str(target / name), metadata={"format": "pt"})
        for key, tensor in shard.items():
            weight_map[key] = name
            total_size += tensor.numel() * tensor.element_size()
        if "model.embed_tokens.weight" in shard:
            stored_dtype = str(shard["model.embed_tokens.weight"].dtype).removeprefix("torch.")
        del shard  # before the next shard is read, so that two are never in memory at once
    check_complete(weight_map, num_layers)
    if len(names) > 1:
        weight_map = dict(sorted(weight_map.items()))
        index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
        (target / "model.safetensors.index.json").write_text(json.dumps(index, indent=2), "utf-8")
    return stored_dtype


def check_complete(keys: dict[str, str], num_layers: int) -> None:
    """Refuse a checkpoint with missing tensors: LLaMA would fill them with random values."""
    expected = ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
    expected += [f"model.layers.{i}.{key}" for i in range(num_layers) for key in LAYER_KEYS]
    missing = [key for key in expected if key not in keys]
    if missing:
        shown = ", ".join(missing[:5])
        if len(missing) > 5:
            shown += f" and {len(missing) - 5} more"
        raise ModelError(
            f"the checkpoint lacks tensors a LLaMA model needs: {shown}",
            where="model.path",
            hint="The download may be incomplete; fetch the weight files again.",
        )

"""What a checkpoint was trained with: the recipe's training settings, the data, the base model.

A checkpoint only makes sense for the model, adapter, optimizer settings and
samples it was trained on. Settings that do not change what is learned
(how often to log or save, callbacks, the device, gradient checkpointing,
the length of the run) are left out, so they may change between a run and
its resumption; the micro-batch and accumulation count only count through
their product, the effective batch, so a run that ran out of memory can go
on with a smaller micro-batch. ``[data]`` is left out too: the data
fingerprint covers it, since it hashes the tokenized samples themselves.

The base model's checkpoint folder is fingerprinted too (recorded in run.json),
so that using an adapter later on another base is refused rather than silently
wrong.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from loraforge.recipe import Recipe

NOT_TRAINING_RELEVANT = {
    "model": {"device_map", "trust_remote_code"},
    "train": {
        "epochs", "max_steps", "logging_steps", "callbacks", "device", "gradient_checkpointing",
        "save_steps", "save_every_epoch", "save_total_limit", "batch_size", "grad_accum",
    },
}
EFFECTIVE_BATCH = "train.batch_size × train.grad_accum × processes"


def training_settings(recipe: Recipe, processes: int) -> dict[str, Any]:
    """``section.field → value`` for every setting that changes what is learned."""
    data = recipe.to_dict()
    settings: dict[str, Any] = {}
    for section in ("model", "lora", "train"):
        skipped = NOT_TRAINING_RELEVANT.get(section, set())
        for key, value in sorted(data.get(section, {}).items()):
            if key not in skipped:
                settings[f"{section}.{key}"] = value
    train = recipe.train
    settings[EFFECTIVE_BATCH] = train.batch_size * train.grad_accum * processes
    return settings


def settings_hash(settings: dict[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def changed_settings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``field: old → new`` for each setting that differs."""
    missing = object()
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, missing), after.get(key, missing)
        if old != new:
            shown = ["unset" if v is missing else json.dumps(v, default=str) for v in (old, new)]
            lines.append(f"{key}: {shown[0]} → {shown[1]}")
    return lines


def data_fingerprint(dataset: Any) -> str:
    """A hash of a ``datasets.Dataset``'s columns and values, in order.

    It reads the Arrow buffers directly (no Python objects per row), so a
    dataset of millions of samples is hashed in about the time it takes to
    read its memory once.
    """
    digest = hashlib.sha256()
    table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
    if getattr(dataset, "_indices", None) is not None:  # a shuffled or selected view
        table = dataset.flatten_indices().data.table
    digest.update(str(dataset.num_rows).encode())
    for name in sorted(table.column_names):
        digest.update(name.encode())
        for chunk in table.column(name).chunks:
            _hash_array(digest, chunk)
    return digest.hexdigest()[:16]


def _hash_array(digest: Any, array: Any) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        lengths = pc.fill_null(pc.list_value_length(array), -1)
        digest.update(lengths.to_numpy(zero_copy_only=False).tobytes())
        _hash_array(digest, array.flatten())
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        digest.update(array.to_numpy(zero_copy_only=False).tobytes())
    else:  # strings and anything rarer: slower, but exact
        digest.update(json.dumps(array.to_pylist(), default=str).encode())


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
EDGE_BYTES = 1 << 20


def checkpoint_fingerprint(folder: Path) -> str:
    """A hash of a model checkpoint folder's config and weights, read in milliseconds.

    ``config.json`` and any weight index are hashed whole; each weight file by
    its name, size and first and last MiB (where a safetensors header lists
    every tensor's offsets). Neither the folder's path nor modification times
    count, so a copy moved elsewhere keeps its fingerprint, and a re-saved or
    retrained one does not.
    """
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        name = path.name
        if name == "config.json" or name.endswith(".index.json"):
            digest.update(f"{name}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        elif name.endswith(WEIGHT_SUFFIXES):
            size = path.stat().st_size
            digest.update(f"{name} {size}\n".encode())
            with path.open("rb") as file:
                digest.update(file.read(EDGE_BYTES))
                if size > EDGE_BYTES:
                    file.seek(max(size - EDGE_BYTES, EDGE_BYTES))
                    digest.update(file.read(EDGE_BYTES))
    return digest.hexdigest()[:16]


def base_model_record(model: Any) -> dict[str, Any]:
    """Where the base weights of ``model`` (a peft model or a plain one) were loaded from.

    ``path`` is the checkpoint folder the loader handed to transformers (for a
    converted family, the converted checkpoint), ``fingerprint`` its
    :func:`checkpoint_fingerprint`, or None when it is not a local folder.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    source = str(getattr(base, "name_or_path", "") or "")
    folder = Path(source).expanduser() if source else None
    if folder is None or not (folder / "config.json").is_file():
        return {"path": source or None, "fingerprint": None}
    return {"path": str(folder.resolve()), "fingerprint": checkpoint_fingerprint(folder)}

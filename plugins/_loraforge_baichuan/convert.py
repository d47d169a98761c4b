"""Converting a Baichuan 7B checkpoint to a LLaMA checkpoint, once, in the cache.

The converted checkpoint lives in ``loraforge.cache.cache_dir() / "converted" /
<key>``, where the key fingerprints the source's content:

- the variant it is converted as (it decides whether the head is normalised);
- the small files (``config.json``, the tokenizer files, the weight index)
  are hashed whole;
- each weight file contributes its name, size, modification time and a hash
  of its first and last MiB (the safetensors header, with every tensor's
  offsets, is in the first).

Hashing every byte of a 14 GB checkpoint would cost as much as loading it, on
every run. Any write to a file changes its modification time, so an edited,
re-saved or re-downloaded shard gives a new key and a new conversion; the one
change this misses is a same-size edit in the middle of a file whose old
modification time was then restored by hand. ``CONVERSION_VERSION`` is part of
the key too, so a change to the conversion itself invalidates old results.

A conversion is written to a temporary folder next to its final place and
renamed into it, so an interrupted run never leaves a half-written checkpoint
that a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from _loraforge_baichuan.tokenizer import convert_tokenizer
from _loraforge_baichuan.variants import Variant
from _loraforge_baichuan.weights import INDEX_FILES, weight_files, write_converted
from loraforge.cache import cache_dir
from loraforge.errors import ModelError
from loraforge.reporting import note

CONVERSION_VERSION = 1
SMALL_FILES = (
    "config.json",
    "tokenizer.model",
    "tokenizer_config.json",
    *INDEX_FILES,
)
EDGE_BYTES = 1 << 20
RECORD = "loraforge-conversion.json"


def converted_root() -> Path:
    return cache_dir() / "converted"


def source_key(source: Path, variant: Variant) -> str:
    """A fingerprint of the checkpoint in ``source`` (see the module docstring)."""
    digest = hashlib.sha256(
        f"baichuan-to-llama v{CONVERSION_VERSION} {variant.name}\n".encode()
    )
    for name in SMALL_FILES:
        path = source / name
        digest.update(f"{name}\n".encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    for path in weight_files(source):
        stat = path.stat()
        digest.update(f"{path.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        digest.update(_edges_digest(path, stat.st_size))
    return digest.hexdigest()[:32]


def _edges_digest(path: Path, size: int) -> bytes:
    edges = hashlib.sha256()
    with path.open("rb") as f:
        edges.update(f.read(EDGE_BYTES))
        if size > EDGE_BYTES:
            f.seek(max(size - EDGE_BYTES, EDGE_BYTES))
            edges.update(f.read(EDGE_BYTES))
    return edges.digest()


def llama_config(config: dict[str, Any], dtype: str) -> Any:
    """The ``LlamaConfig`` equal to a Baichuan 7B ``config.json``, weights stored in ``dtype``."""
    from transformers import LlamaConfig

    heads = config["num_attention_heads"]
    return LlamaConfig(
        vocab_size=config["vocab_size"],
        hidden_size=config["hidden_size"],
        intermediate_size=config["intermediate_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=heads,
        # W_pack gives keys and values as many heads as queries
        num_key_value_heads=heads,
        hidden_act=config.get("hidden_act", "silu"),
        max_position_embeddings=config.get("max_position_embeddings")
        or config.get("model_max_length")
        or 4096,
        initializer_range=config.get("initializer_range", 0.02),
        rms_norm_eps=config.get("rms_norm_eps", 1e-6),
        bos_token_id=config.get("bos_token_id", 1),
        eos_token_id=config.get("eos_token_id", 2),
        pad_token_id=config.get("pad_token_id", 0),
        tie_word_embeddings=config.get("tie_word_embeddings", False),
        # Baichuan's rotary embedding has a fixed base of 10000 and no scaling
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        dtype=dtype,
    )


def convert(source: Path, target: Path, variant: Variant) -> None:
    """Write the LLaMA form of the Baichuan checkpoint ``source`` into the folder ``target``."""
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    dtype = write_converted(
        source, target, norm_head=variant.norm_head, num_layers=config["num_hidden_layers"]
    )
    converted_config = llama_config(config, dtype)
    converted_config.save_pretrained(str(target))
    # generation_config.json is left behind: training does not use it, and one
    # written for older transformers can fail current ones' checks on saving
    convert_tokenizer(source, target, max_length=converted_config.max_position_embeddings)


def converted_checkpoint(source: Path, variant: Variant) -> Path:
    """The cached LLaMA conversion of ``source``, converting it first if there is none."""
    if not (source / "config.json").is_file():
        raise ModelError(f"no config.json in {source}", where="model.path")
    root = converted_root()
    target = root / source_key(source, variant)
    if (target / RECORD).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    check_free_space(source, root)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    # minutes for a 7B model, with nothing else to show for it
    note(f"converting {variant.title} in {source} to a LLaMA checkpoint in {target} "
         "(once: later runs reuse it)", phase="model")
    try:
        convert(source, staging, variant)
        record = {"source": str(source.resolve()), "variant": variant.name,
                  "conversion_version": CONVERSION_VERSION}
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(staging, target)
        except OSError:
            # another process finished the same conversion first; theirs is as good
            if not (target / RECORD).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def check_free_space(source: Path, root: Path) -> None:
    """Fail before converting, not halfway through, when the cache's disk is too full."""
    needed = sum(path.stat().st_size for path in weight_files(source))
    free = shutil.disk_usage(root).free
    if free < needed * 1.05:
        raise ModelError(
            f"converting {source.name} needs about {needed / 1e9:.1f} GB free in {root}, "
            f"but that disk has {free / 1e9:.1f} GB",
            where="model.path",
            hint="Free some space there, or set LORAFORGE_CACHE to a folder on a disk with room.",
        )

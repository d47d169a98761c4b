"""Reading a checkpoint's weights a tensor at a time, and writing them in shards of bounded size.

A merge never holds a whole model: tensors are read one by one (from
safetensors files with plain reads, .bin files mapped where torch can), and written out in
shards of at most ``max_bytes``, so its memory follows the shard size chosen
for the output, whatever the base's own layout (Baichuan-7B ships one 14 GB
file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loraforge.errors import ModelError

INDEX = "model.safetensors.index.json"
BIN_INDEX = "pytorch_model.bin.index.json"
SINGLE = "model.safetensors"
DEFAULT_MAX_BYTES = 2 * 1024**3


def weight_files(folder: Path) -> list[Path]:
    """The checkpoint's weight files: the shards its index lists, or its one file."""
    for index_name in (INDEX, BIN_INDEX):
        index = folder / index_name
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            return [folder / name for name in sorted(set(weight_map.values()))]
    for name in (SINGLE, "pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    raise ModelError(f"no weights found in {folder}", where="model.path",
                     hint="The base's folder must hold model.safetensors or pytorch_model.bin "
                     "(or their shards and index).")


# safetensors' dtype names
DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
          "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
          "BOOL": "bool", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def read_tensors(path: Path) -> Iterator[tuple[str, Any]]:
    """The tensors of one weight file, one at a time."""
    if path.suffix == ".safetensors":
        yield from _read_safetensors(path)
        return
    import torch

    # weights_only: a .bin is a pickle, and unpickling anything else runs code
    try:
        tensors = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):  # only the legacy, pre-zip format cannot be mapped
            raise
        tensors = torch.load(path, map_location="cpu", weights_only=True)
    for key in list(tensors):
        yield key, tensors.pop(key)


def _read_safetensors(path: Path) -> Iterator[tuple[str, Any]]:
    """Each tensor of a safetensors file, read with plain reads rather than mapped.

    A mapped file's pages stay in the process's resident memory until it is
    closed, so mapping a 14 GB single-file checkpoint would look (to ``top``,
    and to the OOM killer's count) like holding all of it; read tensor by
    tensor, only one is held.
    """
    import struct

    import torch

    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
        header.pop("__metadata__", None)
        start = 8 + length
        for key, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            begin, end = entry["data_offsets"]
            dtype = DTYPES.get(entry["dtype"])
            if dtype is None:
                raise ModelError(f"{path} holds {key} as {entry['dtype']}, which the merge does "
                                 "not read", where="model.path")
            file.seek(start + begin)
            data = bytearray(file.read(end - begin))
            tensor = torch.frombuffer(data, dtype=getattr(torch, dtype)) if data else torch.empty(
                0, dtype=getattr(torch, dtype))
            yield key, tensor.reshape(entry["shape"])


class ShardWriter:
    """Collects tensors and writes them as safetensors shards of at most ``max_bytes`` each.

    Shards are named once their number is known (``model.safetensors`` alone,
    or ``model-0000i-of-0000n.safetensors`` with an index), as
    ``save_pretrained`` names them.
    """

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.folder = folder
        self.max_bytes = max_bytes
        self.pending: dict[str, Any] = {}
        self.pending_bytes = 0
        self.parts: list[list[str]] = []
        self.total_bytes = 0

    def add(self, key: str, tensor: Any) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.max_bytes:
            self.flush()
        self.pending[key] = tensor.contiguous()
        self.pending_bytes += size
        self.total_bytes += size

    def flush(self) -> None:
        from safetensors.torch import save_file

        if not self.pending:
            return
        save_file(self.pending, str(self._part(len(self.parts))), metadata={"format": "pt"})
        self.parts.append(list(self.pending))
        self.pending, self.pending_bytes = {}, 0  # freed before the next tensor is read

    def close(self) -> int:
        """Write what is left, name the shards, write the index; returns the number of shards."""
        self.flush()
        count = len(self.parts)
        if count == 1:
            os.replace(self._part(0), self.folder / SINGLE)
            return 1
        weight_map = {}
        for number, keys in enumerate(self.parts):
            name = f"model-{number + 1:05d}-of-{count:05d}.safetensors"
            os.replace(self._part(number), self.folder / name)
            weight_map.update({key: name for key in keys})
        index = {"metadata": {"total_size": self.total_bytes},
                 "weight_map": dict(sorted(weight_map.items()))}
        (self.folder / INDEX).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        return count

    def _part(self, number: int) -> Path:
        return self.folder / f".part-{number:05d}.safetensors"

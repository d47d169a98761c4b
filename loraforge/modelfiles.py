"""A checkpoint folder's files, checked before anything is loaded from it.

A download that stopped half-way leaves an index naming shards that are
not there; transformers then fails deep inside loading with a message that
blames nobody. :func:`check_weight_files` says what is missing, for
``loraforge validate`` and for loaders (a public function of the core that
plugins may call). Nothing here imports anything heavy.
"""

from __future__ import annotations

import json
from pathlib import Path

from loraforge.errors import ModelError

INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def missing_shards(folder: str | Path) -> tuple[Path, list[str]] | None:
    """The index file and the shards it lists that are not in ``folder``, or None if all are."""
    folder = Path(folder)
    for name in INDEXES:
        index = folder / name
        if not index.is_file():
            continue
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        except (OSError, ValueError, AttributeError):
            raise ModelError(f"{index} is not a valid index (JSON with a weight_map)",
                             where="model.path",
                             hint="The download is damaged: download the checkpoint again.") from None
        shards = sorted(set(weight_map.values()))
        missing = [shard for shard in shards if not (folder / shard).is_file()]
        if missing:
            return index, missing
    return None


def check_weight_files(folder: str | Path) -> None:
    """Raise :class:`ModelError` when ``folder``'s index lists shards that are not on disk."""
    found = missing_shards(folder)
    if found is None:
        return
    index, missing = found
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    verb = "is" if len(missing) == 1 else "are"
    raise ModelError(
        f"the checkpoint in {Path(folder)} is incomplete: {index.name} lists {shown}, "
        f"which {verb} not on disk",
        where="model.path",
        hint="The download stopped before it ended: run the download again (hf download "
        "resumes where it stopped), then check that every file the index names is there.",
    )

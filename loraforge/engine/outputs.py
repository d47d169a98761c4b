"""The files a run leaves in its output directory, each written so a crash never leaves half of one.

A finished run leaves ``adapter_model.safetensors`` and ``adapter_config.json``
(stock PEFT), the tokenizer files, the resolved ``recipe.toml``, ``run.json``,
``metrics.jsonl``, ``loss.png`` and ``checkpoints/`` (and ``tensorboard/`` when
``train.report_to`` asks for it). Only process 0 writes any of them.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from loraforge.recipe import Recipe

RUN_FILE = "run.json"
ADAPTER_CONFIG = "adapter_config.json"
LOCK_FILE = ".loraforge.lock"
# files a run writes; --overwrite removes only these, never the user's own files
RUN_OUTPUTS = (
    "adapter_model.safetensors", ADAPTER_CONFIG, "recipe.toml", RUN_FILE,
    "metrics.jsonl", "events.jsonl", "loss.png", "README.md", "checkpoints", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "chat_template.jinja",
    ".loraforge-reserve", "tensorboard",
)
# what a run leaves while it writes: temporary files, staged adapters (named by process)
TEMPORARY = (".*.tmp", ".adapter.*.partial", ".adapter.partial")


def is_run_output(name: str) -> bool:
    """Whether a file of that name in an output folder is one loraforge writes."""
    from fnmatch import fnmatch

    return (name in RUN_OUTPUTS or name == LOCK_FILE
            or any(fnmatch(name, pattern) for pattern in TEMPORARY))


def temporary_name(path: Path) -> Path:
    """A name beside ``path`` for writing it, unique to this process and call."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def output_path(recipe: Recipe) -> Path:
    return Path(recipe.output.dir).expanduser()


def read_run(output_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((output_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def remove_run_outputs(output_dir: Path) -> None:
    """Remove what earlier runs wrote into ``output_dir`` (not the lock, not the user's files)."""
    if not output_dir.is_dir():
        return
    for path in output_dir.iterdir():
        if path.name == LOCK_FILE or not is_run_output(path.name):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot sync a directory; the data is still written
        pass
    finally:
        os.close(fd)


def sync_tree(folder: Path) -> None:
    """Flush every file under ``folder`` to disk, so a power cut cannot undo them after a rename."""
    for path in Path(folder).rglob("*"):
        if path.is_file():
            _fsync(path)
    _fsync(folder)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a crash never leaves half a file."""
    tmp = temporary_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync(path.parent)


def write_run(output_dir: Path, record: dict[str, Any]) -> None:
    write_atomic(output_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")


def save_adapter(model: Any, tokenizer: Any, output_dir: Path) -> None:
    """Save the adapter and tokenizer in stock format; files appear only when complete.

    Everything is written to a staging folder first and renamed into place,
    ``adapter_config.json`` last: PEFT cannot load an adapter without it, so
    an adapter interrupted between two renames is never loaded half-written.
    """
    staging = output_dir / f".adapter.{os.getpid()}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    sync_tree(staging)
    items = sorted(staging.iterdir(), key=lambda item: item.name == ADAPTER_CONFIG)
    for item in items:
        os.replace(item, output_dir / item.name)
    staging.rmdir()
    _fsync(output_dir)

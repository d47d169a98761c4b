"""The output directory: refusing to clobber a finished run, and what a run leaves there.

A finished run leaves ``adapter_model.safetensors`` and ``adapter_config.json``
(stock PEFT), the tokenizer files, the resolved ``recipe.toml``, ``run.json``
and ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from loraforge.errors import OutputError
from loraforge.recipe import Recipe

RUN_FILE = "run.json"
# files a run writes; --overwrite removes only these, never the user's own files
RUN_OUTPUTS = (
    "adapter_model.safetensors", "adapter_config.json", "recipe.toml", RUN_FILE,
    "metrics.jsonl", "README.md", "checkpoints", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "tokenizer.model", "chat_template.jinja",
)
PACKAGES = ("torch", "transformers", "peft", "accelerate", "datasets", "bitsandbytes", "pluggy")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_run(output_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((output_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def prepare_output_dir(recipe: Recipe, overwrite: bool) -> Path:
    """Create the output dir; refuse one holding a finished run unless ``overwrite``."""
    output_dir = Path(recipe.output.dir).expanduser()
    previous = read_run(output_dir)
    if previous and previous.get("finished_at"):
        if not (overwrite or recipe.output.overwrite):
            raise OutputError(
                f"{output_dir} already holds a run that finished at {previous['finished_at']}",
                where="output.dir",
                hint="Choose another output.dir (--set output.dir=runs/new), or pass "
                "--overwrite to replace that run's files.",
            )
        for name in RUN_OUTPUTS:
            path = output_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {output_dir}: {exc.strerror}", where="output.dir") from None
    return output_dir


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_run(output_dir: Path, record: dict[str, Any]) -> None:
    write_atomic(output_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")


def versions(plugin_versions: dict[str, str | None]) -> dict[str, Any]:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loraforge": version("loraforge"),
        "packages": {name: version(name) for name in PACKAGES},
        "plugins": plugin_versions,
        "argv": sys.argv,
    }


def save_adapter(model: Any, tokenizer: Any, output_dir: Path) -> None:
    """Save the adapter and tokenizer in stock format; files appear only when complete."""
    staging = output_dir / ".adapter.partial"
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    for item in staging.iterdir():
        os.replace(item, output_dir / item.name)
    staging.rmdir()

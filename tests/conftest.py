"""Test-wide settings: no hub access, a shared cache, no stray plugins."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Set before transformers, datasets or the plugins are imported anywhere.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("LORAFORGE_CACHE", str(ROOT / ".pytest_cache" / "loraforge-cache"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Only the first-party plugins: whatever else is installed on the machine stays out.
os.environ["LORAFORGE_LOAD_PLUGINS"] = os.environ.get(
    "LORAFORGE_TEST_PLUGINS", "llama,baichuan,targets,formatters,callbacks"
)

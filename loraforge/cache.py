"""Where loraforge keeps what it builds or converts once and reuses."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$LORAFORGE_CACHE``, else ``$XDG_CACHE_HOME/loraforge``, else ``~/.cache/loraforge``."""
    if env := os.environ.get("LORAFORGE_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "loraforge"

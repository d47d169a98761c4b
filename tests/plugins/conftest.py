"""Fixtures shared by the plugin tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_llama_dir() -> Path:
    """The default tiny LLaMA checkpoint, built into the test cache on first use."""
    from _loraforge_llama.tiny import tiny_llama_path

    return tiny_llama_path()

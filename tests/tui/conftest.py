"""What the wizard's tests share: a folder of their own with the shipped reviews in it."""

from __future__ import annotations

from pathlib import Path

import pytest

REVIEWS = Path(__file__).resolve().parents[2] / "recipes" / "data" / "reviews.jsonl"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A new folder, the current one, holding reviews.jsonl: recipes' paths stay relative."""
    (tmp_path / "reviews.jsonl").write_text(REVIEWS.read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path

"""The documentation keeps up with the code: every recipe field is in the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from loraforge.recipe import Recipe

DOCS = Path(__file__).resolve().parents[1] / "docs"


def section_text(doc: str, section: str) -> str:
    start = doc.index(f"## `[{section}]`")
    end = doc.find("\n## ", start + 1)
    return doc[start:end if end != -1 else None]


@pytest.mark.parametrize("section", list(Recipe.model_fields))
def test_every_recipe_field_is_documented(section):
    doc = (DOCS / "recipe.md").read_text()
    text = section_text(doc, section)
    fields = Recipe.model_fields[section].annotation.model_fields
    missing = [name for name in fields if f"| `{name}` |" not in text]
    assert not missing, f"docs/recipe.md [{section}] lacks: {missing}"

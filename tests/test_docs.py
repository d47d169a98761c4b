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


AFTER_TRAINING = ("chat", "generate", "eval", "merge", "report")


def subcommand_options(name: str) -> set[str]:
    from loraforge.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return {option for action in subparsers.choices[name]._actions
            for option in action.option_strings
            if option.startswith("--") and option not in ("--help", "--debug")}


@pytest.mark.parametrize("name", AFTER_TRAINING)
def test_every_after_training_option_is_documented(name):
    doc = (DOCS / "after-training.md").read_text()
    missing = sorted(option for option in subcommand_options(name) if f"`{option}" not in doc
                     and f" {option}" not in doc)
    assert not missing, f"docs/after-training.md does not name {name}'s {missing}"
    readme = (DOCS.parent / "README.md").read_text()
    row = next((line for line in readme.splitlines() if line.startswith(f"| `loraforge {name} ")),
               None)
    assert row is not None, f"the README's commands table has no row for {name}"

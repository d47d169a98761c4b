"""The documentation keeps up with the code: every recipe field, link and wizard step."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loraforge.recipe import Recipe

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


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


def test_every_picture_and_page_the_docs_link_to_exists():
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert not broken, broken


def test_the_wizard_page_shows_every_step():
    from loraforge.tui.app import STEPS

    doc = (DOCS / "wizard.md").read_text()
    for step in STEPS:
        assert f"](images/wizard-{step.NAME}.svg)" in doc, step.NAME
        assert f". {step.TITLE}\n" in doc, step.TITLE


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

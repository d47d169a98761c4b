"""The hook reference keeps up with the contract: every hook, argument, method and field."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from loraforge import components, hookspecs
from loraforge.plugins import HOOKS, Plugins

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "plugins" / "hooks.md"
HOOK_NAMES = sorted(name for name in dir(Plugins().pm.hook) if not name.startswith("_"))


@pytest.fixture(scope="module")
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def headings(text: str) -> set[str]:
    """``### `name(args)` `` headings, as ``name``."""
    return {match for match in re.findall(r"^### `(\w+)\(", text, flags=re.M)}


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_documented_with_its_arguments(hook, reference):
    assert hook in headings(reference), f"docs/plugins/hooks.md has no heading for {hook}"
    arguments = getattr(Plugins().pm.hook, hook).spec.argnames
    signature = f"{hook}({', '.join(arguments)})"
    assert signature in reference, f"docs/plugins/hooks.md lacks {signature}"


def test_every_hook_has_a_docstring_and_registers_a_kind():
    for hook in HOOK_NAMES:
        doc = inspect.getdoc(getattr(hookspecs, hook))
        assert doc and ":param register:" in doc, hook
    assert set(HOOK_NAMES) == set(HOOKS)


def _public_methods(cls: type) -> list[str]:
    return [name for name, value in vars(cls).items()
            if inspect.isfunction(value) and not name.startswith("_")]


COMPONENT_METHODS = [
    (kind, cls, name) for kind, cls in components.KINDS.items() for name in _public_methods(cls)
]


@pytest.mark.parametrize(("kind", "cls", "method"), COMPONENT_METHODS,
                         ids=[f"{cls.__name__}.{m}" for _, cls, m in COMPONENT_METHODS])
def test_every_component_method_is_documented_with_its_arguments(kind, cls, method, reference):
    parameters = list(inspect.signature(getattr(cls, method)).parameters)[1:]  # without self
    signature = f"{method}({', '.join(parameters)})"
    assert f"`{signature}`" in reference, f"docs/plugins/hooks.md lacks {cls.__name__}.{signature}"


@pytest.mark.parametrize("value", [components.LoadedModel, components.RunInfo],
                         ids=lambda cls: cls.__name__)
def test_every_field_a_plugin_exchanges_is_documented(value, reference):
    missing = [f.name for f in dataclasses.fields(value) if f"| `{f.name}` |" not in reference]
    assert not missing, f"docs/plugins/hooks.md lacks {value.__name__} fields {missing}"


def test_the_reference_states_the_current_api_version(reference):
    assert f"`{hookspecs.API_VERSION}`" in reference
    assert f'{hookspecs.API_ATTRIBUTE} = ">=' in reference


def _table_rows(text: str, heading: str) -> list[list[str]]:
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    rows = [line.strip("|").split("|") for line in text[start:end].splitlines()
            if line.startswith("| ") and not line.startswith("| ---")]
    return [[cell.strip() for cell in row] for row in rows[1:]]


def test_the_errors_a_component_raises_exist_and_their_wheres_are_recipe_fields(reference):
    import builtins

    from loraforge import errors
    from loraforge.recipe import Recipe

    rows = _table_rows(reference, "## Errors a component raises")
    assert len(rows) >= 6
    for _, raised, where in rows:
        for name in re.findall(r"`(\w+Error)", raised):
            assert any(hasattr(m, name) for m in (errors, components, builtins)), name
        for field in re.findall(r"`(\w+\.\w+)`", where):
            section, name = field.split(".")
            assert name in Recipe.model_fields[section].annotation.model_fields, field


def test_the_failure_table_covers_each_way_a_plugin_is_reported(reference):
    table = reference[reference.index("## When a plugin goes wrong"):]
    for case in ("sys.exit", "KeyboardInterrupt", "prints", "two installed distributions",
                 "not marked `@hookimpl`", "instance instead of a class", "returns no `Sample`",
                 "first-party plugin", "asks for an argument"):
        assert case in table, case


def test_sample_is_described_as_what_it_is(reference):
    assert dataclasses.is_dataclass(components.Sample)
    assert "A `Sample` is a tuple" not in reference
    assert "A `Sample` is a frozen dataclass whose `segments` field is a tuple" in reference
    assert components.Sample.__dataclass_params__.frozen


def test_the_essential_plugins_are_the_ones_the_reference_names(reference):
    from loraforge.plugins import ESSENTIAL_PLUGINS

    names = ", ".join(f"`{name}`" for name in ESSENTIAL_PLUGINS[:-1])
    assert f"{names} and `{ESSENTIAL_PLUGINS[-1]}`" in reference


def test_rows_reach_format_as_the_reference_says(tmp_path, reference):
    """A row lacking a column holds None for it; values keep their JSON types."""
    from loraforge.engine.sources import load_splits
    from loraforge.testing import load_recipe_in

    assert "holds `None` for it" in reference
    rows = [{"text": "a", "label": 1, "score": 0.5, "ok": True, "tags": ["x"], "meta": {"k": "v"}},
            {"text": "b"}]
    recipe = load_recipe_in(tmp_path, rows=rows)
    dataset = load_splits(recipe).train.dataset
    by_text = {row["text"]: row for row in dataset}
    full, sparse = by_text["a"], by_text["b"]
    assert (type(full["label"]), type(full["score"]), type(full["ok"])) == (int, float, bool)
    assert full["tags"] == ["x"] and full["meta"] == {"k": "v"}
    assert sparse["label"] is None and sparse["tags"] is None and sparse["meta"] is None


def test_the_wizard_the_guides_speak_of_exists_and_builds_forms_from_options():
    from loraforge.cli import build_parser
    from loraforge.tui.forms import field_specs

    tutorial = (REFERENCE.parent / "tutorial.md").read_text(encoding="utf-8")
    assert "wizard (`loraforge new`)" in tutorial
    build_parser().parse_args(["new", "recipe.toml"])  # the command exists
    from pydantic import BaseModel, Field

    class Options(BaseModel):
        marks: int = Field(1, title="Marks", description="How many.")

    (spec,) = field_specs(Options)
    assert (spec.key, spec.title, spec.help, spec.default) == ("marks", "Marks", "How many.", 1)

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

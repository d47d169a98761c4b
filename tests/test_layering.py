"""The modules' dependencies run one way: what may import what, read from the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_tokenizing_and_batching_do_not_import_each_other():
    assert not any(m.startswith("loraforge.engine.batches") for m in imports(
        ROOT / "loraforge" / "engine" / "data.py"))
    assert not any(m.startswith("loraforge.engine.data") for m in imports(
        ROOT / "loraforge" / "engine" / "batches.py"))


@pytest.mark.parametrize("module", ["plan.py", "recipe.py", "authoring.py", "components.py",
                                    "hookspecs.py", "plugins.py", "plugin_checks.py", "registry.py", "events.py",
                                    "reporting.py", "modules.py", "modelfiles.py"])
def test_the_core_does_not_import_the_engine(module):
    assert not any(m.startswith("loraforge.engine") for m in imports(ROOT / "loraforge" / module))


@pytest.mark.parametrize("path", sorted((ROOT / "plugins").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT / "plugins")))
def test_first_party_plugins_use_only_the_public_core(path):
    internal = sorted(m for m in imports(path) if m.startswith(("loraforge.engine", "loraforge.cli")))
    assert internal == [], f"{path.name} reaches into {internal}"


def _from_imports(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module for alias in node.names]


FRONT_ENDS = ("tui",)
FRONT_END_COMMANDS = ("wizard_cmd.py", "watch_cmd.py")


@pytest.mark.parametrize("path", sorted((ROOT / "loraforge" / "tui").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT / "loraforge")))
def test_the_wizard_uses_only_the_engines_public_functions(path):
    from loraforge.engine import FRONT_END_API

    reached = sorted(f"{module}.{name}" for module, name in _from_imports(path)
                     if module.startswith("loraforge.engine")
                     and name not in FRONT_END_API.get(module, ()))
    assert reached == [], f"{path.name} reaches into the engine's own parts: {reached}"
    plain = [alias.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Import) for alias in node.names]
    assert not any(m.startswith("loraforge.engine") for m in plain)


def test_nothing_outside_the_front_ends_imports_textual():
    offenders = []
    for path in sorted((ROOT / "loraforge").rglob("*.py")):
        relative = path.relative_to(ROOT / "loraforge")
        if relative.parts[0] in FRONT_ENDS or relative.name in FRONT_END_COMMANDS:
            continue
        if any(m == "textual" or m.startswith(("textual.", "loraforge.tui")) for m in imports(path)):
            offenders.append(str(relative))
    assert offenders == []

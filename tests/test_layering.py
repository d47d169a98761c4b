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

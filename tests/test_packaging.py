"""The distribution's declared ranges hold what it is tested with and what its code needs."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def lowest(specifier: SpecifierSet) -> Version:
    bounds = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=")]
    assert bounds, f"{specifier} has no lower bound"
    return max(bounds)


def test_every_dependency_is_installed_within_its_declared_range():
    for text in PROJECT["dependencies"]:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate():
            continue
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{requirement.name} {installed} is outside {requirement.specifier}")


def test_the_python_range_starts_where_the_dependencies_python_does():
    ours = lowest(SpecifierSet(PROJECT["requires-python"]))
    for text in PROJECT["dependencies"]:
        name = Requirement(text).name
        theirs = metadata.metadata(name).get("Requires-Python")
        if theirs:
            assert ours >= lowest(SpecifierSet(theirs)), (
                f"{name} needs Python {theirs}, but requires-python is {PROJECT['requires-python']}")
    # the recipe reader is the standard library's tomllib, new in Python 3.11
    assert ours >= Version("3.11")

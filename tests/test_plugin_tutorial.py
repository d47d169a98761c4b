"""The plugin author's guide shows code that exists and works.

Every listing in the tutorial marked ``<!-- file: PATH -->`` is the example
plugin's file, character for character, and every one marked
``<!-- generated: PATH -->`` is what ``loraforge plugins new shout`` writes;
the example and the generated package are installed and tested in
tests/test_example_plugin.py. The testing guide documents every fixture and
helper.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import loraforge.testing
from loraforge.cli.plugins_new import skeleton_files
from loraforge.testing import pytest_plugin

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "plugins"
LISTING = re.compile(r"<!-- (file|generated): (\S+) -->\n```\w*\n(.*?)```", re.S)


def listings() -> list[tuple[str, str, str]]:
    return LISTING.findall((DOCS / "tutorial.md").read_text(encoding="utf-8"))


def test_the_tutorial_shows_the_example_and_the_generated_files():
    sources = {source for source, _, _ in listings()}
    assert sources == {"file", "generated"}
    shown = {path for _, path, _ in listings()}
    example = ROOT / "examples" / "loraforge-shout"
    for path in ("loraforge_shout/__init__.py", "loraforge_shout/formatter.py",
                 "loraforge_shout/callbacks.py", "tests/test_shout.py"):
        assert f"examples/loraforge-shout/{path}" in shown
        assert (example / path).is_file()


@pytest.mark.parametrize(("source", "path", "text"), listings(), ids=[p for _, p, _ in listings()])
def test_each_listing_in_the_tutorial_is_the_real_file(source, path, text):
    if source == "file":
        actual = (ROOT / path).read_text(encoding="utf-8")
    else:
        actual = skeleton_files("shout")[path]
    assert text == actual, f"docs/plugins/tutorial.md shows an outdated {path}"


FIXTURES = sorted(
    name for name, value in vars(pytest_plugin).items()
    if hasattr(value, "_fixture_function_marker") or type(value).__name__ == "FixtureFunctionDefinition"
)


def test_the_fixtures_are_found():
    assert {"register_plugin", "run_recipe", "validate_recipe", "tiny_model"} <= set(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES + loraforge.testing.__all__)
def test_every_fixture_and_helper_is_documented(name):
    guide = (DOCS / "testing.md").read_text(encoding="utf-8")
    assert f"`{name}" in guide, f"docs/plugins/testing.md does not describe {name}"


def test_the_readme_and_the_guides_link_each_other():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("tutorial.md", "hooks.md", "testing.md", "callbacks.md"):
        assert f"docs/plugins/{page}" in readme
    tutorial = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    assert "(hooks.md)" in tutorial and "(testing.md)" in tutorial


def test_the_license_the_tutorial_suggests_is_allowed_by_every_build_it_describes():
    """``license = "MIT"`` (a license expression) needs setuptools 77 or newer."""
    import tomllib

    from packaging.requirements import Requirement

    tutorial = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    assert 'license = "MIT"' in tutorial and "setuptools 77" in tutorial
    projects = {
        "generated": skeleton_files("shout")["pyproject.toml"],
        "example": (ROOT / "examples" / "loraforge-shout" / "pyproject.toml").read_text(),
        "loraforge": (ROOT / "pyproject.toml").read_text(),
    }
    for name, text in projects.items():
        (setuptools,) = [Requirement(r) for r in tomllib.loads(text)["build-system"]["requires"]
                         if Requirement(r).name == "setuptools"]
        assert not setuptools.specifier.contains("76.9"), name
        assert setuptools.specifier.contains("77.0"), name


def test_the_tutorials_plugin_selection_says_what_it_loads_and_leaves_out():
    from loraforge.plugins import ESSENTIAL_PLUGINS

    tutorial = " ".join((DOCS / "tutorial.md").read_text(encoding="utf-8").split())
    assert "`LORAFORGE_LOAD_PLUGINS=llama,shout`" in tutorial
    essentials = ", ".join(f"`{name}`" for name in ESSENTIAL_PLUGINS)
    assert f"loraforge's essential plugins ({essentials}), which are always loaded" in tutorial
    assert "`baichuan` included, which only a Baichuan model needs" in tutorial


def test_the_testing_guide_says_what_register_plugin_returns(loraforge_plugins, register_plugin):
    guide = " ".join((DOCS / "testing.md").read_text(encoding="utf-8").split())
    assert "returns `loraforge_plugins` (the `Plugins`; its `.registry` holds the components)" \
        in guide
    from loraforge.hookspecs import hookimpl

    class Empty:
        @hookimpl
        def register_callbacks(self, register):
            pass

    assert register_plugin(Empty(), "empty") is loraforge_plugins

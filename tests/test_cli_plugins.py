"""``loraforge plugins``: the listing tools read, and ``plugins new``, the package it writes."""

from __future__ import annotations

import ast
import json
import tomllib

import pytest

from loraforge.cli import main
from loraforge.cli.plugins_new import skeleton_files
from loraforge.hookspecs import API_VERSION


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")


def test_json_listing_gives_every_plugin_its_version_hooks_and_component_schemas(capsys):
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["api_version"] == API_VERSION
    assert listing["failed"] == []
    for plugin in listing["plugins"]:
        assert set(plugin) == {"name", "version", "distribution", "api", "hooks", "components"}
        assert plugin["version"] and plugin["distribution"] == "loraforge"
        assert plugin["hooks"] and plugin["components"]
        for component in plugin["components"]:
            assert set(component) == {"kind", "name", "description", "options"}
            assert component["description"], component["name"]
            assert component["options"]["type"] == "object"
    template = next(c for p in listing["plugins"] for c in p["components"]
                    if c["name"] == "template")
    fields = template["options"]["properties"]
    assert template["options"]["required"] == ["template"]
    assert template["options"]["additionalProperties"] is False
    assert fields["completion"]["default"] is None and fields["template"]["description"]


def test_new_writes_a_plugin_package(tmp_path, capsys):
    assert main(["plugins", "new", "shout", "--directory", str(tmp_path)]) == 0
    target = tmp_path / "loraforge-shout"
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "README.md", "loraforge_shout/__init__.py", "loraforge_shout/formatter.py",
        "pyproject.toml", "tests/test_shout.py",
    ]
    out = capsys.readouterr().out
    assert f"wrote {target}/" in out and "pip install -e" in out
    project = tomllib.loads((target / "pyproject.toml").read_text())
    assert project["project"]["name"] == "loraforge-shout"
    assert project["project"]["entry-points"]["loraforge"] == {"shout": "loraforge_shout"}
    assert project["project"]["dependencies"] == ["loraforge>=0.1"]


def test_a_hyphenated_name_makes_a_valid_package(tmp_path):
    files = skeleton_files("chat-format")
    assert "loraforge_chat_format/formatter.py" in files
    assert "class ChatFormat(DatasetFormatter):" in files["loraforge_chat_format/formatter.py"]
    assert 'name = "chat-format"' in files["loraforge_chat_format/formatter.py"]
    for path, text in files.items():
        assert "$" not in text, path
        if path.endswith(".py"):
            ast.parse(text, filename=path)


def test_the_generated_plugin_states_the_current_api_range():
    init = skeleton_files("shout")["loraforge_shout/__init__.py"]
    major = int(API_VERSION.split(".")[0])
    assert f'LORAFORGE_API = ">={API_VERSION},<{major + 1}"' in init


def test_the_distribution_prefix_is_optional(tmp_path):
    assert main(["plugins", "new", "loraforge-shout", "--directory", str(tmp_path)]) == 0
    assert (tmp_path / "loraforge-shout" / "loraforge_shout").is_dir()


@pytest.mark.parametrize("name", ["Shout", "2shout", "shout_it", "shout--it", "-"])
def test_a_name_that_cannot_be_a_package_is_refused(tmp_path, capsys, name):
    assert main(["plugins", "new", name, "--directory", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "cannot be a plugin name" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "loraforge-shout").mkdir()
    assert main(["plugins", "new", "shout", "--directory", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not list((tmp_path / "loraforge-shout").iterdir())

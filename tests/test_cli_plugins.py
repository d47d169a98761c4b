"""``loraforge plugins``: the listing tools read, and ``plugins new``, the package it writes."""

from __future__ import annotations

import ast
import json
import re
import tomllib

import pytest

import loraforge.plugins
from loraforge.cli import main
from loraforge.cli.plugins_cmd import describe
from loraforge.cli.plugins_new import skeleton_files
from loraforge.components import DatasetFormatter, Sample
from loraforge.hookspecs import API_VERSION, hookimpl
from loraforge.testing import builtin_plugins


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")


def test_json_listing_gives_every_plugin_its_version_hooks_and_component_schemas(capsys):
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["api_version"] == API_VERSION
    assert listing["failed"] == []
    for plugin in listing["plugins"]:
        assert set(plugin) == {"name", "version", "distribution", "module", "api", "hooks",
                               "components"}
        assert plugin["module"] == f"_loraforge_{plugin['name']}"
        assert plugin["version"] and plugin["distribution"] == "loraforge"
        assert plugin["hooks"] and plugin["components"]
        for component in plugin["components"]:
            assert set(component) == {"kind", "name", "description", "options", "form_problems"}
            assert component["form_problems"] == []  # the built-ins are form-ready
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


def test_the_generated_plugin_states_the_lowest_api_it_needs_and_holds_the_current_one():
    from packaging.specifiers import SpecifierSet

    init = skeleton_files("shout")["loraforge_shout/__init__.py"]
    major = int(API_VERSION.split(".")[0])
    # the skeleton uses nothing added after the first minor version, so older loraforges load it
    assert f'LORAFORGE_API = ">={major}.0,<{major + 1}"' in init
    assert SpecifierSet(f">={major}.0,<{major + 1}").contains(API_VERSION)


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


class _Failing:
    @hookimpl
    def register_callbacks(self, register):
        raise RuntimeError("boom")


class _LongWinded:
    """A plugin and a component with long names, beside loraforge's own."""

    class Formatter(DatasetFormatter):
        name = "a-formatter-whose-name-goes-on-and-on"

        def format(self, row):
            return Sample.of_text(row["text"])

    @hookimpl
    def register_dataset_formatters(self, register):
        register(self.Formatter)


@pytest.fixture
def narrow(monkeypatch):
    """`loraforge plugins` lists the built-in plugins and a long-winded one, at 80 columns."""
    plugins = builtin_plugins()
    plugins.register(_LongWinded(), "loraforge_a_plugin_with_a_rather_long_name_indeed")
    monkeypatch.setattr(loraforge.plugins, "_default", plugins)
    monkeypatch.setenv("COLUMNS", "80")
    return plugins


@pytest.fixture
def listed(narrow):
    """The built-in plugins plus one whose hook raises."""
    narrow.register(_Failing(), "failing")
    return narrow


def test_the_listing_fits_80_columns_without_cutting_a_name(narrow, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out
    words = set(re.findall(r"[\w.-]+", out))
    for row in describe(narrow):
        assert row["name"] in words, row["name"]
        for hook in row["hooks"]:
            assert hook in words, hook
        for component in row["components"]:
            assert component["name"] in words, component["name"]
    assert {"0.1.0", "register_dataset_formatters", "prompt_completion"} <= words


def test_the_table_lists_the_plugins_that_were_not_loaded(listed, capsys):
    assert main(["plugins"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "not loaded: failing: register_callbacks raised RuntimeError: boom" in out


def test_the_json_still_gives_full_hook_names(listed, capsys):
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    formatters = next(p for p in listing["plugins"] if p["name"] == "formatters")
    assert formatters["hooks"] == ["register_dataset_formatters"]
    assert listing["failed"] == [{"name": "failing", "distribution": None, "version": None,
                                  "module": None,
                                  "error": "register_callbacks raised RuntimeError: boom"}]


@pytest.mark.parametrize("name", ["llama", "baichuan", "targets", "formatters", "callbacks"])
def test_new_refuses_the_name_of_a_first_party_plugin(tmp_path, capsys, name):
    assert main(["plugins", "new", name, "--directory", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert f"the name {name!r} is taken: it is one of loraforge's own plugins" in err
    assert f"Choose another name, e.g. {name}-extra" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def _installed(root, dist, module=None, entry_point=None):
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    if entry_point:
        (info / "entry_points.txt").write_text(f"[loraforge]\n{entry_point} = {module}\n")


def test_new_refuses_a_name_taken_by_a_distribution_a_module_or_an_entry_point(tmp_path,
                                                                              monkeypatch):
    from loraforge.cli.plugins_new import write_skeleton
    from loraforge.errors import LoraforgeError

    site = tmp_path / "site"
    site.mkdir()
    _installed(site, "loraforge-echo")
    (site / "loraforge_whisper.py").write_text("")
    _installed(site, "other-tools", module="other_tools", entry_point="mumble")
    monkeypatch.syspath_prepend(str(site))
    expected = {
        "echo": "a distribution named 'loraforge-echo' is installed",
        "whisper": "a module named 'loraforge_whisper' can already be imported",
        "mumble": "the installed distribution 'other-tools' has a plugin (entry point) named "
                  "'mumble'",
    }
    for name, reason in expected.items():
        with pytest.raises(LoraforgeError) as info:
            write_skeleton(name, tmp_path / "out")
        assert info.value.message.startswith(f"the name {name!r} is taken: {reason}")
        assert f"e.g. {name}-extra" in info.value.hint
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["sample", "none", "row-error"])
def test_a_name_that_would_hide_an_import_gets_a_class_name_that_does_not(name):
    from loraforge.cli.plugins_new import skeleton_files

    package = "loraforge_" + name.replace("-", "_")
    code = skeleton_files(name)[f"{package}/formatter.py"]
    ast.parse(code)
    namespace: dict = {}
    exec(compile(code, "formatter.py", "exec"), namespace)  # the class must not hide Sample
    formatter = next(v for k, v in namespace.items() if k.endswith("Formatter") and
                     k != "DatasetFormatter")
    assert formatter().format({"text": "hi"}).text == "hi"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["text", "chat-format"])
def test_the_generated_package_passes_its_own_tests(tmp_path, name):
    """`text` is also the name of a built-in formatter; `chat-format` has a hyphen."""
    import os
    import subprocess
    import sys

    from loraforge.cli.plugins_new import write_skeleton

    target = write_skeleton(name, tmp_path)
    env = dict(os.environ, PYTHONPATH=str(target))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:textual-snapshot",
         str(target / "tests")], capture_output=True, text=True, env=env, cwd=target, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_show_gives_one_plugins_components_with_their_options(capsys):
    assert main(["plugins", "show", "formatters"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("formatters\n  distribution: loraforge ")
    assert "  module: _loraforge_formatters\n" in out
    assert "  hooks: register_dataset_formatters\n" in out
    assert "  dataset formatter 'template'\n" in out
    # an option's name, type, default or requiredness, title and description
    assert "      template: str, required (Template)\n" in out
    assert "      completion: str | None, default None (Completion template)" in out
    assert "      instruction: str, default 'instruction' (Instruction column)\n" in out


def test_show_says_why_a_plugin_was_not_loaded(listed, capsys):
    assert main(["plugins", "show", "failing"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "  not loaded: register_callbacks raised RuntimeError: boom")


def test_show_refuses_a_plugin_that_is_not_installed(capsys):
    assert main(["plugins", "show", "nonesuch"]) == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert "no plugin is named 'nonesuch' (installed: " in err and "Traceback" not in err


def test_the_listing_shows_each_components_description_and_options(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert ("  dataset formatter template: Fill a format string with the columns, e.g. "
            '"Review: {text} Label: {label}".') in out
    assert '      options: template (required), completion = null' in out
    assert '  callback metrics: Append every logged metric to metrics.jsonl' in out

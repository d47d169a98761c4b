"""Plugin discovery and the component registry."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from pydantic import BaseModel, ConfigDict

from loraforge import __version__
from loraforge.components import DatasetFormatter, Sample
from loraforge.errors import PluginError, UnknownComponentError
from loraforge.hookspecs import API_VERSION, hookimpl
from loraforge.plugins import OptionsError, Plugins


class Upper(DatasetFormatter):
    name = "upper"
    description = "Upper-cases a column."

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        column: str = "text"

    def format(self, row):
        return Sample.of_text(row[self.options.column].upper())


class UpperPlugin:
    @hookimpl
    def register_dataset_formatters(self, register):
        register(Upper)


@pytest.fixture
def plugins():
    return Plugins()


def test_registered_plugin_provides_its_component(plugins):
    plugins.register(UpperPlugin(), "upper-plugin")
    formatter = plugins.registry.create("formatter", "upper", {"column": "body"}, where="data.formatter")
    assert formatter.format({"body": "hi"}).text == "HI"
    assert plugins.registry.get("formatter", "upper").plugin == "upper-plugin"
    assert plugins.hooks_of("upper-plugin") == ["register_dataset_formatters"]


def test_unregistering_removes_components(plugins):
    plugins.register(UpperPlugin(), "upper-plugin")
    assert "upper" in plugins.registry.names("formatter")
    plugins.unregister("upper-plugin")
    assert "upper" not in plugins.registry.names("formatter")


def test_options_are_validated_against_the_component_schema(plugins):
    plugins.register(UpperPlugin(), "upper-plugin")
    with pytest.raises(OptionsError) as info:
        plugins.registry.create("formatter", "upper", {"colum": "x"}, where="data.formatter")
    assert info.value.problems == ["data.formatter.colum: unknown key (check the spelling; "
                                   "`loraforge validate` lists the fields)"]


def test_unknown_name_lists_known_ones(plugins):
    plugins.register(UpperPlugin(), "upper-plugin")
    with pytest.raises(UnknownComponentError, match=r"no dataset formatter is named 'uper' \(known: upper\)"):
        plugins.registry.get("formatter", "uper")


def test_two_components_with_one_name_is_an_error(plugins):
    plugins.register(UpperPlugin(), "one")
    plugins.register(UpperPlugin(), "two")
    with pytest.raises(PluginError, match="two dataset formatters are named 'upper'.*'one'.*'two'"):
        plugins.registry


def test_a_hook_that_raises_is_reported_by_plugin_name(plugins):
    class Broken:
        @hookimpl
        def register_callbacks(self, register):
            raise RuntimeError("boom")

    plugins.register(Broken(), "broken")
    with pytest.raises(PluginError) as info:
        plugins.registry
    assert info.value.where == "plugin 'broken'"
    assert "boom" in info.value.message


def test_registering_a_non_component_is_an_error(plugins):
    class Wrong:
        @hookimpl
        def register_model_loaders(self, register):
            register(dict)

    plugins.register(Wrong(), "wrong")
    with pytest.raises(PluginError, match="not a subclass of loraforge.components.ModelLoader"):
        plugins.registry


def test_builtin_plugins_load_through_entry_points(plugins):
    plugins.load_entry_points(["llama", "targets", "formatters", "callbacks"])
    assert set(plugins.info) == {"llama", "targets", "formatters", "callbacks"}
    assert plugins.info["llama"].distribution == "loraforge"
    assert "llama" in plugins.registry.names("loader")
    assert {"qv", "attention", "all-linear", "regex"} <= set(plugins.registry.names("selector"))
    assert {"text", "template"} <= set(plugins.registry.names("formatter"))
    assert {"console", "metrics"} <= set(plugins.registry.names("callback"))


def fake_distribution(tmp_path, name, module_source):
    """A minimal installed distribution on a path entry: a module and its entry point."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(module_source))
    dist = tmp_path / f"{name}-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(f"[loraforge]\n{name} = {name}\n")
    return tmp_path


def run_cli(args, extra_path, env_plugins):
    env = dict(os.environ, PYTHONPATH=str(extra_path), LORAFORGE_LOAD_PLUGINS=env_plugins)
    return subprocess.run([sys.executable, "-m", "loraforge", *args], capture_output=True,
                          text=True, env=env)


def test_a_plugin_that_fails_to_import_is_named_and_skipped(tmp_path):
    path = fake_distribution(tmp_path, "lf_broken", "raise ImportError('needs foo')\n")
    result = run_cli(["plugins", "--json"], path, "lf_broken,targets")
    assert result.returncode == 0, result.stderr
    assert "plugin 'lf_broken' was not loaded (ImportError: needs foo)" in result.stderr
    listing = json.loads(result.stdout)
    assert [p["name"] for p in listing["plugins"]] == ["targets"]
    assert listing["failed"] == [{"name": "lf_broken", "error": "ImportError: needs foo"}]


def test_third_party_entry_point_is_listed_with_its_version(tmp_path):
    path = fake_distribution(tmp_path, "lf_shout", """
        from loraforge.components import DatasetFormatter, Sample
        from loraforge.hookspecs import hookimpl

        class Shout(DatasetFormatter):
            name = "shout"
            description = "Shouts."

            def format(self, row):
                return Sample.of_text(row["text"].upper())

        @hookimpl
        def register_dataset_formatters(register):
            register(Shout)
    """)
    result = run_cli(["plugins", "--json"], path, "lf_shout")
    assert result.returncode == 0, result.stderr
    (plugin,) = json.loads(result.stdout)["plugins"]
    assert plugin["name"] == "lf_shout"
    assert plugin["version"] == "1.2.3"
    assert plugin["hooks"] == ["register_dataset_formatters"]
    assert plugin["components"][0]["name"] == "shout"


def test_empty_load_list_loads_no_plugins(tmp_path):
    result = run_cli(["plugins", "--json"], tmp_path, "")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["plugins"] == []


def test_asking_for_a_plugin_that_is_not_installed_says_so(tmp_path):
    result = run_cli(["plugins", "--json"], tmp_path, "targets,nonesuch")
    assert result.returncode == 0, result.stderr
    assert "plugin 'nonesuch' was not loaded (no installed plugin is named 'nonesuch')" in result.stderr


class Versioned:
    """A plugin stating the plugin API versions it supports."""

    def __init__(self, supported):
        self.LORAFORGE_API = supported

    @hookimpl
    def register_dataset_formatters(self, register):
        register(Upper)


def test_a_plugin_supporting_this_api_version_is_registered(plugins):
    plugins.register(Versioned(">=1.0,<2"), "current")
    assert plugins.info["current"].api == ">=1.0,<2"
    assert "upper" in plugins.registry.names("formatter")


def test_a_plugin_for_another_major_api_version_is_refused_with_the_versions(plugins):
    with pytest.raises(PluginError) as info:
        plugins.register(Versioned(">=2,<3"), "future")
    assert info.value.where == "plugin 'future'"
    assert f"supports loraforge plugin API >=2,<3, but loraforge {__version__} provides API " \
           f"{API_VERSION}" in info.value.message
    assert not plugins.pm.has_plugin("future")


def test_a_range_that_is_not_a_range_is_refused(plugins):
    with pytest.raises(PluginError, match="LORAFORGE_API = 'one' is not a version range"):
        plugins.register(Versioned("one"), "vague")


def test_api_version_is_major_dot_minor():
    assert re.fullmatch(r"\d+\.\d+", API_VERSION)


def test_a_hook_with_an_unknown_argument_is_refused_by_plugin_name(plugins):
    class Misspelt:
        @hookimpl
        def register_callbacks(self, registr):
            pass

    with pytest.raises(PluginError) as info:
        plugins.register(Misspelt(), "misspelt")
    assert info.value.where == "plugin 'misspelt'"
    assert "registr" in info.value.message


def test_a_function_marked_as_a_hook_that_loraforge_lacks_is_refused(plugins):
    class Unknown:
        @hookimpl
        def register_formatters(self, register):
            pass

    with pytest.raises(PluginError, match="implements register_formatters, which is not a "
                                          "loraforge hook"):
        plugins.register(Unknown(), "unknown")
    assert not plugins.pm.has_plugin("unknown")


def test_entry_points_outside_the_api_range_or_with_bad_hooks_are_named_and_skipped(tmp_path):
    fake_distribution(tmp_path, "lf_future", """
        from loraforge.hookspecs import hookimpl
        LORAFORGE_API = ">=2,<3"

        @hookimpl
        def register_callbacks(register):
            pass
    """)
    fake_distribution(tmp_path, "lf_typo", """
        from loraforge.hookspecs import hookimpl

        @hookimpl
        def register_loaders(register):
            pass
    """)
    result = run_cli(["plugins", "--json"], tmp_path, "lf_future,lf_typo,targets")
    assert result.returncode == 0, result.stderr
    assert "plugin 'lf_future' was not loaded (it supports loraforge plugin API >=2,<3" in result.stderr
    assert "plugin 'lf_typo' was not loaded (implements register_loaders" in result.stderr
    listing = json.loads(result.stdout)
    assert listing["api_version"] == API_VERSION
    assert [p["name"] for p in listing["plugins"]] == ["targets"]
    assert {f["name"] for f in listing["failed"]} == {"lf_future", "lf_typo"}


def test_tracing_prints_each_hook_call_what_it_registered_and_its_result(capsys):
    traced = Plugins(tracing=True)
    traced.register(UpperPlugin(), "upper-plugin")
    traced.registry
    assert capsys.readouterr().err.splitlines() == [
        "loraforge trace: calling register_dataset_formatters(register=register) in plugin "
        "'upper-plugin'",
        "loraforge trace:   plugin 'upper-plugin' registered dataset formatter 'upper' "
        "(test_plugins.Upper)",
        "loraforge trace: register_dataset_formatters in plugin 'upper-plugin' returned nothing",
    ]


def test_tracing_is_turned_on_by_the_environment_and_shows_a_failing_hook(monkeypatch, capsys):
    class Broken:
        @hookimpl
        def register_target_selectors(self, register):
            raise RuntimeError("boom")

    monkeypatch.setenv("LORAFORGE_TRACE_PLUGINS", "1")
    traced = Plugins()
    traced.register(Broken(), "broken")
    with pytest.raises(PluginError):
        traced.registry
    err = capsys.readouterr().err
    assert "register_target_selectors in plugin 'broken' raised RuntimeError: boom" in err


def test_tracing_is_off_by_default(monkeypatch, capsys):
    monkeypatch.delenv("LORAFORGE_TRACE_PLUGINS", raising=False)
    plugins = Plugins()
    plugins.register(UpperPlugin(), "upper-plugin")
    plugins.registry
    assert capsys.readouterr().err == ""

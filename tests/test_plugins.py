"""Plugin discovery and the component registry."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from fake_plugins import FORMATTER, cli, distribution
from pydantic import BaseModel, ConfigDict

from loraforge import __version__
from loraforge.components import DatasetFormatter, Sample
from loraforge.errors import PluginError, UnknownComponentError
from loraforge.hookspecs import API_VERSION, hookimpl
from loraforge.plugins import Plugins
from loraforge.registry import OptionsError


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
    assert info.value.problems == ["data.formatter.colum: unknown key; did you mean 'column'?"]


def test_unknown_name_lists_known_ones(plugins):
    plugins.register(UpperPlugin(), "upper-plugin")
    with pytest.raises(UnknownComponentError, match=r"no dataset formatter is named 'uper' \(known: upper\)"):
        plugins.registry.get("formatter", "uper")


class Lower(Upper):
    name = "lower"

    def format(self, row):
        return Sample.of_text(row[self.options.column].lower())


class UpperAndLowerPlugin:
    @hookimpl
    def register_dataset_formatters(self, register):
        register(Upper)
        register(Lower)


def test_a_name_two_plugins_share_is_refused_naming_both_and_the_rest_works(plugins):
    plugins.register(UpperPlugin(), "one")
    plugins.register(UpperAndLowerPlugin(), "two")
    registry = plugins.registry  # loading does not fail: only the shared name is unusable
    assert set(plugins.info) == {"one", "two"} and plugins.failures == {}
    with pytest.raises(PluginError, match="two dataset formatters are named 'upper': one from "
                                          "plugin 'one', one from plugin 'two'") as info:
        registry.create("formatter", "upper", {}, where="data.formatter")
    assert info.value.where == "data.formatter"
    assert "LORAFORGE_LOAD_PLUGINS" in info.value.hint
    assert registry.create("formatter", "lower", {}, where="data.formatter").format(
        {"text": "Hi"}).text == "hi"
    assert registry.clash_messages() == [(
        "two dataset formatters are named 'upper' (plugins 'one', 'two'): a recipe cannot use "
        "that name until one of them is left out")]
    assert [(kind, entry.cls.name) for kind, entry in registry.provided_by("two")] == [
        ("formatter", "lower"), ("formatter", "upper")]


class Broken:
    """Registers a formatter, then fails in its callbacks hook."""

    class Half(DatasetFormatter):
        name = "half"

        def format(self, row):
            return Sample.of_text(row["text"])

    @hookimpl
    def register_dataset_formatters(self, register):
        register(self.Half)

    @hookimpl
    def register_callbacks(self, register):
        raise RuntimeError("boom")


def test_a_hook_that_raises_drops_that_plugin_and_the_others_work(plugins):
    plugins.register(UpperPlugin(), "upper-plugin")
    plugins.register(Broken(), "broken")
    registry = plugins.registry  # no error: the broken plugin is reported and left out
    assert plugins.failures == {"broken": "register_callbacks raised RuntimeError: boom"}
    assert not plugins.pm.has_plugin("broken") and set(plugins.info) == {"upper-plugin"}
    assert registry.names("formatter") == ["upper"]  # what it registered before failing is gone
    assert registry.create("formatter", "upper", {}, where="data.formatter")


def test_a_component_of_a_plugin_that_failed_says_why(plugins):
    plugins.register(Broken(), "broken")
    with pytest.raises(PluginError) as info:
        plugins.registry.get("formatter", "half", where="data.formatter")
    assert info.value.where == "data.formatter"
    assert info.value.message == ("the dataset formatter 'half' comes from plugin 'broken', which "
                                  "failed to load: register_callbacks raised RuntimeError: boom")
    assert isinstance(info.value.__cause__, RuntimeError)  # the traceback, for --debug


def test_registering_a_non_component_drops_the_plugin_naming_the_hook(plugins):
    class Wrong:
        @hookimpl
        def register_model_loaders(self, register):
            register(dict)

    plugins.register(Wrong(), "wrong")
    assert plugins.registry.names("loader") == []
    assert plugins.failures["wrong"].startswith("register_model_loaders: registered <class 'dict'> "
                                                "as a model loader")
    assert "not a subclass of loraforge.components.ModelLoader" in plugins.failures["wrong"]


def test_a_plugin_that_failed_can_be_registered_again_once_fixed(plugins):
    plugins.register(Broken(), "broken")
    assert plugins.registry.names("formatter") == [] and "broken" in plugins.failures
    plugins.register(UpperPlugin(), "broken")
    assert plugins.failures == {}
    assert plugins.registry.names("formatter") == ["upper"]
    plugins.unregister("broken")
    assert plugins.registry.names("formatter") == []


def test_unknown_name_names_the_plugins_that_were_not_loaded(plugins, tmp_path, monkeypatch):
    distribution(tmp_path, "lf_future", """
        from loraforge.hookspecs import hookimpl
        LORAFORGE_API = ">=2.0,<3"

        @hookimpl
        def register_dataset_formatters(register):
            pass
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.load_entry_points(["lf_future", "formatters"])
    with pytest.raises(UnknownComponentError) as info:
        plugins.registry.get("formatter", "shout", where="data.formatter")
    message = info.value.message
    assert message.startswith("no dataset formatter is named 'shout' (known: ")
    assert message.endswith(f"); plugin 'lf_future' was not loaded: it supports loraforge plugin "
                            f"API >=2.0,<3, but loraforge {__version__} provides API {API_VERSION}")
    assert "not loaded" in info.value.hint and "install the plugin" in info.value.hint


def test_builtin_plugins_load_through_entry_points(plugins):
    plugins.load_entry_points(["llama", "targets", "formatters", "callbacks"])
    assert set(plugins.info) == {"llama", "targets", "formatters", "callbacks"}
    assert plugins.info["llama"].distribution == "loraforge"
    assert "llama" in plugins.registry.names("loader")
    assert {"qv", "attention", "all-linear", "regex"} <= set(plugins.registry.names("selector"))
    assert {"text", "template"} <= set(plugins.registry.names("formatter"))
    assert {"console", "metrics"} <= set(plugins.registry.names("callback"))


def test_a_plugin_that_fails_to_import_is_named_and_skipped(tmp_path):
    path = distribution(tmp_path, "lf_broken", "raise ImportError('needs foo')\n")
    result = cli(["plugins", "--json"], path, "lf_broken,targets")
    assert result.returncode == 0, result.stderr
    assert "plugin 'lf_broken' was not loaded (ImportError: needs foo)" in result.stderr
    listing = json.loads(result.stdout)
    assert [p["name"] for p in listing["plugins"]] == ESSENTIALS
    assert listing["failed"] == [{"name": "lf_broken", "error": "ImportError: needs foo",
                                  "distribution": "lf_broken", "version": "1.2.3",
                                  "module": "lf_broken"}]


BOOM = """
    from loraforge.components import DatasetFormatter, Sample
    from loraforge.hookspecs import hookimpl

    class Boom(DatasetFormatter):
        name = "boom"

        def format(self, row):
            return Sample.of_text(row["text"])

    @hookimpl
    def register_dataset_formatters(register):
        register(Boom)

    @hookimpl
    def register_callbacks(register):
        raise RuntimeError("no callbacks today")
"""
BOOM_FAILURE = "register_callbacks raised RuntimeError: no callbacks today"
ESSENTIALS = ["callbacks", "formatters", "targets"]  # loaded whatever LORAFORGE_LOAD_PLUGINS says
BUILTINS = "llama,targets,formatters,callbacks"


def test_a_plugin_whose_hook_raises_is_listed_as_failed_and_the_tool_works(tmp_path):
    path = distribution(tmp_path, "lf_boom", BOOM)
    result = cli(["plugins", "--json"], path, f"lf_boom,{BUILTINS}")
    assert result.returncode == 0, result.stderr
    assert f"plugin 'lf_boom' was not loaded ({BOOM_FAILURE})" in result.stderr
    listing = json.loads(result.stdout)
    assert "lf_boom" not in [p["name"] for p in listing["plugins"]]
    assert listing["failed"] == [{"name": "lf_boom", "error": BOOM_FAILURE, "distribution": "lf_boom",
                                  "version": "1.2.3", "module": "lf_boom"}]

    table = cli(["plugins"], path, f"lf_boom,{BUILTINS}")
    assert table.returncode == 0, table.stderr
    assert "lf_boom" in table.stdout and "no callbacks today" in table.stdout


CHATTY = """
    print("chatty plugin loaded")
    from loraforge.components import TargetSelector
    from loraforge.hookspecs import hookimpl

    class Chatty(TargetSelector):
        name = "chatty"
        description = "q_proj, and says so."

        def select(self, model, defaults):
            print("chatty chose q_proj")
            return ["q_proj"]

    @hookimpl
    def register_target_selectors(register):
        register(Chatty)
"""


def test_what_a_plugin_prints_stays_out_of_the_json_a_tool_reads(tmp_path):
    path = distribution(tmp_path, "lf_chatty", CHATTY)
    model = tmp_path / "model"
    model.mkdir()
    root = Path(__file__).parents[1]
    shutil.copy(root / "benchmarks" / "configs" / "llama-2-7b.json", model / "config.json")
    recipe = [str(root / "recipes" / "llama-7b-imdb-8bit.toml"), "--set", f'model.path="{model}"',
              "--set", 'lora.targets="chatty"']
    for args in (["plugins", "--json"], ["inspect", *recipe, "--json"],
                 ["estimate", *recipe, "--gpu", "RTX 3060", "--json"]):
        result = cli(args, path, f"lf_chatty,{BUILTINS}")
        assert result.returncode in (0, 1), result.stderr  # estimate: 1 where it does not fit
        json.loads(result.stdout)  # the command's JSON, and nothing else
        assert "chatty plugin loaded" in result.stderr
    assert "chatty chose q_proj" in result.stderr
    # for a person, what a selector prints is where it printed it
    table = cli(["inspect", *recipe], path, f"lf_chatty,{BUILTINS}")
    assert table.returncode == 0 and "chatty chose q_proj" in table.stdout


def test_validate_works_beside_a_broken_plugin_and_names_it_for_its_components(tmp_path):
    from loraforge.testing import write_recipe

    path = distribution(tmp_path, "lf_boom", BOOM)
    unrelated = write_recipe(tmp_path / "plain")
    result = cli(["validate", str(unrelated)], path, f"lf_boom,{BUILTINS}")
    assert result.returncode == 0, result.stderr
    assert f"plugin 'lf_boom' was not loaded ({BOOM_FAILURE})" in result.stderr

    using = write_recipe(tmp_path / "boom", {"data": {"formatter": "boom"}})
    result = cli(["validate", str(using)], path, f"lf_boom,{BUILTINS}")
    assert result.returncode == 2
    err = " ".join(result.stderr.replace("│", " ").split())
    assert ("data.formatter: the dataset formatter 'boom' comes from plugin 'lf_boom', which "
            f"failed to load: {BOOM_FAILURE}") in err
    assert "Traceback" not in err


def test_validate_names_a_plugin_outside_the_api_range_for_an_unknown_component(tmp_path):
    from loraforge.testing import write_recipe

    path = distribution(tmp_path, "lf_future", """
        from loraforge.hookspecs import hookimpl
        LORAFORGE_API = ">=2.0,<3"
    """)
    recipe = write_recipe(tmp_path / "r", {"data": {"formatter": "shout"}})
    result = cli(["validate", str(recipe)], path, f"lf_future,{BUILTINS}")
    assert result.returncode == 2
    err = " ".join(result.stderr.replace("│", " ").split())
    assert "no dataset formatter is named 'shout'" in err
    assert "plugin 'lf_future' was not loaded: it supports loraforge plugin API >=2.0,<3" in err


def test_third_party_entry_point_is_listed_with_its_version(tmp_path):
    path = distribution(tmp_path, "lf_shout", FORMATTER.format(component="shout"))
    result = cli(["plugins", "--json"], path, "lf_shout")
    assert result.returncode == 0, result.stderr
    (plugin,) = [p for p in json.loads(result.stdout)["plugins"] if p["name"] not in ESSENTIALS]
    assert plugin["name"] == "lf_shout"
    assert plugin["version"] == "1.2.3"
    assert plugin["hooks"] == ["register_dataset_formatters"]
    assert plugin["components"][0]["name"] == "shout"


def test_empty_load_list_loads_only_the_essential_plugins(tmp_path):
    result = cli(["plugins", "--json"], tmp_path, "")
    assert result.returncode == 0, result.stderr
    assert [p["name"] for p in json.loads(result.stdout)["plugins"]] == ESSENTIALS


def test_asking_for_a_plugin_that_is_not_installed_says_so(tmp_path):
    result = cli(["plugins", "--json"], tmp_path, "targets,nonesuch")
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
    distribution(tmp_path, "lf_future", """
        from loraforge.hookspecs import hookimpl
        LORAFORGE_API = ">=2,<3"

        @hookimpl
        def register_callbacks(register):
            pass
    """)
    distribution(tmp_path, "lf_typo", """
        from loraforge.hookspecs import hookimpl

        @hookimpl
        def register_loaders(register):
            pass
    """)
    result = cli(["plugins", "--json"], tmp_path, "lf_future,lf_typo,targets")
    assert result.returncode == 0, result.stderr
    assert "plugin 'lf_future' was not loaded (it supports loraforge plugin API >=2,<3" in result.stderr
    assert "plugin 'lf_typo' was not loaded (implements register_loaders" in result.stderr
    listing = json.loads(result.stdout)
    assert listing["api_version"] == API_VERSION
    assert [p["name"] for p in listing["plugins"]] == ESSENTIALS
    assert {f["name"] for f in listing["failed"]} == {"lf_future", "lf_typo"}


def test_tracing_prints_each_hook_call_what_it_registered_and_its_result(capsys):
    traced = Plugins(tracing=True)
    traced.register(UpperPlugin(), "upper-plugin")
    traced.registry  # noqa: B018  (building it is the point)
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
    traced.registry  # noqa: B018  (building it is the point)
    assert "broken" in traced.failures
    err = capsys.readouterr().err
    assert "register_target_selectors in plugin 'broken' raised RuntimeError: boom" in err


def test_tracing_is_off_by_default(monkeypatch, capsys):
    monkeypatch.delenv("LORAFORGE_TRACE_PLUGINS", raising=False)
    plugins = Plugins()
    plugins.register(UpperPlugin(), "upper-plugin")
    plugins.registry  # noqa: B018  (building it is the point)
    assert capsys.readouterr().err == ""

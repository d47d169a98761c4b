"""Plugins that cannot break loraforge or each other: installed packages that misbehave.

Each case is an installed distribution on a path entry (a module and its
entry point), driven through the real command line in a subprocess.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from fake_plugins import FORMATTER, cli, distribution

from loraforge.components import DatasetFormatter, Sample
from loraforge.errors import PluginError, UnknownComponentError
from loraforge.hookspecs import hookimpl
from loraforge.plugins import ESSENTIAL_PLUGINS, Plugins
from loraforge.testing import write_recipe


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())




def test_a_plugin_calling_sys_exit_at_import_is_named_and_the_command_works(tmp_path):
    distribution(tmp_path, "lf_exit", "import sys\nsys.exit(3)\n")
    result = cli(["plugins", "--json"], tmp_path, "lf_exit")
    assert result.returncode == 0, result.stderr
    assert "plugin 'lf_exit' was not loaded (it called sys.exit(3) while being imported)" \
        in result.stderr
    assert json.loads(result.stdout)["failed"][0]["name"] == "lf_exit"


def test_a_hook_calling_sys_exit_is_named_and_skipped():
    class Exiting:
        @hookimpl
        def register_callbacks(self, register):
            sys.exit(4)

    plugins = Plugins()
    plugins.register(Exiting(), "exiting")
    assert plugins.registry.names("callback") == []
    assert plugins.failures == {
        "exiting": "register_callbacks: it called sys.exit(4) instead of registering"}


def test_a_keyboard_interrupt_at_import_names_the_plugin(tmp_path):
    distribution(tmp_path, "lf_interrupt", "raise KeyboardInterrupt\n")
    result = cli(["plugins"], tmp_path, "lf_interrupt")
    assert result.returncode == 130
    assert "interrupted while importing plugin 'lf_interrupt'" in result.stderr
    assert "Traceback" not in result.stderr


def test_what_plugins_print_never_breaks_the_json(tmp_path):
    distribution(tmp_path, "lf_chatty", """
        print("hello from the chatty plugin")
        from loraforge.hookspecs import hookimpl

        @hookimpl
        def register_callbacks(register):
            print("registering, loudly")
    """)
    result = cli(["plugins", "--json"], tmp_path, "lf_chatty")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)  # nothing the plugin printed is in it
    assert "lf_chatty" in [p["name"] for p in listing["plugins"]]
    assert "hello from the chatty plugin" in result.stderr and "registering, loudly" in result.stderr


def test_debug_shows_the_traceback_of_a_plugin_that_fails_to_import(tmp_path):
    distribution(tmp_path, "lf_broken", "def deep():\n    raise ImportError('needs foo')\ndeep()\n")
    plain = cli(["plugins"], tmp_path, "lf_broken")
    assert "Traceback" not in plain.stderr
    result = cli(["--debug", "plugins"], tmp_path, "lf_broken")
    assert result.returncode == 0, result.stderr
    assert "plugin 'lf_broken' was not loaded (ImportError: needs foo)" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "lf_broken.py" in result.stderr and "in deep" in result.stderr


def test_two_distributions_with_one_plugin_name_are_both_named_and_neither_loaded(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    distribution(first, "loraforge-shout", FORMATTER.format(component="shout"),
                 module="shout_one", entry_point="shout")
    distribution(second, "shouting-tools", FORMATTER.format(component="shout"),
                 module="shout_two", entry_point="shout", version="2.0")
    path = f"{first}{os.pathsep}{second}"
    result = cli(["plugins", "--json"], path, "shout", LORAFORGE_TRACE_PLUGINS="1")
    assert result.returncode == 0, result.stderr
    err = flat(result.stderr)
    assert ("plugin 'shout' was not loaded (2 installed distributions give a plugin this name: "
            "distribution 'loraforge-shout' 1.2.3 (module shout_one); distribution "
            "'shouting-tools' 2.0 (module shout_two); neither is loaded") in err
    listing = json.loads(result.stdout)
    assert {"kind": "plugin", "name": "shout", "distributions": [
        {"name": "loraforge-shout", "version": "1.2.3", "module": "shout_one"},
        {"name": "shouting-tools", "version": "2.0", "module": "shout_two"}]} in listing["clashes"]
    assert [f["name"] for f in listing["failed"]] == ["shout"]

    recipe = write_recipe(tmp_path / "r", {"data": {"formatter": "shout"}})
    validate = cli(["validate", str(recipe)], path, "shout,llama")
    assert validate.returncode == 2
    err = flat(validate.stderr)
    assert "no dataset formatter is named 'shout'" in err
    assert "'loraforge-shout' 1.2.3 (module shout_one)" in err and "'shouting-tools' 2.0" in err


def test_a_third_party_plugin_cannot_take_a_first_party_plugins_name(tmp_path):
    distribution(tmp_path, "loraforge-llama", FORMATTER.format(component="loud"),
                 module="loraforge_llama", entry_point="llama")
    result = cli(["plugins", "--json"], tmp_path, "llama")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    llama = next(p for p in listing["plugins"] if p["name"] == "llama")
    assert llama["distribution"] == "loraforge" and llama["module"] == "_loraforge_llama"
    assert "tiny-llama" in [c["name"] for c in llama["components"]]
    assert ("plugin 'llama' of distribution 'loraforge-llama' 1.2.3 (module loraforge_llama) "
            "was not loaded: loraforge's own plugin has that name") in flat(result.stderr)
    assert listing["warnings"][0]["code"] == "plugin_name_taken"


def test_the_first_party_packages_are_not_the_names_plugins_new_makes():
    from importlib import metadata

    for ep in metadata.entry_points(group="loraforge"):
        if ep.dist.metadata["Name"] == "loraforge":
            assert not ep.value.startswith("loraforge_"), ep  # what `plugins new NAME` writes


def test_a_hook_without_hookimpl_is_warned_about_naming_the_function():
    class Unmarked:
        def register_dataset_formatters(self, register):
            register(Shout)

    plugins = Plugins()
    plugins.register(Unmarked(), "unmarked")
    assert plugins.hooks_of("unmarked") == []
    assert plugins.warnings == [("hook_not_marked", (
        "plugin 'unmarked': its function register_dataset_formatters is not marked @hookimpl, so "
        "loraforge does not call it; put `@hookimpl` (from loraforge import hookimpl) on the "
        "line above it"))]


def test_an_unmarked_hook_is_named_by_the_command_line(tmp_path):
    distribution(tmp_path, "lf_unmarked", "def register_callbacks(register):\n    pass\n")
    result = cli(["plugins"], tmp_path, "lf_unmarked")
    assert result.returncode == 0, result.stderr
    assert "its function register_callbacks is not marked @hookimpl" in flat(result.stderr)
    assert "register_callbacks is not marked @hookimpl" in flat(result.stdout)  # under warnings


class Shout(DatasetFormatter):
    name = "shout"

    def format(self, row):
        return Sample.of_text(row["text"].upper())


def test_registering_an_instance_says_to_register_the_class():
    class Instance:
        @hookimpl
        def register_dataset_formatters(self, register):
            register(Shout())

    plugins = Plugins()
    plugins.register(Instance(), "instance")
    plugins.registry  # noqa: B018
    assert plugins.failures["instance"] == (
        "register_dataset_formatters: registered an instance of Shout as a dataset formatter: "
        "register the class, not an instance (register(Shout))")


def test_a_hook_with_wrong_arguments_is_one_sentence():
    class Wrong:
        @hookimpl
        def register_callbacks(self, register, model):
            pass

    with pytest.raises(PluginError) as info:
        Plugins().register(Wrong(), "wrong")
    assert info.value.message == (
        "its hook register_callbacks(register, model) asks for 'model', which loraforge does not "
        "pass: the hook's only argument is 'register'")
    assert "\n" not in info.value.message


def test_recipes_keep_their_defaults_when_only_a_model_family_is_loaded(tmp_path):
    recipe = write_recipe(tmp_path, {"train": {"callbacks": ["console", "metrics"]}})
    result = cli(["validate", str(recipe)], tmp_path, "llama")
    assert result.returncode == 0, result.stderr
    assert "text (formatters)" in result.stdout and "qv (targets)" in result.stdout


def test_an_empty_plugin_selection_is_named_as_the_reason_nothing_is_found(tmp_path):
    recipe = write_recipe(tmp_path)
    result = cli(["validate", str(recipe)], tmp_path, "")
    assert result.returncode == 2
    err = flat(result.stderr)
    assert "no model loader is named 'tiny-llama' (known: none)" in err
    assert ("LORAFORGE_LOAD_PLUGINS is set and empty, so only loraforge's essential plugins "
            f"({', '.join(ESSENTIAL_PLUGINS)}) were loaded") in err
    assert "Traceback" not in err


def test_a_selection_names_what_it_left_out(tmp_path):
    recipe = write_recipe(tmp_path, {"model": {"loader": "baichuan"}})
    result = cli(["validate", str(recipe)], tmp_path, "llama")
    assert result.returncode == 2
    assert "LORAFORGE_LOAD_PLUGINS='llama' loads only those plugins and the essential ones " \
        "(targets, formatters, callbacks); it left out 'baichuan'" in flat(result.stderr)


class One:
    @hookimpl
    def register_dataset_formatters(self, register):
        register(Shout)


class Two:
    class Louder(Shout):
        def format(self, row):
            return Sample.of_text(row["text"].upper() + "!")

    @hookimpl
    def register_dataset_formatters(self, register):
        register(self.Louder)


def test_plugin_colon_name_picks_one_of_two_components_with_one_name():
    plugins = Plugins()
    plugins.register(One(), "one")
    plugins.register(Two(), "two")
    registry = plugins.registry
    with pytest.raises(PluginError) as info:
        registry.get("formatter", "shout")
    assert "PLUGIN:NAME (e.g. 'one:shout')" in info.value.hint
    loud = registry.create("formatter", "two:shout", {}, where="data.formatter")
    assert loud.format({"text": "hi"}).text == "HI!" and loud.plugin_name == "two"
    assert registry.create("formatter", "one:shout", {}, where="x").format({"text": "a"}).text == "A"
    with pytest.raises(UnknownComponentError, match="no loaded plugin is named 'three'"):
        registry.get("formatter", "three:shout")
    with pytest.raises(UnknownComponentError,
                       match=r"plugin 'one' provides no dataset formatter named 'whisper' "
                             r"\(its dataset formatters: shout\)"):
        registry.get("formatter", "one:whisper")


def test_a_recipe_names_a_component_by_plugin(register_plugin, validate_recipe):
    register_plugin(Two(), "two")
    plan = validate_recipe({"data": {"formatter": "two:shout"}})
    assert plan.formatter.plugin_name == "two"
    assert plan.components["data.formatter"] == "two:shout (two)"


def test_forms_offer_each_of_two_components_with_one_name_by_plugin():
    plugins = Plugins()
    plugins.register(One(), "one")
    plugins.register(Two(), "two")
    plugins.register(UniquePlugin(), "unique")
    registry = plugins.registry
    assert registry.choices("formatter") == ["one:shout", "two:shout", "whisper"]
    assert all(registry.has("formatter", choice) for choice in registry.choices("formatter"))
    assert not registry.has("formatter", "shout")


class Whisper(Shout):
    name = "whisper"


class UniquePlugin:
    @hookimpl
    def register_dataset_formatters(self, register):
        register(Whisper)


def test_the_warning_codes_of_plugins_are_documented_events():
    from pathlib import Path

    events = (Path(__file__).resolve().parents[1] / "docs" / "events.md").read_text()
    for code in ("plugin_not_loaded", "name_clash", "plugin_name_taken", "hook_not_marked"):
        assert f"| `{code}` |" in events, code


def test_show_names_the_selection_that_left_a_plugin_out(tmp_path):
    result = cli(["plugins", "show", "baichuan"], tmp_path, "llama")
    assert result.returncode == 2
    err = flat(result.stderr)
    assert "no plugin is named 'baichuan'" in err
    assert "LORAFORGE_LOAD_PLUGINS='llama' loads only those plugins" in err
    assert "or add it to LORAFORGE_LOAD_PLUGINS" in err

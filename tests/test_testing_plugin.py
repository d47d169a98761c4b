"""loraforge.testing: the fixtures and helpers plugin authors test with."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from loraforge.components import DatasetFormatter, Sample, TargetSelector, TrainingCallback
from loraforge.errors import PluginError, RecipeError
from loraforge.hookspecs import hookimpl
from loraforge.testing import (
    BUILTIN_PLUGINS,
    SAMPLE_ROWS,
    TINY_RECIPE,
    builtin_plugins,
    recipe_data,
    registered,
    write_recipe,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


class Middle(TargetSelector):
    name = "middle"

    def select(self, model, defaults):
        return ["self_attn.o_proj"]


class Counter(TrainingCallback):
    name = "counter"
    logged: list[int] = []

    def on_log(self, step, logs):
        Counter.logged.append(step)


class Throwaway:
    @hookimpl
    def register_target_selectors(self, register):
        register(Middle)

    @hookimpl
    def register_callbacks(self, register):
        register(Counter)


def test_the_fixtures_are_a_pytest_plugin_loraforge_declares(request):
    # pytest loaded it from loraforge's `pytest11` entry point, under the entry point's name
    plugin = request.config.pluginmanager.get_plugin("loraforge")
    assert plugin is not None and plugin.__name__ == "loraforge.testing.pytest_plugin"
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared["pytest11"] == {"loraforge": "loraforge.testing.pytest_plugin"}


def test_a_test_registry_holds_only_loraforges_own_plugins(loraforge_plugins):
    assert sorted(loraforge_plugins.info) == sorted(BUILTIN_PLUGINS)
    assert "baichuan" not in loraforge_plugins.info  # installed, but not loaded


def test_register_plugin_adds_a_plugin_for_one_test(register_plugin, loraforge_plugins):
    plugins = register_plugin(Throwaway(), "throwaway")
    assert plugins is loraforge_plugins
    assert plugins.registry.get("selector", "middle").plugin == "throwaway"


def test_register_plugin_loads_an_installed_entry_point_by_name(register_plugin):
    plugins = register_plugin("baichuan")
    assert plugins.info["baichuan"].distribution == "loraforge"
    assert "baichuan" in plugins.registry.names("loader")


def test_registered_unregisters_even_when_the_block_fails():
    plugins = builtin_plugins(["targets"])
    with pytest.raises(RuntimeError), registered(plugins, Throwaway(), "throwaway"):
        assert "middle" in plugins.registry.names("selector")
        raise RuntimeError("the test failed")
    assert "middle" not in plugins.registry.names("selector")
    assert "throwaway" not in plugins.info


def test_an_entry_point_that_is_not_installed_is_an_error():
    with pytest.raises(PluginError, match="no installed plugin is named 'nonesuch'"):
        with registered(builtin_plugins(["targets"]), "nonesuch"):
            pass


def test_recipe_sections_are_merged_key_by_key_over_the_tiny_recipe():
    data = recipe_data({"data": {"formatter": "shout"}, "output": {"dir": "x"}})
    assert data["data"] == {**TINY_RECIPE["data"], "formatter": "shout"}
    assert data["output"] == {"dir": "x"}
    assert TINY_RECIPE["data"]["formatter"] == "text"  # the default is not changed


def test_write_recipe_writes_the_recipe_and_its_rows(tmp_path):
    path = write_recipe(tmp_path, rows=[{"text": "one"}])
    recipe = tomllib.loads(path.read_text())
    assert recipe["output"]["dir"] == str(tmp_path / "out")
    assert (tmp_path / "data.jsonl").read_text() == '{"text": "one"}\n'
    write_recipe(tmp_path / "again")
    lines = (tmp_path / "again" / "data.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == SAMPLE_ROWS


def test_a_recipe_naming_its_own_data_keeps_it(tmp_path):
    own = tmp_path / "mine.jsonl"
    own.write_text('{"text": "mine"}\n')
    write_recipe(tmp_path / "r", {"data": {"path": str(own)}})
    assert own.read_text() == '{"text": "mine"}\n'


def test_validate_recipe_binds_the_components(register_plugin, validate_recipe):
    register_plugin(Throwaway(), "throwaway")
    plan = validate_recipe({"lora": {"targets": "middle"}, "train": {"callbacks": ["counter"]}})
    assert plan.components["lora.targets"] == "middle (throwaway)"
    assert [type(c) for c in plan.callbacks] == [Counter]


def test_validate_recipe_raises_what_the_user_would_see(validate_recipe):
    with pytest.raises(RecipeError) as info:
        validate_recipe({"data": {"formatter": {"name": "text", "colum": "x"}}})
    assert info.value.problems[0].startswith("data.formatter.colum: unknown key")


def test_tiny_model_is_the_tiny_llama_with_its_tokenizer(tiny_model, tiny_llama_dir):
    assert tiny_model.model.config.model_type == "llama"
    assert tiny_model.tokenizer.eos_token == "</s>"
    assert tiny_model.default_targets == ["q_proj", "v_proj"]
    assert (tiny_llama_dir / "config.json").is_file()
    assert Middle().select(tiny_model.model, []) == ["self_attn.o_proj"]


def test_run_recipe_trains_the_tiny_model_with_a_test_plugin(register_plugin, run_recipe):
    Counter.logged.clear()
    register_plugin(Throwaway(), "throwaway")
    result = run_recipe({"lora": {"targets": "middle"}, "train": {"callbacks": ["counter"]}},
                        rows=[{"text": f"sample {i}"} for i in range(4)])
    assert result.global_step == 2
    assert Counter.logged == [1, 2]
    wrapped = {name for name, module in result.model.named_modules() if hasattr(module, "lora_A")}
    assert wrapped and all(name.endswith("self_attn.o_proj") for name in wrapped)
    again = run_recipe(overrides=["train.max_steps=1"])  # a folder of its own
    assert again.output_dir != result.output_dir and again.global_step == 1


def test_a_fresh_pytest_session_gets_the_fixtures_without_a_conftest(pytester, monkeypatch):
    # The inner session runs in this process: keep other plugins' session state
    # (the snapshot plugin keeps its folder in the environment) away from ours.
    if "TEXTUAL_SNAPSHOT_TEMPDIR" in os.environ:
        monkeypatch.setenv("TEXTUAL_SNAPSHOT_TEMPDIR", os.environ["TEXTUAL_SNAPSHOT_TEMPDIR"])
    pytester.makepyfile(test_author="""
        from loraforge.components import DatasetFormatter, Sample
        from loraforge.hookspecs import hookimpl

        class Echo(DatasetFormatter):
            name = "echo"

            def format(self, row):
                return Sample.of_text(row["text"])

        class Plugin:
            @hookimpl
            def register_dataset_formatters(self, register):
                register(Echo)

        def test_registered(register_plugin):
            plugins = register_plugin(Plugin(), "echo")
            assert "echo" in plugins.registry.names("formatter")

        def test_gone_in_the_next_test(loraforge_plugins):
            assert "echo" not in loraforge_plugins.registry.names("formatter")

        def test_validates(register_plugin, validate_recipe):
            register_plugin(Plugin(), "echo")
            assert validate_recipe({"data": {"formatter": "echo"}}).formatter.name == "echo"
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    result.assert_outcomes(passed=3)


def test_sample_rows_have_text_and_labels():
    assert all(set(row) == {"text", "label"} for row in SAMPLE_ROWS)
    assert Sample.of_text(SAMPLE_ROWS[0]["text"]).text.startswith("A quiet")


class RaisingHook:
    @hookimpl
    def register_target_selectors(self, register):
        raise RuntimeError("boom")


class NoComponent:
    @hookimpl
    def register_target_selectors(self, register):
        register(dict)


class Unmarked:
    def register_target_selectors(self, register):
        register(Middle)


@pytest.mark.parametrize(("plugin", "message"), [
    (RaisingHook(), "could not be loaded: register_target_selectors raised RuntimeError: boom"),
    (NoComponent(), "could not be loaded: register_target_selectors: registered <class 'dict'>"),
    (Unmarked(), "its function register_target_selectors is not marked @hookimpl"),
], ids=["hook raises", "no component", "unmarked hook"])
def test_registered_raises_for_whatever_loraforge_would_report(plugin, message):
    plugins = builtin_plugins(["targets"])
    with pytest.raises(PluginError) as info:
        with registered(plugins, plugin, "bad"):
            pass
    assert info.value.where == "plugin 'bad'" and info.value.message.startswith(message)
    assert "bad" not in plugins.info and "bad" not in plugins.failures
    assert plugins.warnings == []


def test_register_plugin_raises_when_a_hook_raises(register_plugin, loraforge_plugins):
    with pytest.raises(PluginError, match="register_target_selectors raised RuntimeError: boom"):
        register_plugin(RaisingHook(), "raising")
    assert "raising" not in loraforge_plugins.failures


def test_tokenize_row_gives_the_ids_and_which_are_trained(tokenize_row):
    tokenized = tokenize_row("template", {"text": "Nice.", "label": "positive"},
                             options={"template": "Review: {text} Label:",
                                      "completion": " {label}"})
    assert len(tokenized.input_ids) == len(tokenized.trained) == len(tokenized.tokens)
    assert tokenized.tokens[0] == "<s>" and not tokenized.trained[0]
    assert tokenized.tokens[-1] == "</s>" and tokenized.trained[-1]
    assert tokenized.trained_text() == " positive</s>"
    assert tokenized.masked_text() == "<s>Review: Nice. Label:"
    first_trained = tokenized.trained.index(True)
    assert all(tokenized.trained[first_trained:])  # the prompt, then the completion


def test_tokenize_row_takes_a_formatter_and_reports_a_plugin_bug(tokenize_row, register_plugin):
    class Stringly(DatasetFormatter):
        name = "stringly"

        def format(self, row):
            return row["text"]

    class Plugin:
        @hookimpl
        def register_dataset_formatters(self, register):
            register(Stringly)

    plugins = register_plugin(Plugin(), "stringly")
    whole = tokenize_row(plugins.registry.create("formatter", "text", {}, where="f"), {"text": "Hi"})
    assert all(whole.trained[1:]) and whole.trained_text() == "Hi</s>"
    with pytest.raises(PluginError, match="returned str from format"):
        tokenize_row("stringly", {"text": "Hi"})


def test_the_tiny_models_shape_is_the_one_the_testing_guide_gives(tiny_model):
    from loraforge.modules import linear_module_names

    guide = (ROOT / "docs" / "plugins" / "testing.md").read_text(encoding="utf-8")
    config = tiny_model.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
            config.num_key_value_heads, config.intermediate_size, config.vocab_size) == (
        2, 128, 4, 4, 256, 2048)
    assert ("2 decoder layers, hidden size 128,\n4 attention heads (4 key/value heads), an MLP of "
            "width 256 and a vocabulary of 2048") in guide
    leaves = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
    expected = [f"model.layers.{i}.{leaf}" for i in range(2) for leaf in leaves]
    assert linear_module_names(tiny_model.model) == expected  # lm_head is no LoRA target
    assert all(f"`{leaf}`" in guide for leaf in leaves) and "`lm_head`" in guide
    assert hasattr(tiny_model.model, "lm_head")

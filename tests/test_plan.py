"""Binding refuses, before anything loads, what the checkpoint's config.json already tells."""

from __future__ import annotations

import json
import tomllib

import pytest

from loraforge.cli import main
from loraforge.errors import RecipeError
from loraforge.plan import bind
from loraforge.recipe import load_recipe
from loraforge.testing import builtin_plugins, write_recipe

PLUGINS = ("llama", "baichuan", "targets", "formatters", "callbacks")


@pytest.fixture(scope="module")
def plugins():
    return builtin_plugins(PLUGINS)


def checkpoint(folder, config, **files):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def recipe_for(tmp_path, model: dict):
    """The tiny test recipe, its [model] replaced by ``model`` (so no loader unless named)."""
    import tomli_w

    path = write_recipe(tmp_path)
    data = tomllib.loads(path.read_text())
    data["model"] = model
    path.write_text(tomli_w.dumps(data))
    return load_recipe(path)


BAICHUAN_13B = {"architectures": ["BaichuanForCausalLM"], "hidden_size": 5120,
                "vocab_size": 64000, "num_hidden_layers": 40}


def test_a_baichuan_13b_checkpoint_needs_trust_remote_code_said_before_loading(tmp_path, plugins):
    folder = checkpoint(tmp_path / "b13", BAICHUAN_13B)
    with pytest.raises(RecipeError) as error:
        bind(recipe_for(tmp_path, {"path": str(folder)}), plugins)
    (problem,) = error.value.problems
    assert problem.startswith("model.trust_remote_code: Baichuan-13B uses ALiBi attention")
    assert error.value.fields[0][0] == "model.trust_remote_code"
    # allowed, it binds
    assert bind(recipe_for(tmp_path, {"path": str(folder), "trust_remote_code": True}),
                plugins).components["model.loader"] == "baichuan (baichuan)"


def test_a_loader_named_for_an_architecture_it_does_not_handle_is_refused(tmp_path, plugins):
    folder = checkpoint(tmp_path / "b13", BAICHUAN_13B)
    with pytest.raises(RecipeError) as error:
        bind(recipe_for(tmp_path, {"path": str(folder), "loader": "llama"}), plugins)
    (problem,) = error.value.problems
    assert problem == ("model.loader: the llama loader does not handle this checkpoint's "
                       "architecture (BaichuanForCausalLM)")


def test_a_config_json_that_is_not_json_is_said_to_be_so_not_missing(tmp_path, plugins):
    folder = checkpoint(tmp_path / "broken", '{"architectures": ["LlamaForCausalLM"],')
    with pytest.raises(RecipeError) as error:
        bind(recipe_for(tmp_path, {"path": str(folder)}), plugins)
    (problem,) = error.value.problems
    assert problem.startswith(f"model.path: {folder / 'config.json'} is not valid JSON (")
    assert "no config.json" not in problem


def test_validate_calls_a_shard_missing_from_the_index_an_incomplete_download(tmp_path, capsys):
    folder = checkpoint(tmp_path / "llama", {"architectures": ["LlamaForCausalLM"],
                                             "model_type": "llama"},
                        **{"model.safetensors.index.json": json.dumps({"weight_map": {
                            "lm_head.weight": "model-00002-of-00002.safetensors",
                            "embed.weight": "model-00001-of-00002.safetensors"}}),
                           "model-00001-of-00002.safetensors": ""})
    recipe = recipe_for(tmp_path / "r", {"path": str(folder)}).source
    assert main(["validate", str(recipe)]) == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert "model.path: the checkpoint in" in err and "is incomplete" in err
    assert "model-00002-of-00002.safetensors, which is not on disk" in err
    assert "bug in the plugin" not in err and "Traceback" not in err

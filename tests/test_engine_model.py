"""What the loader is asked for: the recipe's [model], with train.device reaching it."""

from __future__ import annotations

import pytest
import torch

from loraforge.engine.model import model_spec
from loraforge.engine.train import check_device
from loraforge.errors import RecipeError, TrainingError
from loraforge.plan import bind
from loraforge.testing import builtin_plugins, load_recipe_in


@pytest.fixture(scope="module")
def plugins():
    return builtin_plugins()


def spec(tmp_path, plugins, *overrides):
    return model_spec(bind(load_recipe_in(tmp_path, overrides=list(overrides)), plugins))


def test_training_on_the_cpu_keeps_the_weights_on_the_cpu(tmp_path, plugins):
    # with a GPU present, the loader would otherwise put the base (quantized or not) on it
    assert spec(tmp_path, plugins, 'train.device="cpu"').device_map == "cpu"
    assert spec(tmp_path, plugins, 'train.device="auto"').device_map is None


def test_a_device_map_of_the_recipes_own_is_kept_and_one_against_the_cpu_refused(tmp_path, plugins):
    assert spec(tmp_path, plugins, 'train.device="auto"', 'model.device_map="auto"').device_map == "auto"
    with pytest.raises(RecipeError, match="contradict"):
        spec(tmp_path, plugins, 'train.device="cpu"', 'model.device_map="auto"')


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_a_usable_gpu_is_refused_saying_what_was_found(tmp_path):
    from loraforge.recipe import TrainSection

    with pytest.raises(TrainingError) as error:
        check_device(TrainSection(device="cuda"))
    assert error.value.where == "train.device"
    found = "CPU-only build" if torch.version.cuda is None else "sees no usable GPU"
    assert found in error.value.message
    check_device(TrainSection(device="auto"))  # auto and cpu are always fine


@pytest.mark.parametrize("device_map", [None, "meta"])
def test_the_llama_loader_never_swaps_in_hub_kernels(tmp_path, plugins, device_map):
    # transformers >= 5.25 replaces layers with kernels fetched from the hub by default, which
    # also refuses the meta device that merge loads onto to find the base's folder
    from _loraforge_llama.tiny import tiny_llama_path

    plan = bind(load_recipe_in(tmp_path, overrides=[f'model.path="{tiny_llama_path()}"',
                                                    'model.loader="llama"']), plugins)
    model_spec_ = model_spec(plan).model_copy(update={"device_map": device_map})
    loaded = plan.loader.load(model_spec_)
    assert getattr(loaded.model, "use_kernels", False) is False
    assert {p.device.type for p in loaded.model.parameters()} == {device_map or "cpu"}

"""Test-wide settings: no hub access, a shared cache, no stray plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Set before transformers, datasets or the plugins are imported anywhere.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("LORAFORGE_CACHE", str(ROOT / ".pytest_cache" / "loraforge-cache"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Only the first-party plugins: whatever else is installed on the machine stays out.
os.environ["LORAFORGE_LOAD_PLUGINS"] = os.environ.get(
    "LORAFORGE_TEST_PLUGINS", "llama,baichuan,targets,formatters,callbacks"
)


@pytest.fixture(scope="module")
def llama():
    """A small random-init LLaMA built in memory: module names and shapes, no tokenizer."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=256,
    )
    return transformers.LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def labelled_run(tmp_path_factory):
    """A finished run of the tiny LLaMA taught to answer a review's label and stop.

    Shared by the tests of what comes after training; they must not change its folder.
    """
    from tiny_runs import REVIEWS, labelled_recipe, plugins, write_recipe

    from loraforge.engine.run import run_recipe
    from loraforge.recipe import load_recipe

    folder = tmp_path_factory.mktemp("labelled")
    path = write_recipe(folder, labelled_recipe(REVIEWS, folder / "out"))
    return run_recipe(load_recipe(path), plugins=plugins())


@pytest.fixture(scope="session")
def labelled_model(labelled_run):
    """``labelled_run`` loaded as chat, generate and eval load it (a ``TrainedModel``)."""
    from loraforge.after.models import load_trained
    from loraforge.after.runs import open_run

    return load_trained(open_run(labelled_run.output_dir))


@pytest.fixture
def wide_terminal(monkeypatch):
    """Error panels that rich does not wrap, so a test can read a message on one line."""
    monkeypatch.setenv("COLUMNS", "300")

"""loraforge's pytest plugin: fixtures for testing a loraforge plugin offline.

loraforge declares this module under the ``pytest11`` entry-point group, so
pytest loads it in any environment where loraforge is installed. Importing it
costs nothing heavy: torch and transformers load only when a fixture that
needs a model runs. See docs/plugins/testing.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from loraforge.plugins import Plugins
from loraforge.testing import (
    builtin_plugins,
    registered,
    run_recipe_in,
    tokenize_row_with,
    validate_recipe_in,
)


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # everything a test needs is local; a hub lookup would only be slow, then fail
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_llama_dir() -> Path:
    """The tiny LLaMA checkpoint folder (config, weights, tokenizer), built offline and cached."""
    from _loraforge_llama.tiny import tiny_llama_path

    return tiny_llama_path()


@pytest.fixture
def tiny_model(tiny_llama_dir: Path, loraforge_plugins: Plugins, monkeypatch: pytest.MonkeyPatch):
    """The tiny LLaMA as the ``tiny-llama`` loader returns it: ``.model`` and ``.tokenizer``."""
    from loraforge.recipe import ModelSection

    _offline(monkeypatch)
    loader = loraforge_plugins.registry.create("loader", "tiny-llama", {}, where="model.loader")
    return loader.load(ModelSection())


@pytest.fixture
def loraforge_plugins() -> Plugins:
    """A plugin registry holding only loraforge's own plugins, whatever else is installed."""
    return builtin_plugins()


@pytest.fixture
def register_plugin(loraforge_plugins: Plugins) -> Iterator[Callable[..., Plugins]]:
    """``register_plugin(plugin, name=None)``: add a plugin for this test; returns ``loraforge_plugins``.

    ``plugin`` is a plugin module or object, or the name of an installed entry
    point. Its hooks are called at once: anything loraforge would report about
    the plugin (it fails to import, its API range excludes this loraforge, a
    hook is misspelt, unmarked or raises, it registers no component) raises
    PluginError. Every plugin registered this way is unregistered when the test ends.
    """
    with ExitStack() as stack:
        def register(plugin: Any, name: str | None = None) -> Plugins:
            return stack.enter_context(registered(loraforge_plugins, plugin, name))

        yield register


@pytest.fixture
def validate_recipe(loraforge_plugins: Plugins, tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``validate_recipe(recipe=None, *, rows=None, overrides=())``: what ``loraforge validate`` does.

    ``recipe`` holds the sections to change in the tiny test recipe. Returns
    the bound plan, or raises the error the user would see.
    """
    _offline(monkeypatch)

    def validate(recipe: Any = None, **kwargs: Any) -> Any:
        directory = tmp_path_factory.mktemp("recipe")
        return validate_recipe_in(directory, recipe, plugins=loraforge_plugins, **kwargs)

    return validate


@pytest.fixture
def run_recipe(loraforge_plugins: Plugins, tmp_path_factory: pytest.TempPathFactory,
               monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``run_recipe(recipe=None, *, rows=None, overrides=())``: train the tiny model for a few steps.

    Each call runs in a temporary folder of its own and returns the run's
    result (``output_dir``, ``global_step``, ``train_loss``, ``model``...).
    """
    _offline(monkeypatch)

    def run(recipe: Any = None, **kwargs: Any) -> Any:
        directory = tmp_path_factory.mktemp("run")
        return run_recipe_in(directory, recipe, plugins=loraforge_plugins, **kwargs)

    return run


@pytest.fixture
def tokenize_row(loraforge_plugins: Plugins, tiny_llama_dir: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``tokenize_row(formatter, row, *, options=None, max_length=512, train_on_prompt=False)``.

    What a run makes of one row with the tiny LLaMA's tokenizer: a
    :class:`~loraforge.testing.TokenizedRow` with ``input_ids``, ``labels``,
    ``trained`` (one bool per id) and ``tokens``. ``formatter`` is a formatter
    (as ``registry.create`` makes it) or a formatter's name, created with ``options``.
    """
    from loraforge.recipe import ModelSection

    _offline(monkeypatch)
    loader = loraforge_plugins.registry.create("loader", "tiny-llama", {}, where="model.loader")
    tokenizer = loader.load_tokenizer(ModelSection())

    def tokenize(formatter: Any, row: Any, *, options: Any = None, **kwargs: Any) -> Any:
        if isinstance(formatter, str):
            formatter = loraforge_plugins.registry.create(
                "formatter", formatter, dict(options or {}), where="data.formatter")
        return tokenize_row_with(formatter, row, tokenizer, **kwargs)

    return tokenize

"""What a plugin author needs to test a loraforge plugin offline.

The fixtures (``tiny_llama_dir``, ``tiny_model``, ``loraforge_plugins``,
``register_plugin``, ``validate_recipe``, ``run_recipe``, ``tokenize_row``) come with loraforge
as a pytest plugin, so a plugin's tests use them without a ``conftest.py``.
The functions below are what those fixtures call, for tests that want them
directly. Nothing here downloads anything: the model is a tiny, briefly pretrained
LLaMA built on first use, the data a few rows held here.

docs/plugins/testing.md describes each one with examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from loraforge.errors import PluginError
from loraforge.plugins import Plugins

if TYPE_CHECKING:
    from loraforge.engine.run import RunResult
    from loraforge.plan import Plan
    from loraforge.recipe import Recipe

BUILTIN_PLUGINS = ("llama", "targets", "formatters", "callbacks")
"""The first-party plugins a test's registry starts with: loaders, selectors,
formatters and callbacks, but nothing else that happens to be installed."""

SAMPLE_ROWS: list[dict[str, Any]] = [
    {"text": "A quiet, lovely film about two old friends.", "label": "positive"},
    {"text": "Too long, and the jokes never land.", "label": "negative"},
    {"text": "The cast is wonderful and the ending earns its tears.", "label": "positive"},
    {"text": "I checked my watch three times in the first hour.", "label": "negative"},
    {"text": "A clever script that trusts its audience.", "label": "positive"},
    {"text": "Flat characters in a story that goes nowhere.", "label": "negative"},
    {"text": "Funny, warm and beautifully shot.", "label": "positive"},
    {"text": "Loud, muddled and forgettable.", "label": "negative"},
]
"""Short movie reviews with ``text`` and ``label`` columns: the default data of a test recipe."""

TINY_RECIPE: dict[str, dict[str, Any]] = {
    "model": {"loader": "tiny-llama"},
    "lora": {"r": 4, "alpha": 8, "targets": "qv"},
    "data": {"path": "data.jsonl", "max_length": 32, "formatter": "text"},
    "train": {"max_steps": 2, "batch_size": 4, "logging_steps": 1, "device": "cpu",
              "callbacks": []},
}
"""A recipe that trains the tiny LLaMA for two steps on the CPU, in seconds."""


def builtin_plugins(names: Sequence[str] = BUILTIN_PLUGINS) -> Plugins:
    """A fresh :class:`~loraforge.plugins.Plugins` with only the named entry points loaded."""
    plugins = Plugins()
    plugins.load_entry_points(list(names))
    if plugins.failures:
        name, error = next(iter(plugins.failures.items()))
        raise PluginError(f"could not be loaded: {error}", where=f"plugin {name!r}")
    return plugins


@dataclass
class TokenizedRow:
    """What a formatter's sample of one row becomes: token ids, and which of them are trained.

    ``trained[i]`` says whether ``input_ids[i]`` counts in the loss (its label
    is the id) or is masked (a prompt, the BOS); ``tokens`` spells each id as
    the tokenizer does. The last id is EOS, trained.
    """

    input_ids: list[int]
    labels: list[int]
    trained: list[bool]
    tokens: list[str]
    tokenizer: Any = field(repr=False, default=None)

    def trained_text(self) -> str:
        """The text of the trained ids, EOS included."""
        return self.tokenizer.decode([i for i, t in zip(self.input_ids, self.trained) if t])

    def masked_text(self) -> str:
        """The text of the masked ids (the prompt), special tokens included."""
        return self.tokenizer.decode([i for i, t in zip(self.input_ids, self.trained) if not t])


def tokenize_row_with(formatter: Any, row: Mapping[str, Any], tokenizer: Any, *,
                      max_length: int = 512, train_on_prompt: bool = False) -> TokenizedRow:
    """Format ``row`` with ``formatter`` and tokenize the sample as a run does.

    The formatter is given the tokenizer first (``set_tokenizer``); its sample
    is checked as in a run, so a formatter that returns no ``Sample`` raises
    the :class:`~loraforge.errors.PluginError` a user would see, and a row it
    refuses the :class:`~loraforge.components.RowError`.
    """
    from loraforge.engine.data import encode_sample, format_row
    from loraforge.engine.labels import IGNORE_INDEX

    formatter.set_tokenizer(tokenizer)
    sample = format_row(formatter, dict(row))
    encoded = encode_sample(sample, tokenizer, max_length, train_on_prompt=train_on_prompt)
    ids, labels = encoded["input_ids"], encoded["labels"]
    return TokenizedRow(ids, labels, [label != IGNORE_INDEX for label in labels],
                        tokenizer.convert_ids_to_tokens(ids), tokenizer)


@contextmanager
def registered(plugins: Plugins, plugin: Any, name: str | None = None) -> Iterator[Plugins]:
    """Register ``plugin`` in ``plugins`` for the ``with`` block, and unregister it after.

    ``plugin`` is a plugin module or object (``name`` defaults to the module's
    name), or a string: the name of an installed entry point, loaded as
    ``loraforge`` loads it, version check included. Its register hooks are
    called at once, so that whatever loraforge would report about the plugin
    (an import failure, an API range that excludes this loraforge, a misspelt
    or unmarked hook, a hook that raises or registers something that is no
    component) raises :class:`~loraforge.errors.PluginError` here, with the
    plugin left unregistered.
    """
    if isinstance(plugin, str):
        name = plugin
        plugins.load_entry_points([plugin])
    else:
        if name is None:
            name = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__name__
        plugins.register(plugin, name)
    plugins.registry  # noqa: B018 (calls the register hooks now, so a failure is known here)
    _raise_if_reported(plugins, name)
    try:
        yield plugins
    finally:
        plugins.unregister(name)


def _raise_if_reported(plugins: Plugins, name: str) -> None:
    if name in plugins.failures:
        reason = plugins.failures[name]
        cause = plugins.failure_causes.get(name)
        plugins.unregister(name)
        raise PluginError(f"could not be loaded: {reason}", where=f"plugin {name!r}") from cause
    warnings = [message for _, message in plugins.warnings if message.startswith(f"plugin {name!r}:")]
    if warnings:
        plugins.unregister(name)
        raise PluginError(warnings[0].removeprefix(f"plugin {name!r}: "), where=f"plugin {name!r}")


def recipe_data(recipe: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """:data:`TINY_RECIPE` with each section of ``recipe`` merged over it, key by key."""
    merged = {section: dict(fields) for section, fields in TINY_RECIPE.items()}
    for section, fields in (recipe or {}).items():
        merged.setdefault(section, {}).update(fields)
    return merged


def write_recipe(directory: str | Path, recipe: Mapping[str, Mapping[str, Any]] | None = None,
                 *, rows: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Write ``recipe.toml`` and its data (``rows``, else :data:`SAMPLE_ROWS`) into ``directory``.

    The data goes to the recipe's ``data.path`` (``data.jsonl`` by default,
    relative to ``directory``); a recipe that names another file and no
    ``rows`` uses that file as it is. The output directory is ``directory/out`` unless the recipe says otherwise.
    Returns the recipe's path.
    """
    import tomli_w

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = recipe_data(recipe)
    data.setdefault("output", {}).setdefault("dir", str(directory / "out"))
    # a recipe that names its own data file keeps it, unless rows are given for it
    if rows is not None or data["data"]["path"] == TINY_RECIPE["data"]["path"]:
        lines = (json.dumps(row, ensure_ascii=False) for row in (SAMPLE_ROWS if rows is None else rows))
        (directory / data["data"]["path"]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = directory / "recipe.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def load_recipe_in(directory: str | Path, recipe: Mapping[str, Mapping[str, Any]] | None = None,
                   *, rows: Sequence[Mapping[str, Any]] | None = None,
                   overrides: Sequence[str] = ()) -> Recipe:
    """Write a recipe as :func:`write_recipe` does and read it back, with ``--set`` overrides."""
    from loraforge.recipe import load_recipe

    return load_recipe(write_recipe(directory, recipe, rows=rows), list(overrides))


def validate_recipe_in(directory: str | Path, recipe: Mapping[str, Mapping[str, Any]] | None = None,
                       *, plugins: Plugins, rows: Sequence[Mapping[str, Any]] | None = None,
                       overrides: Sequence[str] = ()) -> Plan:
    """What ``loraforge validate`` does: bind every component and check the data's columns.

    Returns the :class:`~loraforge.plan.Plan`; raises the
    :class:`~loraforge.errors.LoraforgeError` the user would see.
    """
    from loraforge.engine.inputs import check_data
    from loraforge.plan import bind

    plan = bind(load_recipe_in(directory, recipe, rows=rows, overrides=overrides), plugins)
    check_data(plan)
    return plan


def run_recipe_in(directory: str | Path, recipe: Mapping[str, Mapping[str, Any]] | None = None,
                  *, plugins: Plugins, rows: Sequence[Mapping[str, Any]] | None = None,
                  overrides: Sequence[str] = ()) -> RunResult:
    """What ``loraforge run`` does, in ``directory``; returns the run's result.

    With no ``recipe`` this trains :data:`TINY_RECIPE` on :data:`SAMPLE_ROWS`;
    pass sections to change, e.g. ``{"data": {"formatter": {"name": "shout"}}}``.
    """
    from loraforge.engine.run import run_recipe

    loaded = load_recipe_in(directory, recipe, rows=rows, overrides=overrides)
    return run_recipe(loaded, plugins=plugins)


__all__ = [
    "BUILTIN_PLUGINS",
    "SAMPLE_ROWS",
    "TINY_RECIPE",
    "TokenizedRow",
    "builtin_plugins",
    "load_recipe_in",
    "recipe_data",
    "registered",
    "run_recipe_in",
    "tokenize_row_with",
    "validate_recipe_in",
    "write_recipe",
]

"""Binding a recipe to the components it names, without loading a model.

``bind`` resolves the loader, target selector, formatter and callbacks from
the plugin registry and validates each one's options, reporting every
problem at once; where the checkpoint's ``config.json`` is at hand, the
loader is asked whether it can load it as the recipe says. ``loraforge
validate`` goes on to read the data (:mod:`loraforge.engine.inputs`);
``loraforge run`` goes on to the engine with the resulting :class:`Plan`.
This module imports nothing of the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from loraforge.components import (
    DatasetFormatter,
    ModelLoader,
    TargetSelector,
    TrainingCallback,
)
from loraforge.errors import LoraforgeError, ModelError, RecipeError
from loraforge.plugins import PluginInfo, Plugins
from loraforge.recipe import ComponentRef, Recipe, cannot_be_hub_id
from loraforge.registry import OptionsError, Registry, component_errors


@dataclass
class Plan:
    """A recipe with every component it names instantiated and checked."""

    recipe: Recipe
    loader: ModelLoader
    selector: TargetSelector
    formatter: DatasetFormatter
    callbacks: list[TrainingCallback]
    components: dict[str, str] = field(default_factory=dict)
    """``recipe field → "component name (plugin)"``, recorded in run.json."""
    plugin_info: dict[str, PluginInfo] = field(default_factory=dict)


def read_model_config(recipe: Recipe) -> dict[str, Any] | None:
    """The checkpoint's ``config.json`` when ``model.path`` is a local directory holding one.

    A ``config.json`` that is there but cannot be read as a JSON object is a
    :class:`~loraforge.errors.ModelError`, not a missing file.
    """
    if not recipe.model.path:
        return None
    config = recipe.input_path(recipe.model.path) / "config.json"
    if not config.is_file():
        return None
    try:
        loaded = json.loads(config.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ModelError(f"{config} is not UTF-8 text", where="model.path",
                         hint="Restore the checkpoint's config.json.") from None
    except ValueError as exc:
        raise ModelError(f"{config} is not valid JSON ({exc})", where="model.path",
                         hint="Restore the checkpoint's config.json (download it again, or "
                         "fix the syntax at the line and column shown).") from None
    except OSError as exc:
        raise ModelError(f"cannot read {config}: {exc.strerror}", where="model.path") from None
    if not isinstance(loaded, dict):
        raise ModelError(f"{config} holds a JSON {type(loaded).__name__}, not an object",
                         where="model.path", hint="Restore the checkpoint's config.json.")
    return loaded


def missing_model_dir(recipe: Recipe) -> LoraforgeError | None:
    """The error for a ``model.path`` that can only be a local folder and is not one."""
    path = recipe.model.path
    if not path:
        return None
    local = recipe.input_path(path)
    if local.is_dir() or not (local.exists() or cannot_be_hub_id(path)):
        return None
    return LoraforgeError(
        f"no such directory: {local.resolve()}", where="model.path",
        hint="Paths in a recipe are relative to the recipe file; a hub id is org/name.",
    )


def _detect_loader(recipe: Recipe, registry: Registry,
                   config: dict[str, Any] | None) -> ComponentRef:
    """The loader whose ``handles`` recognises the checkpoint's ``config.json``."""
    known = ", ".join(registry.names("loader")) or "none installed"
    note = registry.selection_note()
    if note:  # the loader may be installed, but not loaded
        known += f"; {note}"
    if config is not None:
        for name in registry.names("loader"):
            entry = registry.get("loader", name)
            with component_errors(entry.cls, "handles", plugin=entry.plugin):
                handles = entry.cls().handles(config)
            if handles:
                return ComponentRef(name=name)
        raise LoraforgeError(
            f"no installed model loader recognises {recipe.model.path} (loaders: {known})",
            where="model.loader",
            hint='Set model.loader, e.g. loader = "llama", or install the plugin for this family.',
        )
    path = recipe.model.path
    if not path:
        raise LoraforgeError(
            "the recipe names neither a checkpoint nor a loader", where="model.path",
            hint='Set model.path to a checkpoint folder or a hub id, or loader = "tiny-llama" '
            "to try loraforge without one.",
        )
    local = recipe.input_path(path)
    if local.is_dir():
        raise LoraforgeError(
            f"{local} has no config.json, so its model family cannot be told", where="model.path",
            hint="Give the folder save_pretrained wrote (config.json, weights, tokenizer files).",
        )
    missing = missing_model_dir(recipe)
    if missing is not None:
        raise missing
    raise LoraforgeError(
        f"cannot tell which model loader handles the hub id {path!r} before it is downloaded "
        f"(loaders: {known})",
        where="model.loader",
        hint='Set model.loader, e.g. loader = "llama".',
    )


def bind(recipe: Recipe, plugins: Plugins) -> Plan:
    """Resolve and validate every component of ``recipe``; all problems in one error."""
    registry = plugins.registry
    problems: list[str] = []
    hints: list[str] = []
    components: dict[str, str] = {}

    def report(exc: LoraforgeError, where: str) -> None:
        problems.append(f"{exc.where or where}: {exc.message}")
        if exc.hint and exc.hint not in hints:
            hints.append(exc.hint)

    def create(kind: str, ref: ComponentRef, where: str) -> Any:
        try:
            component = registry.create(kind, ref.name, ref.options, where=where)
        except OptionsError as exc:
            problems.extend(exc.problems)
            return None
        except LoraforgeError as exc:
            report(exc, where)
            return None
        components[where] = f"{ref.name} ({registry.get(kind, ref.name).plugin})"
        return component

    config = None
    try:
        config = read_model_config(recipe)
    except LoraforgeError as exc:
        report(exc, "model.path")
    loader_ref = recipe.model.loader
    if loader_ref is None and not problems:
        try:
            loader_ref = _detect_loader(recipe, registry, config)
        except LoraforgeError as exc:
            report(exc, "model.loader")
    loader = create("loader", loader_ref, "model.loader") if loader_ref else None
    if loader is not None and config is not None:
        try:
            with component_errors(loader, "check_checkpoint"):
                loader.check_checkpoint(config, recipe.model)
        except LoraforgeError as exc:
            report(exc, "model.loader")
    targets = recipe.lora.targets
    selector = create("selector", targets, "lora.targets")
    formatter = create("formatter", recipe.data.formatter, "data.formatter")
    callbacks = [
        create("callback", ref, f"train.callbacks[{i}]")
        for i, ref in enumerate(recipe.train.callbacks)
    ]
    if problems:
        raise RecipeError(
            problems,
            where=recipe.source,
            hint="\n".join(hints) or "`loraforge plugins` lists every component and its options.",
        )
    return Plan(recipe, loader, selector, formatter, callbacks, components, dict(plugins.info))

"""Discovering plugins and building the registry of components they provide.

Built-in and third-party plugins are found the same way: entry points in the
group ``loraforge``. ``LORAFORGE_LOAD_PLUGINS`` (a comma-separated list of
entry-point names, or empty for none) limits which are loaded. A plugin that
fails to import is reported by name and skipped.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy
from pydantic import ValidationError

from loraforge import hookspecs
from loraforge.components import KINDS, Component
from loraforge.errors import PluginError, UnknownComponentError

ENTRY_POINT_GROUP = "loraforge"
LOAD_ENV = "LORAFORGE_LOAD_PLUGINS"

# hook name → component kind it registers
HOOKS = {
    "register_model_loaders": "loader",
    "register_dataset_formatters": "formatter",
    "register_target_selectors": "selector",
    "register_callbacks": "callback",
}
KIND_TITLES = {
    "loader": "model loader",
    "formatter": "dataset formatter",
    "selector": "target selector",
    "callback": "callback",
}


@dataclass
class PluginInfo:
    """A loaded plugin: its entry-point name and the distribution that ships it."""

    name: str
    distribution: str | None = None
    version: str | None = None


@dataclass
class Registered:
    """A component class and the plugin that registered it."""

    cls: type[Component]
    plugin: str


@dataclass
class Registry:
    """Components by kind and name, as the loaded plugins registered them."""

    components: dict[str, dict[str, Registered]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )

    def add(self, kind: str, cls: Any, plugin: str) -> None:
        base = KINDS[kind]
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"registered {cls!r} as a {KIND_TITLES[kind]}, but it is not a subclass of "
                f"loraforge.components.{base.__name__}",
                where=f"plugin {plugin!r}",
            )
        if not cls.name:
            raise PluginError(
                f"{KIND_TITLES[kind]} {cls.__name__} has no name", where=f"plugin {plugin!r}",
                hint="Set the class attribute `name` to what recipes should call it.",
            )
        existing = self.components[kind].get(cls.name)
        if existing is not None:
            raise PluginError(
                f"two {KIND_TITLES[kind]}s are named {cls.name!r}: one from plugin "
                f"{existing.plugin!r}, one from plugin {plugin!r}",
                hint=f"Uninstall one of them, or load only one with {LOAD_ENV}.",
            )
        self.components[kind][cls.name] = Registered(cls, plugin)

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def get(self, kind: str, name: str, *, where: str | None = None) -> Registered:
        try:
            return self.components[kind][name]
        except KeyError:
            known = ", ".join(self.names(kind)) or "none"
            raise UnknownComponentError(
                f"no {KIND_TITLES[kind]} is named {name!r} (known: {known})",
                where=where,
                hint="Check the spelling, or install the plugin that provides it; "
                "`loraforge plugins` lists what is installed.",
            ) from None

    def create(self, kind: str, name: str, options: dict[str, Any], *, where: str) -> Component:
        """Instantiate a component, validating its options against its ``Options`` model."""
        entry = self.get(kind, name, where=where)
        try:
            validated = entry.cls.Options.model_validate(options)
        except ValidationError as exc:
            from loraforge.recipe import format_validation_errors

            raise OptionsError(format_validation_errors(exc, prefix=where)) from None
        return entry.cls(validated)


class OptionsError(Exception):
    """A component's options failed validation; ``problems`` are ``field: message`` lines."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class Plugins:
    """A pluggy plugin manager for the ``loraforge`` project and the registry it yields."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("loraforge")
        self.pm.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.failures: dict[str, str] = {}
        self._registry: Registry | None = None

    def load_entry_points(self, only: list[str] | None = None) -> None:
        """Load every entry point of the group (or only the named ones)."""
        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for name in sorted(set(only or ()) - set(entry_points.names)):
            self.failures[name] = f"no installed plugin is named {name!r}"
        for ep in entry_points:
            if only is not None and ep.name not in only:
                continue
            if self.pm.has_plugin(ep.name):
                continue
            dist = ep.dist
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the tool down
                self.failures[ep.name] = f"{type(exc).__name__}: {exc}"
                continue
            self.register(
                plugin,
                ep.name,
                distribution=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
            )

    def register(self, plugin: Any, name: str, *, distribution: str | None = None,
                 version: str | None = None) -> None:
        self.pm.register(plugin, name=name)
        self.info[name] = PluginInfo(name, distribution, version)
        self._registry = None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.info.pop(name, None)
        self._registry = None

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.pm.get_plugin(name)
        return sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        registry = Registry()
        for hook_name, kind in HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                def register(cls: Any, _plugin: str = impl.plugin_name, _kind: str = kind) -> None:
                    registry.add(_kind, cls, _plugin)

                try:
                    impl.function(register=register)
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(
                        f"{hook_name} failed: {type(exc).__name__}: {exc}",
                        where=f"plugin {impl.plugin_name!r}",
                        hint="This is a bug in the plugin; report it to its author, or "
                        f"leave it out with {LOAD_ENV}.",
                    ) from exc
        return registry


def requested_plugins() -> list[str] | None:
    """The entry-point names ``LORAFORGE_LOAD_PLUGINS`` asks for, or None for all."""
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


_default: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded from entry points on first use."""
    global _default
    if _default is None:
        _default = Plugins()
        _default.load_entry_points(requested_plugins())
        for name, error in _default.failures.items():
            print(f"loraforge: plugin {name!r} was not loaded ({error})", file=sys.stderr)
    return _default

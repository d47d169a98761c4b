"""Discovering plugins and building the registry of components they provide.

Built-in and third-party plugins are found the same way: entry points in the
group ``loraforge``. ``LORAFORGE_LOAD_PLUGINS`` (a comma-separated list of
entry-point names, or empty for none) limits which are loaded. A plugin that
fails to import, implements a hook loraforge does not have, supports another
major version of the plugin API, or raises in (or registers something that is
no component from) one of its register hooks is reported by name and skipped,
with whatever it registered: the other plugins work. A recipe naming one of
its components is told why that plugin was not loaded. Two plugins that give
components of one kind the same name both stay loaded, and a recipe naming
that component is refused naming both. A component that raises is reported by
plugin and component. ``LORAFORGE_TRACE_PLUGINS=1`` prints every hook call and
what it registered.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import ValidationError

from loraforge import hookspecs
from loraforge.components import KINDS, Component, RowError
from loraforge.errors import LoraforgeError, PluginError, UnknownComponentError

ENTRY_POINT_GROUP = "loraforge"
LOAD_ENV = "LORAFORGE_LOAD_PLUGINS"
TRACE_ENV = "LORAFORGE_TRACE_PLUGINS"

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
    """A loaded plugin: its entry-point name, the distribution that ships it, the API it supports."""

    name: str
    distribution: str | None = None
    version: str | None = None
    api: str | None = None
    """The plugin's ``LORAFORGE_API`` range, if it states one."""


@dataclass
class Registered:
    """A component class and the plugin that registered it."""

    cls: type[Component]
    plugin: str


def trace(message: str) -> None:
    print(f"loraforge trace: {message}", file=sys.stderr)


def tracing_requested() -> bool:
    return os.environ.get(TRACE_ENV, "").strip() not in ("", "0")


def check_component(kind: str, cls: Any, plugin: str) -> type[Component]:
    """``cls`` if it can be registered as a component of ``kind``, else a PluginError."""
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
    return cls


def _plugin_list(plugins: list[str]) -> str:
    return ", ".join(repr(name) for name in plugins)


@dataclass
class Registry:
    """Components by kind and name, as the loaded plugins registered them.

    It also knows what went wrong while loading, so that a recipe naming a
    component that is missing or ambiguous is told why: ``failures`` (plugin →
    reason it was not loaded, shared with :class:`Plugins`), ``dropped`` (the
    components a plugin registered before it failed) and ``clashes`` (names
    that more than one plugin gave a component of one kind).
    """

    components: dict[str, dict[str, Registered]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    tracing: bool = False
    failures: dict[str, str] = field(default_factory=dict)
    causes: dict[str, BaseException] = field(default_factory=dict)
    """plugin → the exception its hook raised, chained to errors for ``--debug``."""
    dropped: dict[str, dict[str, str]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    clashes: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    entries: list[tuple[str, Registered]] = field(default_factory=list)
    """Every registration, in order, those whose name clashes included."""

    def add(self, kind: str, cls: Any, plugin: str) -> None:
        """Register a component; a name already taken by another plugin becomes a clash."""
        check_component(kind, cls, plugin)
        entry = Registered(cls, plugin)
        self.entries.append((kind, entry))
        existing = self.components[kind].get(cls.name)
        if existing is None:
            self.components[kind][cls.name] = entry
        else:
            self.clashes[kind].setdefault(cls.name, [existing.plugin]).append(plugin)

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def provided_by(self, plugin: str) -> list[tuple[str, Registered]]:
        """What ``plugin`` registered, by kind (in :data:`KINDS` order) and name."""
        order = list(KINDS)
        return sorted(((kind, entry) for kind, entry in self.entries if entry.plugin == plugin),
                      key=lambda item: (order.index(item[0]), item[1].cls.name))

    def clash_messages(self) -> list[str]:
        """One line for each name that several plugins registered."""
        return [
            f"{_count(len(plugins))} {KIND_TITLES[kind]}s are named {name!r} (plugins "
            f"{_plugin_list(sorted(plugins))}): a recipe cannot use that name until one of "
            "them is left out"
            for kind, names in self.clashes.items()
            for name, plugins in sorted(names.items())
        ]

    def get(self, kind: str, name: str, *, where: str | None = None) -> Registered:
        title = KIND_TITLES[kind]
        if name in self.clashes[kind]:
            plugins = sorted(self.clashes[kind][name])
            sources = ", ".join(f"one from plugin {plugin!r}" for plugin in plugins)
            raise PluginError(
                f"{_count(len(plugins))} {title}s are named {name!r}: {sources}",
                where=where,
                hint=f"Uninstall all but one of these plugins, or leave the others out with "
                f"{LOAD_ENV} (a comma-separated list of the plugins to load).",
            )
        try:
            return self.components[kind][name]
        except KeyError:
            pass
        failed = self.dropped[kind].get(name)
        if failed is not None and failed in self.failures:
            raise PluginError(
                f"the {title} {name!r} comes from plugin {failed!r}, which failed to load: "
                f"{self.failures[failed]}",
                where=where,
                hint="This is a bug in the plugin: report it to its author "
                f"({TRACE_ENV}=1 shows its hook calls), or install a release of it that works.",
            ) from self.causes.get(failed)
        known = ", ".join(self.names(kind)) or "none"
        message = f"no {title} is named {name!r} (known: {known})"
        hint = ("Check the spelling, or install the plugin that provides it; "
                "`loraforge plugins` lists what is installed.")
        if self.failures:
            message += "".join(f"; plugin {plugin!r} was not loaded: {reason}"
                               for plugin, reason in self.failures.items())
            hint = ("If it comes from a plugin that was not loaded, fix or update that plugin. "
                    "Otherwise check the spelling, or install the plugin that provides it; "
                    "`loraforge plugins` lists what is installed.")
        raise UnknownComponentError(message, where=where, hint=hint)

    def create(self, kind: str, name: str, options: dict[str, Any], *, where: str) -> Component:
        """Instantiate a component, validating its options against its ``Options`` model."""
        entry = self.get(kind, name, where=where)
        try:
            validated = entry.cls.Options.model_validate(options)
        except ValidationError as exc:
            from loraforge.recipe import format_validation_errors

            raise OptionsError(format_validation_errors(
                exc, prefix=where, model=entry.cls.Options)) from None
        except Exception as exc:  # a validator that raises something pydantic does not catch
            raise component_failure(entry.cls, "Options", exc, plugin=entry.plugin) from exc
        with component_errors(entry.cls, "__init__", plugin=entry.plugin):
            component = entry.cls(validated)
        component.plugin_name = entry.plugin
        return component


def _count(number: int) -> str:
    return {2: "two", 3: "three"}.get(number, str(number))


class OptionsError(Exception):
    """A component's options failed validation; ``problems`` are ``field: message`` lines."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def component_failure(component: Component | type[Component], call: str, exc: BaseException,
                      *, plugin: str | None = None) -> PluginError:
    """The error shown when a component raises where loraforge expects it to work."""
    cls = component if isinstance(component, type) else type(component)
    plugin = plugin or getattr(component, "plugin_name", None) or cls.__module__.split(".")[0]
    title = KIND_TITLES.get(cls.kind, "component")
    return PluginError(
        f"the {title} {cls.name or cls.__name__!r} raised {type(exc).__name__} in {call}: {exc}",
        where=f"plugin {plugin!r}",
        hint="If the recipe is right, this is a bug in the plugin: report it to its author with "
        f"the output of --debug, or leave the plugin out with {LOAD_ENV}.",
    )


@contextmanager
def component_errors(component: Component | type[Component], call: str, *,
                     plugin: str | None = None) -> Iterator[None]:
    """Turn an unexpected exception from a component into a :class:`PluginError`.

    Wrap each place loraforge calls into a plugin's component::

        with component_errors(formatter, "format"):
            sample = formatter.format(row)

    A :class:`~loraforge.errors.LoraforgeError` or
    :class:`~loraforge.components.RowError` is the component telling the user
    something, and passes through unchanged; anything else is reported naming
    the plugin (``component.plugin_name``, set when the registry creates it)
    and the component, with the original exception chained for ``--debug``.
    """
    try:
        yield
    except (LoraforgeError, RowError):
        raise
    except Exception as exc:
        raise component_failure(component, call, exc, plugin=plugin) from exc


def check_api(plugin: Any, name: str) -> str | None:
    """The plugin's declared API range, or a PluginError if it excludes this loraforge's."""
    declared = getattr(plugin, hookspecs.API_ATTRIBUTE, None)
    if declared is None:
        return None
    try:
        supported = SpecifierSet(declared)
    except (InvalidSpecifier, TypeError):
        raise PluginError(
            f"{hookspecs.API_ATTRIBUTE} = {declared!r} is not a version range",
            where=f"plugin {name!r}",
            hint=f'Write a range such as {hookspecs.API_ATTRIBUTE} = ">=1.0,<2".',
        ) from None
    if not supported.contains(hookspecs.API_VERSION, prereleases=True):
        from loraforge import __version__

        raise PluginError(
            f"it supports loraforge plugin API {declared}, but loraforge {__version__} "
            f"provides API {hookspecs.API_VERSION}",
            where=f"plugin {name!r}",
            hint="Install a release of the plugin made for this loraforge, or a loraforge "
            "that the plugin supports.",
        )
    return str(declared)


def _argument(value: Any) -> str:
    text = getattr(value, "__name__", None) if callable(value) else None
    text = text or repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _trace_before(hook_name: str, impls: list, kwargs: dict[str, Any]) -> None:
    args = ", ".join(f"{key}={_argument(value)}" for key, value in kwargs.items())
    plugins = ", ".join(repr(impl.plugin_name) for impl in impls) or "no plugin"
    trace(f"calling {hook_name}({args}) in plugin {plugins}")


def _trace_after(outcome: Any, hook_name: str, impls: list, kwargs: dict[str, Any]) -> None:
    plugins = ", ".join(repr(impl.plugin_name) for impl in impls) or "no plugin"
    if outcome.exception is not None:
        exc = outcome.exception
        trace(f"{hook_name} in plugin {plugins} raised {type(exc).__name__}: {exc}")
        return
    # pluggy collects the implementations' results that are not None
    results = outcome.get_result()
    trace(f"{hook_name} in plugin {plugins} returned {repr(results) if results else 'nothing'}")


class Plugins:
    """A pluggy plugin manager for the ``loraforge`` project and the registry it yields."""

    def __init__(self, *, tracing: bool | None = None) -> None:
        self.pm = pluggy.PluginManager("loraforge")
        self.pm.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.failures: dict[str, str] = {}
        """plugin name → why it was not loaded (shown by `loraforge plugins` as failed)."""
        self.failure_causes: dict[str, BaseException] = {}
        self._registry: Registry | None = None
        self.tracing = tracing_requested() if tracing is None else tracing
        if self.tracing:
            self.pm.add_hookcall_monitoring(_trace_before, _trace_after)

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
            try:
                self.register(
                    plugin,
                    ep.name,
                    distribution=dist.metadata["Name"] if dist else None,
                    version=dist.version if dist else None,
                )
            except PluginError as exc:
                self.failures[ep.name] = exc.message

    def register(self, plugin: Any, name: str, *, distribution: str | None = None,
                 version: str | None = None) -> None:
        """Register a plugin object or module; PluginError if loraforge cannot use it."""
        api = check_api(plugin, name)
        where = f"plugin {name!r}"
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:  # a hook with arguments the spec lacks
            raise PluginError(str(exc), where=where,
                              hint="docs/plugins/hooks.md lists each hook's arguments.") from None
        except ValueError as exc:  # the name, or the object, is already registered
            raise PluginError(str(exc), where=where) from None
        callers = self.pm.get_hookcallers(plugin) or []
        unknown = sorted(h.name for h in callers if not h.has_spec())
        if unknown:
            self.pm.unregister(plugin)
            raise PluginError(
                f"implements {', '.join(unknown)}, which is not a loraforge hook "
                f"(the hooks are: {', '.join(HOOKS)})",
                where=where, hint="Check the spelling of the function's name.",
            )
        self.info[name] = PluginInfo(name, distribution, version, api)
        self.failures.pop(name, None)  # registered again, perhaps fixed
        self.failure_causes.pop(name, None)
        self._registry = None

    def unregister(self, name: str) -> None:
        """Remove a plugin, what it registers, and any record of its failure."""
        self.pm.unregister(name=name)
        self.info.pop(name, None)
        self.failures.pop(name, None)
        self.failure_causes.pop(name, None)
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
        """Call each plugin's register hooks; a plugin whose hook fails is dropped, not fatal."""
        registry = Registry(tracing=self.tracing, failures=self.failures,
                            causes=self.failure_causes)
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked
                continue
            staged = self._call_register_hooks(name, plugin, registry)
            if staged is None:
                continue
            for kind, cls in staged:
                registry.add(kind, cls, name)
        return registry

    def _call_register_hooks(self, name: str, plugin: Any,
                             registry: Registry) -> list[tuple[str, Any]] | None:
        """What ``plugin`` registers, or None after recording why it failed and unregistering it.

        Each hook is called through pluggy, for this plugin alone (so tracing
        sees the call and a failure is the plugin's own).
        """
        staged: list[tuple[str, Any]] = []
        others = [p for p in self.pm.get_plugins() if p is not plugin]

        def register_as(kind: str) -> Any:
            def register(cls: Any) -> None:
                check_component(kind, cls, name)
                for staged_kind, other in staged:
                    if staged_kind == kind and other.name == cls.name and other is not cls:
                        raise PluginError(f"registered two {KIND_TITLES[kind]}s named "
                                          f"{cls.name!r}", where=f"plugin {name!r}")
                if (kind, cls) not in staged:
                    staged.append((kind, cls))
                if self.tracing:
                    trace(f"  plugin {name!r} registered {KIND_TITLES[kind]} {cls.name!r} "
                          f"({cls.__module__}.{cls.__qualname__})")
            return register

        for hook_name, kind in HOOKS.items():
            impls = getattr(self.pm.hook, hook_name).get_hookimpls()
            if not any(impl.plugin is plugin for impl in impls):
                continue
            caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
            try:
                caller(register=register_as(kind))
            except Exception as exc:  # a broken plugin must not take the tool down
                if isinstance(exc, PluginError):
                    reason = f"{hook_name}: {exc.message}"
                else:
                    reason = f"{hook_name} raised {type(exc).__name__}: {exc}"
                self.pm.unregister(name=name)
                self.info.pop(name, None)
                self.failures[name] = reason
                self.failure_causes[name] = exc
                for dropped_kind, cls in staged:
                    registry.dropped[dropped_kind][cls.name] = name
                return None
        return staged


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
        registry = _default.registry  # runs the register hooks, which may drop a plugin
        for name, error in _default.failures.items():
            print(f"loraforge: plugin {name!r} was not loaded ({error})", file=sys.stderr)
        for clash in registry.clash_messages():
            print(f"loraforge: {clash}", file=sys.stderr)
    return _default

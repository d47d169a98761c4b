"""Discovering plugins and building the registry of components they provide.

Built-in and third-party plugins are found the same way: entry points in the
group ``loraforge``. ``LORAFORGE_LOAD_PLUGINS`` (a comma-separated list of
entry-point names) limits which are loaded, besides the essential ones
(:data:`ESSENTIAL_PLUGINS`, which provide what recipes use by default and
are always loaded). A plugin that fails to import (``sys.exit`` included),
implements a hook loraforge does not have, supports another major version of
the plugin API, or raises in (or registers something that is no component
from) one of its register hooks is reported by name and skipped, with
whatever it registered: the other plugins work. Two installed distributions
that use one entry-point name are both named and neither is loaded (a
first-party plugin keeps its name). A recipe naming one of their components is
told why that plugin was not loaded. Two plugins that give components of one
kind the same name both stay loaded, and a recipe naming that component is
refused naming both, unless it says which it means (``plugin:name``). What a
plugin prints while it is imported or registers goes to stderr, so that
standard output stays the command's own (``plugins --json``). A component
that raises is reported by plugin and component.
``LORAFORGE_TRACE_PLUGINS=1`` prints every hook call and what it registered.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from loraforge import hookspecs
from loraforge.errors import PluginError
from loraforge.plugin_checks import HOOKS, check_api, unmarked_hooks, validation_message
from loraforge.registry import KIND_TITLES, LOAD_ENV, TRACE_ENV, Registry, check_component

ENTRY_POINT_GROUP = "loraforge"
FIRST_PARTY = "loraforge"
"""The distribution that ships loraforge's own plugins."""

ESSENTIAL_PLUGINS = ("targets", "formatters", "callbacks")
"""First-party plugins loaded whatever ``LORAFORGE_LOAD_PLUGINS`` says: they
provide the target selector, formatter and callbacks a recipe gets by default
(like pytest's essential plugins). Model families (``llama``, ``baichuan``)
are not essential: a recipe names, or is matched to, the one it needs."""



@dataclass
class PluginInfo:
    """A loaded plugin: its entry-point name, the distribution that ships it, the API it supports."""

    name: str
    distribution: str | None = None
    version: str | None = None
    api: str | None = None
    """The plugin's ``LORAFORGE_API`` range, if it states one."""
    module: str | None = None
    """What its entry point names (``module`` or ``module:attribute``)."""


class PluginInterrupted(KeyboardInterrupt):
    """A KeyboardInterrupt raised while a plugin was imported or asked to register."""

    def __init__(self, plugin: str, doing: str):
        super().__init__(f"{doing} plugin {plugin!r}")
        self.plugin = plugin
        self.doing = doing


@contextlib.contextmanager
def plugin_output() -> Iterator[None]:
    """What a plugin prints goes to stderr: stdout is the command's (``plugins --json``)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _exit_reason(exc: SystemExit, doing: str) -> str:
    return f"it called sys.exit({exc.code!r}) {doing}"


def trace(message: str) -> None:
    from loraforge.reporting import note

    note(f"loraforge trace: {message}", phase="plugins", level="trace")


def tracing_requested() -> bool:
    return os.environ.get(TRACE_ENV, "").strip() not in ("", "0")


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
        """plugin name → the exception behind its failure (its traceback, for ``--debug``)."""
        self.failed: dict[str, PluginInfo] = {}
        """plugin name → the distribution and version of a plugin that was not loaded."""
        self.warnings: list[tuple[str, str]] = []
        """``(code, message)``: problems that left the plugins loaded (an unmarked hook)."""
        self.disputed: dict[str, list[tuple[str | None, str | None, str]]] = {}
        """plugin name → (distribution, version, module) of each that uses the name."""
        self.left_out: list[str] = []
        """Installed plugins that ``load_entry_points(only=...)`` did not load."""
        self.selection: str | None = None
        """``LORAFORGE_LOAD_PLUGINS`` as it was when these plugins were loaded (None: unset)."""
        self._registry: Registry | None = None
        self.tracing = tracing_requested() if tracing is None else tracing
        if self.tracing:
            self.pm.add_hookcall_monitoring(_trace_before, _trace_after)

    def load_entry_points(self, only: list[str] | None = None) -> None:
        """Load every entry point of the group (or only the named ones)."""
        by_name: dict[str, list[metadata.EntryPoint]] = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            same = by_name.setdefault(ep.name, [])
            if not any(_distribution(o) == _distribution(ep) for o in same):
                same.append(ep)
        for name in sorted(set(only or ()) - set(by_name)):
            self.failures[name] = f"no installed plugin is named {name!r}"
        for name, eps in by_name.items():
            if only is not None and name not in only:
                self.left_out.append(name)
                continue
            if self.pm.has_plugin(name):
                continue
            ep = self._one_of(name, eps)
            if ep is not None:
                self._load(ep)

    def _one_of(self, name: str, eps: list[metadata.EntryPoint]) -> metadata.EntryPoint | None:
        """The entry point to load for ``name``, or None when distributions dispute it."""
        if len(eps) == 1:
            return eps[0]
        ours = [ep for ep in eps if _distribution(ep)[0] == FIRST_PARTY]
        others = [ep for ep in eps if ep not in ours]
        listed = "; ".join(_describe(ep) for ep in others)
        if ours:
            self.warnings.append(("plugin_name_taken", (
                f"plugin {name!r} of {listed} was not loaded: loraforge's own plugin has that "
                "name; rename its entry point (in the group 'loraforge' of its pyproject.toml)")))
            return ours[0]
        none = "neither" if len(eps) == 2 else "none"
        self.failures[name] = (
            f"{len(eps)} installed distributions give a plugin this name: {listed}; {none} is "
            "loaded until all but one are uninstalled, or all but one rename their entry point")
        self.failed[name] = PluginInfo(name)  # no one distribution: `disputed` lists them
        self.disputed[name] = [_distribution(ep) + (ep.value,) for ep in eps]
        return None

    def _load(self, ep: metadata.EntryPoint) -> None:
        distribution, version = _distribution(ep)
        info = PluginInfo(ep.name, distribution, version, module=ep.value)
        try:
            with plugin_output():
                plugin = ep.load()
        except KeyboardInterrupt as exc:
            raise PluginInterrupted(ep.name, "importing") from exc
        except SystemExit as exc:  # sys.exit() in a plugin must not end loraforge
            self._fail(info, _exit_reason(exc, "while being imported"), exc)
            return
        except Exception as exc:  # a broken plugin must not take the tool down
            self._fail(info, f"{type(exc).__name__}: {exc}", exc)
            return
        try:
            self.register(plugin, ep.name, distribution=distribution, version=version)
        except PluginError as exc:
            self._fail(info, exc.message, None)
        else:
            self.info[ep.name].module = ep.value

    def _fail(self, info: PluginInfo, reason: str, cause: BaseException | None) -> None:
        self.failures[info.name] = reason
        self.failed[info.name] = info
        if cause is not None:
            self.failure_causes[info.name] = cause

    def register(self, plugin: Any, name: str, *, distribution: str | None = None,
                 version: str | None = None) -> None:
        """Register a plugin object or module; PluginError if loraforge cannot use it."""
        api = check_api(plugin, name)
        where = f"plugin {name!r}"
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:  # a hook with arguments the spec lacks
            raise PluginError(validation_message(plugin, exc), where=where,
                              hint="Every loraforge hook takes one argument, `register`: write "
                              "`def register_callbacks(register):` (docs/plugins/hooks.md).") from None
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
        self.failed.pop(name, None)
        self.warnings = [w for w in self.warnings if not w[1].startswith(f"plugin {name!r}:")]
        self.warnings.extend(("hook_not_marked", message) for message in unmarked_hooks(plugin, name))
        self._registry = None

    def unregister(self, name: str) -> None:
        """Remove a plugin, what it registers, and any record of its failure."""
        self.pm.unregister(name=name)
        self.info.pop(name, None)
        self.failures.pop(name, None)
        self.failure_causes.pop(name, None)
        self.failed.pop(name, None)
        self.warnings = [w for w in self.warnings if not w[1].startswith(f"plugin {name!r}:")]
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
                            causes=self.failure_causes, selection=self.selection,
                            left_out=self.left_out)
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
                with plugin_output():
                    caller(register=register_as(kind))
            except KeyboardInterrupt as exc:
                raise PluginInterrupted(name, f"calling {hook_name} of") from exc
            except (Exception, SystemExit) as exc:  # a broken plugin must not take the tool down
                if isinstance(exc, PluginError):
                    reason = f"{hook_name}: {exc.message}"
                elif isinstance(exc, SystemExit):
                    reason = f"{hook_name}: {_exit_reason(exc, 'instead of registering')}"
                else:
                    reason = f"{hook_name} raised {type(exc).__name__}: {exc}"
                self.pm.unregister(name=name)
                self.failed[name] = self.info.pop(name, None) or PluginInfo(name)
                self.failures[name] = reason
                self.failure_causes[name] = exc
                for dropped_kind, cls in staged:
                    registry.dropped[dropped_kind][cls.name] = name
                return None
        return staged


def _distribution(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    return (dist.metadata["Name"], dist.version) if dist is not None else (None, None)


def _describe(ep: metadata.EntryPoint) -> str:
    name, version = _distribution(ep)
    release = f" {version}" if version else ""
    return f"distribution {name or 'unknown'!r}{release} (module {ep.value})"


def requested_plugins() -> list[str] | None:
    """The entry-point names ``LORAFORGE_LOAD_PLUGINS`` asks for, or None for all.

    The essential plugins are always among them.
    """
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    named = [name.strip() for name in value.split(",") if name.strip()]
    return named + [name for name in ESSENTIAL_PLUGINS if name not in named]


def plugin_warnings(plugins: Plugins) -> list[tuple[str, str]]:
    """``(code, message)`` for each plugin that was not loaded, each name clash and warning."""
    registry = plugins.registry  # runs the register hooks, which may drop a plugin
    found = [("plugin_not_loaded", f"plugin {name!r} was not loaded ({error})")
             for name, error in plugins.failures.items()]
    return (found + list(plugins.warnings)
            + [("name_clash", clash) for clash in registry.clash_messages()])


_default: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded from entry points on first use.

    Nothing is printed: :func:`plugin_warnings` says what went wrong, for the
    front end to show. :func:`reset_plugins` forgets them, so the next call
    loads them again (after ``LORAFORGE_LOAD_PLUGINS`` changed, say).
    """
    global _default
    if _default is None:
        loaded = Plugins()
        loaded.selection = os.environ.get(LOAD_ENV)
        loaded.load_entry_points(requested_plugins())
        loaded.registry  # noqa: B018 (builds it now, so a broken plugin is known at once)
        _default = loaded
    return _default


def reset_plugins() -> None:
    """Forget the process-wide plugins; the next :func:`get_plugins` loads them afresh."""
    global _default
    _default = None

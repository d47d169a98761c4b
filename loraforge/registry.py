"""The components the loaded plugins registered, by kind and name, and their errors.

A :class:`Registry` is what recipes are bound against: it creates components
with validated options, and when a name is missing or ambiguous it says why
(a plugin that failed to load or was left out, two plugins that chose one
name). A recipe may name a component as ``plugin:name`` to say which
plugin's it means.
:func:`component_errors` wraps each place loraforge calls into a component, so
a component that raises is reported by plugin and component.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from loraforge.components import KINDS, Component, RowError
from loraforge.errors import LoraforgeError, PluginError, UnknownComponentError

LOAD_ENV = "LORAFORGE_LOAD_PLUGINS"
TRACE_ENV = "LORAFORGE_TRACE_PLUGINS"

KIND_TITLES = {
    "loader": "model loader",
    "formatter": "dataset formatter",
    "selector": "target selector",
    "callback": "callback",
}


@dataclass
class Registered:
    """A component class and the plugin that registered it."""

    cls: type[Component]
    plugin: str


def check_component(kind: str, cls: Any, plugin: str) -> type[Component]:
    """``cls`` if it can be registered as a component of ``kind``, else a PluginError."""
    base = KINDS[kind]
    if isinstance(cls, base):
        raise PluginError(
            f"registered an instance of {type(cls).__name__} as a {KIND_TITLES[kind]}: register "
            f"the class, not an instance (register({type(cls).__name__}))",
            where=f"plugin {plugin!r}",
        )
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


def form_problems(options: type[Any]) -> list[str]:
    """What an ``Options`` model lacks for a form to be built from it: titles and descriptions.

    The wizard labels each field with its ``title`` and shows its
    ``description`` as help, as plain text; ``loraforge plugins --json``
    lists what is missing so that plugin authors see it.
    """
    problems = []
    for name, option in getattr(options, "model_fields", {}).items():
        missing = [part for part in ("title", "description") if not getattr(option, part)]
        if missing:
            problems.append(f"option {name!r} has no {' and no '.join(missing)}")
        elif "`" in option.description:
            problems.append(f"option {name!r}: its description holds markup; write plain text")
    return problems


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
    selection: str | None = None
    """``LORAFORGE_LOAD_PLUGINS`` when the plugins were loaded; None when unset."""
    left_out: list[str] = field(default_factory=list)
    """The installed plugins that selection left out."""

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

    def choices(self, kind: str) -> list[str]:
        """What a form offers for ``kind``: each name, or ``plugin:name`` for a shared one."""
        found = []
        for name in self.names(kind):
            if name in self.clashes[kind]:
                found.extend(f"{plugin}:{name}" for plugin in sorted(self.clashes[kind][name]))
            else:
                found.append(name)
        return found

    def has(self, kind: str, name: str) -> bool:
        """Whether ``name`` (or ``plugin:name``) picks one component of ``kind``."""
        try:
            self.get(kind, name)
        except LoraforgeError:
            return False
        return True

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

    def selection_note(self) -> str:
        """Why some installed plugins were not loaded ('' when all were asked for)."""
        if self.selection is None:
            return ""
        from loraforge.plugins import ESSENTIAL_PLUGINS

        essentials = ", ".join(ESSENTIAL_PLUGINS)
        if not self.selection.strip():
            return (f"{LOAD_ENV} is set and empty, so only loraforge's essential plugins "
                    f"({essentials}) were loaded")
        left = ", ".join(repr(name) for name in sorted(self.left_out)) or "none"
        return (f"{LOAD_ENV}={self.selection!r} loads only those plugins and the essential ones "
                f"({essentials}); it left out {left}")

    def get(self, kind: str, name: str, *, where: str | None = None) -> Registered:
        """The component of ``kind`` called ``name`` (or ``plugin:name``), or why there is none."""
        title = KIND_TITLES[kind]
        if name in self.clashes[kind]:
            plugins = sorted(self.clashes[kind][name])
            sources = ", ".join(f"one from plugin {plugin!r}" for plugin in plugins)
            raise PluginError(
                f"{_count(len(plugins))} {title}s are named {name!r}: {sources}",
                where=where,
                hint=f"Say which one the recipe means as PLUGIN:NAME (e.g. "
                f"'{plugins[0]}:{name}'), uninstall all but one of these plugins, or leave the "
                f"others out with {LOAD_ENV} (a comma-separated list of the plugins to load).",
            )
        try:
            return self.components[kind][name]
        except KeyError:
            pass
        if ":" in name:
            return self._qualified(kind, name, where)
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
        note = self.selection_note()
        if note:
            message += f"; {note}"
            hint = (f"Add the plugin that provides it to {LOAD_ENV}, or unset {LOAD_ENV} to load "
                    "every installed plugin. " + hint)
        raise UnknownComponentError(message, where=where, hint=hint)

    def _qualified(self, kind: str, name: str, where: str | None) -> Registered:
        """``plugin:name``: the component ``name`` of kind ``kind`` that ``plugin`` registered."""
        plugin, _, short = name.partition(":")
        for entry_kind, entry in self.entries:
            if entry_kind == kind and entry.plugin == plugin and entry.cls.name == short:
                return entry
        title = KIND_TITLES[kind]
        if plugin in self.failures:
            raise PluginError(f"plugin {plugin!r} was not loaded: {self.failures[plugin]}",
                              where=where, hint="Fix or update that plugin.",
                              ) from self.causes.get(plugin)
        loaded = sorted({entry.plugin for _, entry in self.entries})
        if plugin not in loaded:
            note = self.selection_note()
            raise UnknownComponentError(
                f"no loaded plugin is named {plugin!r} (loaded: {', '.join(loaded) or 'none'})"
                + (f"; {note}" if note else ""),
                where=where, hint="Write PLUGIN:NAME with a plugin `loraforge plugins` lists.")
        provided = sorted(e.cls.name for k, e in self.entries if k == kind and e.plugin == plugin)
        raise UnknownComponentError(
            f"plugin {plugin!r} provides no {title} named {short!r} (its {title}s: "
            f"{', '.join(provided) or 'none'})",
            where=where, hint=f"`loraforge plugins show {plugin}` lists what it provides.")

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
    raised = (f"called sys.exit({exc.code!r}) in {call}" if isinstance(exc, SystemExit)
              else f"raised {type(exc).__name__} in {call}: {exc}")
    return PluginError(
        f"the {title} {cls.name or cls.__name__!r} {raised}",
        where=f"plugin {plugin!r}",
        hint="If the recipe is right, this is a bug in the plugin: report it to its author with "
        f"the output of --debug, or leave the plugin out with {LOAD_ENV}.",
    )


def formatter_columns(formatter: Component) -> set[str]:
    """``formatter.columns()``, checked: a set of column names, or a PluginError naming the plugin."""
    with component_errors(formatter, "columns"):
        columns = formatter.columns()
    if isinstance(columns, (set, frozenset, list, tuple)) and all(
            isinstance(c, str) for c in columns):
        return set(columns)
    raise wrong_return(formatter, "columns", columns, "a set of column names (set() for none)")


def wrong_return(component: Component, call: str, value: Any, expected: str) -> PluginError:
    """The error for a component method that returned what its contract does not allow."""
    cls = type(component)
    plugin = getattr(component, "plugin_name", None) or cls.__module__.split(".")[0]
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return PluginError(
        f"the {KIND_TITLES.get(cls.kind, 'component')} {cls.name or cls.__name__!r} returned "
        f"{type(value).__name__} from {call}() ({shown}); loraforge expects {expected}",
        where=f"plugin {plugin!r}",
        hint="This is a bug in the plugin, not in the data: report it to its author, or leave "
        f"the plugin out with {LOAD_ENV}. docs/plugins/hooks.md says what {call}() returns.",
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
    except (Exception, SystemExit) as exc:  # sys.exit() in a plugin must not end loraforge
        raise component_failure(component, call, exc, plugin=plugin) from exc

"""The components the loaded plugins registered, by kind and name, and their errors.

A :class:`Registry` is what recipes are bound against: it creates components
with validated options, and when a name is missing or ambiguous it says why
(a plugin that failed to load, two plugins that chose one name).
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
    for name, field in getattr(options, "model_fields", {}).items():
        missing = [part for part in ("title", "description") if not getattr(field, part)]
        if missing:
            problems.append(f"option {name!r} has no {' and no '.join(missing)}")
        elif "`" in field.description:
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

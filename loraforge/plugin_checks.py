"""What loraforge checks of a plugin before it trusts it: its API range and its hooks.

A plugin states the plugin API versions it supports (``LORAFORGE_API``); its
hooks must have the arguments loraforge passes, and a function named like a
hook must be marked ``@hookimpl`` to be called. Each problem is said in one
sentence naming the plugin and the fix.
"""

from __future__ import annotations

import inspect
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from loraforge import hookspecs
from loraforge.errors import PluginError

HOOKS = {
    "register_model_loaders": "loader",
    "register_dataset_formatters": "formatter",
    "register_target_selectors": "selector",
    "register_callbacks": "callback",
}
"""hook name → the kind of component it registers."""


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


def validation_message(plugin: Any, exc: pluggy.PluginValidationError) -> str:
    """pluggy's several lines about a hook's arguments, as one sentence."""
    for hook_name in HOOKS:
        function = getattr(plugin, hook_name, None)
        if function is None or not callable(function):
            continue
        try:
            arguments = list(inspect.signature(function).parameters)
        except (TypeError, ValueError):
            continue
        extra = [a for a in arguments if a != "register"]
        if extra:
            listed = ", ".join(repr(a) for a in extra)
            return (f"its hook {hook_name}({', '.join(arguments)}) asks for {listed}, which "
                    "loraforge does not pass: the hook's only argument is 'register'")
    return str(exc).splitlines()[-1]


def unmarked_hooks(plugin: Any, name: str) -> list[str]:
    """A warning for each function named like a hook but not marked ``@hookimpl``."""
    found = []
    for hook_name in HOOKS:
        function = getattr(plugin, hook_name, None)
        if callable(function) and not hasattr(function, f"{hookspecs.hookimpl.project_name}_impl"):
            found.append(
                f"plugin {name!r}: its function {hook_name} is not marked @hookimpl, so "
                f"loraforge does not call it; put `@hookimpl` (from loraforge import hookimpl) "
                "on the line above it")
    return found

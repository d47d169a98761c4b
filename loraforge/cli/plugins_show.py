"""``loraforge plugins show NAME``: one plugin, all that is known of it, readable.

Its distribution and version, the module its entry point names, the plugin
API range it states, its hooks, and each component with every option
(title, type, default, description); for a plugin that was not loaded, why.
"""

from __future__ import annotations

import argparse
import textwrap
import typing
from typing import Any

from loraforge.errors import LoraforgeError


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "show", parents=[common], help="show one plugin: its components and their options",
        description="Show one plugin: distribution, version, hooks, and each component with "
        "its options (title, type, default, description), or why it was not loaded.",
    )
    parser.add_argument("name", help="the plugin's name, as `loraforge plugins` lists it")
    parser.set_defaults(handler=handle)


def type_name(annotation: Any) -> str:
    """An option's type as a reader writes it: ``str``, ``int | None``, ``"a" | "b"``."""
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(repr(value) for value in typing.get_args(annotation))
    args = typing.get_args(annotation)
    if args and typing.get_origin(annotation) in (typing.Union, type(int | None)):
        return " | ".join(type_name(arg) for arg in args)
    if args:
        origin = typing.get_origin(annotation)
        inner = ", ".join(type_name(arg) for arg in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def option_lines(options: type[Any]) -> list[str]:
    """A few lines per option of an ``Options`` model."""
    lines = []
    for name, field in getattr(options, "model_fields", {}).items():
        default = "required" if field.is_required() else f"default {field.get_default()!r}"
        lines.append(f"{name}: {type_name(field.annotation)}, {default}"
                     + (f" ({field.title})" if field.title else ""))
        if field.description:
            lines.extend(textwrap.wrap(field.description, width=76,
                                       initial_indent="    ", subsequent_indent="    "))
    return lines


def describe_plugin(plugins, name: str) -> list[str]:
    """The lines ``plugins show NAME`` prints; LoraforgeError for a name no plugin has."""
    from loraforge.registry import KIND_TITLES, LOAD_ENV

    info = plugins.info.get(name) or plugins.failed.get(name)
    if name not in plugins.info and name not in plugins.failures:
        known = sorted(set(plugins.info) | set(plugins.failures))
        note = plugins.registry.selection_note() if name in plugins.left_out else ""
        raise LoraforgeError(
            f"no plugin is named {name!r} (installed: {', '.join(known) or 'none'})"
            + (f"; {note}" if note else ""),
            where="NAME",
            hint="Name one that `loraforge plugins` lists"
            + (f", or add it to {LOAD_ENV}." if note else "."),
        )
    lines = [name]
    if info is not None:
        lines += [f"  distribution: {info.distribution or 'unknown'} {info.version or ''}".rstrip(),
                  f"  module: {info.module or 'unknown'}"]
    if name in plugins.failures:
        return lines + [f"  not loaded: {plugins.failures[name]}"]
    lines += [f"  plugin API: {info.api or 'not stated'}",
              f"  hooks: {', '.join(plugins.hooks_of(name)) or 'none'}"]
    lines += [f"  warning: {message}" for _, message in plugins.warnings
              if message.startswith(f"plugin {name!r}:")]
    for kind, entry in plugins.registry.provided_by(name):
        lines += ["", f"  {KIND_TITLES[kind]} {entry.cls.name!r}"]
        if entry.cls.description:
            lines.append(f"    {entry.cls.description}")
        options = option_lines(entry.cls.Options)
        lines += ["    options:" if options else "    options: none"]
        lines += [f"      {line}" for line in options]
    return lines


def handle(args: argparse.Namespace) -> int:
    from loraforge.cli.recipe_args import loaded_plugins

    for line in describe_plugin(loaded_plugins(), args.name):
        print(line)
    return 0

"""``loraforge plugins``: what is installed, and what each plugin provides.

``loraforge plugins show NAME`` (in :mod:`loraforge.cli.plugins_show`) tells
all about one plugin; ``loraforge plugins new NAME`` (in
:mod:`loraforge.cli.plugins_new`) writes a new plugin package.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from loraforge.cli import plugins_new, plugins_show

if TYPE_CHECKING:
    from loraforge.plugins import Plugins


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "plugins", parents=[common], help="list installed plugins and their components",
        description="List the plugins loaded from the `loraforge` entry-point group with their "
        "components, show one with `loraforge plugins show NAME`, or write a new one with "
        "`loraforge plugins new NAME`.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for tools")
    parser.set_defaults(handler=handle)
    actions = parser.add_subparsers(dest="plugins_command", metavar="{show,new}")
    plugins_show.add_parser(actions, common)
    plugins_new.add_parser(actions, common)


def describe(plugins: Plugins) -> list[dict]:
    """Every loaded plugin: name, version, distribution, hooks and components with schemas."""
    from loraforge.registry import form_problems

    registry = plugins.registry
    rows = []
    for name, info in sorted(plugins.info.items()):
        components = [
            {
                "kind": kind,
                "name": entry.cls.name,
                "description": entry.cls.description,
                "options": entry.cls.Options.model_json_schema(),
                # what a form built from the options would miss: titles, plain descriptions
                "form_problems": form_problems(entry.cls.Options),
            }
            for kind, entry in registry.provided_by(name)
        ]
        rows.append({
            "name": name,
            "version": info.version,
            "distribution": info.distribution,
            "module": info.module,
            "api": info.api,
            "hooks": plugins.hooks_of(name),
            "components": components,
        })
    return rows


def failed(plugins: Plugins) -> list[dict]:
    """Every plugin that was not loaded: why, and the distribution that ships it."""
    rows = []
    for name, error in plugins.failures.items():
        info = plugins.failed.get(name)
        rows.append({"name": name, "error": error,
                     "distribution": info.distribution if info else None,
                     "version": info.version if info else None,
                     "module": info.module if info else None})
    return rows


def clashes(plugins: Plugins) -> list[dict]:
    """Names claimed twice: a plugin name by distributions, a component name by plugins."""
    found: list[dict] = [
        {"kind": "plugin", "name": name,
         "distributions": [{"name": dist, "version": version, "module": module}
                           for dist, version, module in claimants]}
        for name, claimants in plugins.disputed.items()
    ]
    for kind, names in plugins.registry.clashes.items():
        found.extend({"kind": kind, "name": name, "plugins": sorted(owners)}
                     for name, owners in sorted(names.items()))
    return found


def _wrapped(first: str, rest: str, width: int, indent: str) -> str:
    """``first`` then ``rest``, wrapped to ``width`` between words, never inside one."""
    import textwrap

    return "\n".join(textwrap.wrap(
        first + rest, width=max(width, 20), initial_indent=indent,
        subsequent_indent=indent + "    ", break_long_words=False, break_on_hyphens=False,
    ))


def option_summary(schema: dict) -> str:
    """``name = default`` for each option of a JSON Schema, ``name (required)`` without one."""
    required = set(schema.get("required", ()))
    parts = []
    for name, field in schema.get("properties", {}).items():
        if name in required:
            parts.append(f"{name} (required)")
        else:
            parts.append(f"{name} = {json.dumps(field.get('default'), ensure_ascii=False)}")
    return ", ".join(parts)


def render(plugins: Plugins, rows: list[dict], width: int) -> list[tuple[str, str | None]]:
    """The listing as ``(line, style)``: a block per plugin, so that it reads at any width.

    A table cut hook and component names at 80 columns (a pipe, nohup); here
    only the lists wrap, between names.
    """
    from loraforge.registry import KIND_TITLES

    lines: list[tuple[str, str | None]] = []
    for row in rows:
        heading = " ".join(filter(None, (row["name"], row["version"])))
        if row["distribution"] and row["distribution"] != row["name"]:
            heading += f" ({row['distribution']})"
        lines.append((heading, "bold"))
        lines.append((_wrapped("hooks: ", ", ".join(row["hooks"]) or "none", width, "  "), None))
        for component in row["components"]:
            title = f"{KIND_TITLES[component['kind']]} {component['name']}"
            lines.append((_wrapped(f"{title}: ", component["description"] or "(no description)",
                                   width, "  "), None))
            options = option_summary(component["options"])
            if options:
                lines.append((_wrapped("options: ", options, width, "      "), None))
    sections = {
        "not loaded": [f"{name}: {error}" for name, error in plugins.failures.items()],
        "name clashes": plugins.registry.clash_messages(),
        "warnings": [message for _, message in plugins.warnings],
    }
    for title, problems in sections.items():
        if problems:
            lines.append((f"{title}:", "bold red"))
            lines.extend((_wrapped("", problem, width, "  "), None) for problem in problems)
    return lines


def handle(args: argparse.Namespace) -> int:
    from loraforge.cli.recipe_args import loaded_plugins
    from loraforge.hookspecs import API_VERSION

    plugins = loaded_plugins()
    rows = describe(plugins)
    if args.json:
        warnings = [{"code": code, "message": message} for code, message in plugins.warnings]
        print(json.dumps({"api_version": API_VERSION, "plugins": rows, "failed": failed(plugins),
                          "clashes": clashes(plugins), "warnings": warnings}, indent=2),
              file=args.results)
        return 0

    from rich.console import Console

    console = Console(highlight=False, markup=False)
    for line, style in render(plugins, rows, console.width):
        console.print(line, style=style, soft_wrap=True)
    return 0

"""``loraforge plugins``: what is installed, and what each plugin provides.

``loraforge plugins new NAME`` (in :mod:`loraforge.cli.plugins_new`) writes a
new plugin package instead.
"""

from __future__ import annotations

import argparse
import json

from loraforge.cli import plugins_new
from loraforge.hookspecs import API_VERSION
from loraforge.plugins import KIND_TITLES, Plugins


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "plugins", parents=[common], help="list installed plugins and their components",
        description="List the plugins loaded from the `loraforge` entry-point group, or write "
        "a new one with `loraforge plugins new NAME`.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for tools")
    parser.set_defaults(handler=handle)
    actions = parser.add_subparsers(dest="plugins_command", metavar="new")
    plugins_new.add_parser(actions, common)


def describe(plugins: Plugins) -> list[dict]:
    """Every loaded plugin: name, version, distribution, hooks and components with schemas."""
    registry = plugins.registry
    rows = []
    for name, info in sorted(plugins.info.items()):
        components = [
            {
                "kind": kind,
                "name": comp_name,
                "description": entry.cls.description,
                "options": entry.cls.Options.model_json_schema(),
            }
            for kind in KIND_TITLES
            for comp_name, entry in sorted(registry.components[kind].items())
            if entry.plugin == name
        ]
        rows.append({
            "name": name,
            "version": info.version,
            "distribution": info.distribution,
            "api": info.api,
            "hooks": plugins.hooks_of(name),
            "components": components,
        })
    return rows


def handle(args: argparse.Namespace) -> int:
    from loraforge.plugins import get_plugins

    plugins = get_plugins()
    rows = describe(plugins)
    if args.json:
        failures = [{"name": n, "error": e} for n, e in plugins.failures.items()]
        print(json.dumps({"api_version": API_VERSION, "plugins": rows, "failed": failures},
                         indent=2))
        return 0

    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("plugin", "version", "hooks", "components"):
        table.add_column(column)
    for row in rows:
        by_kind: dict[str, list[str]] = {}
        for component in row["components"]:
            by_kind.setdefault(KIND_TITLES[component["kind"]], []).append(component["name"])
        components = "\n".join(f"{kind}s: {', '.join(names)}" for kind, names in by_kind.items())
        table.add_row(row["name"], row["version"] or "", "\n".join(row["hooks"]), components)
    Console(highlight=False).print(table)
    return 0

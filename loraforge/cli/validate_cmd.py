"""``loraforge validate RECIPE``: check a recipe and its components without loading a model."""

from __future__ import annotations

import argparse

from loraforge.cli.recipe_args import (
    add_recipe_arguments,
    loaded_plugins,
    recipe_from_args,
    warn_remote_code,
)


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "validate", parents=[common], help="check a recipe without loading a model",
        description="Read the recipe, resolve every component it names and check their options.",
    )
    add_recipe_arguments(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from loraforge.engine.inputs import check_inputs
    from loraforge.engine.quiet import quiet_libraries
    from loraforge.plan import bind

    recipe = recipe_from_args(args)
    plan = bind(recipe, loaded_plugins())
    quiet_libraries()  # reading the data must not print the libraries' progress bars
    check_inputs(plan)
    warn_remote_code(recipe)
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("field")
    table.add_column("component (plugin)")
    for field, component in plan.components.items():
        table.add_row(field, component)
    console = Console(highlight=False)
    console.print(f"[green]✓[/] {args.recipe} is valid")
    console.print(table)
    return 0

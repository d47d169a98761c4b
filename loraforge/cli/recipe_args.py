"""Arguments shared by the subcommands that read a recipe."""

from __future__ import annotations

import argparse

from loraforge.recipe import Recipe, load_recipe


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="path to a recipe .toml file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override a recipe field, e.g. --set train.learning_rate=1e-4 (repeatable)",
    )


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    return load_recipe(args.recipe, args.overrides)


def warn_remote_code(recipe: Recipe) -> None:
    if recipe.model.trust_remote_code:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(
            "[bold yellow]warning:[/] model.trust_remote_code = true: Python code shipped with "
            f"{recipe.model.path} may run on this machine (it does for families that need their "
            "own modeling code, such as Baichuan-13B). Do this only for checkpoints you trust."
        )

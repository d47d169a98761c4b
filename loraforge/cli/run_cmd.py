"""``loraforge run RECIPE``: train an adapter."""

from __future__ import annotations

import argparse

from loraforge.cli.recipe_args import add_recipe_arguments, recipe_from_args, warn_remote_code


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "run", parents=[common], help="train a LoRA adapter from a recipe",
        description="Validate the recipe, load the model, apply LoRA, train and save the adapter.",
    )
    add_recipe_arguments(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished run in the output directory")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from loraforge.plan import bind
    from loraforge.plugins import get_plugins

    recipe = recipe_from_args(args)
    plan = bind(recipe, get_plugins())
    warn_remote_code(recipe)

    from loraforge.engine.run import run_plan

    run_plan(plan, overwrite=args.overwrite)
    return 0

"""``loraforge new [FILE]`` and ``loraforge edit FILE``: the wizard, on a new recipe or an old one.

``loraforge`` alone opens it too, on a terminal; without one it prints help.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from loraforge.errors import LoraforgeError


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    new = subparsers.add_parser(
        "new", parents=[common], help="build a recipe step by step in the terminal wizard",
        description="Open the wizard on a new recipe, saved to FILE (recipe.toml by default).",
    )
    new.add_argument("file", nargs="?", default="recipe.toml", help="where to save the recipe")
    new.set_defaults(handler=handle_new)
    edit = subparsers.add_parser(
        "edit", parents=[common], help="change a recipe in the terminal wizard",
        description="Open the wizard on FILE. Saving changes only the lines of the values "
        "changed; comments and layout stay.",
    )
    edit.add_argument("file", help="the recipe to edit")
    edit.set_defaults(handler=handle_edit)


def handle_new(args: argparse.Namespace) -> int:
    from loraforge.tui.draft import Draft

    path = Path(args.file)
    if path.exists():
        raise LoraforgeError(f"{path} already exists", where="FILE",
                             hint=f"Open it with `loraforge edit {path}`, or name a new file.")
    return open_wizard(Draft.new(path))


def handle_edit(args: argparse.Namespace) -> int:
    from loraforge.tui.draft import Draft

    return open_wizard(Draft.open(args.file))


def open_wizard(draft) -> int:
    from loraforge.tui.app import Wizard

    wizard = Wizard(draft)  # it loads the plugins once its first screen is up
    wizard.run()
    if wizard.interrupted is not None:
        raise wizard.interrupted  # a plugin's KeyboardInterrupt: named as by every command
    if wizard.plugins is not None:
        # what did not load, once more where it stays on screen (and, with --debug, why)
        from loraforge.cli.recipe_args import loaded_plugins

        loaded_plugins()
    return 0

"""``loraforge new [FILE]`` and ``loraforge edit FILE``: the wizard, on a new recipe or an old one.

``loraforge`` alone opens it too, on a terminal; without one it prints help.
"""

from __future__ import annotations

import argparse
import gc
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
    path = Path(args.file)
    if path.exists():
        raise LoraforgeError(f"{path} already exists", where="FILE",
                             hint=f"Open it with `loraforge edit {path}`, or name a new file.")
    return open_wizard(path, new=True)


def handle_edit(args: argparse.Namespace) -> int:
    return open_wizard(Path(args.file), new=False)


def open_wizard(path: Path, *, new: bool) -> int:
    """Run the wizard on a new recipe at ``path``, or on the one there.

    Until its first screen is drawn, Python's garbage collector is paused:
    starting builds about 90 000 objects (modules, classes, the screen's
    widgets) that live as long as the wizard, and the collector scanned them
    over and over, about a tenth of the time to the first screen.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        from loraforge.tui.app import Wizard
        from loraforge.tui.draft import Draft

        draft = Draft.new(path) if new else Draft.open(path)
        # it loads the plugins once its first screen is up, and collecting resumes then
        wizard = Wizard(draft, on_first_screen=gc.enable if collecting else None)
        wizard.run()
    finally:
        if collecting:
            gc.enable()
    if wizard.interrupted is not None:
        raise wizard.interrupted  # a plugin's KeyboardInterrupt: named as by every command
    if wizard.plugins is not None:
        # what did not load, once more where it stays on screen (and, with --debug, why)
        from loraforge.cli.recipe_args import loaded_plugins

        loaded_plugins()
    return 0

"""Arguments shared by the subcommands that read a recipe."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loraforge.recipe import Recipe


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="path to a recipe .toml file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override a recipe field, e.g. --set train.learning_rate=1e-4 (repeatable)",
    )


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    from loraforge.recipe import load_recipe

    return load_recipe(args.recipe, args.overrides)


def warn_remote_code(recipe: Recipe) -> None:
    if recipe.model.trust_remote_code:
        from loraforge.recipe import remote_code_warning
        from loraforge.reporting import warn

        warn(remote_code_warning(recipe), code="remote_code", where="model.trust_remote_code")


_warned = False
_debug = False


def forget_warnings(*, debug: bool = False) -> None:
    """A new command: its first plugin loading tells of broken plugins again.

    With ``debug`` (``--debug``) it also prints the traceback behind each failure.
    """
    global _warned, _debug
    _warned = False
    _debug = debug


def loaded_plugins():
    """The process's plugins; the first call tells of any that did not load, or clashed."""
    global _warned
    from loraforge.plugins import get_plugins, plugin_warnings
    from loraforge.reporting import warn

    plugins = get_plugins()
    if not _warned:
        _warned = True
        for code, message in plugin_warnings(plugins):
            warn(message, code=code)
        if _debug:
            _print_tracebacks(plugins.failure_causes)
    return plugins


def _print_tracebacks(causes) -> None:
    import sys
    import traceback

    for name, exc in causes.items():
        print(f"loraforge: the traceback of plugin {name!r}:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)

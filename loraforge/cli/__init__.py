"""The ``loraforge`` command: one module per subcommand, errors handled here once."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from loraforge import __version__
from loraforge.cli import (
    chat_cmd,
    doctor_cmd,
    estimate_cmd,
    eval_cmd,
    generate_cmd,
    inspect_cmd,
    merge_cmd,
    plugins_cmd,
    preview_cmd,
    report_cmd,
    run_cmd,
    validate_cmd,
    watch_cmd,
    wizard_cmd,
)
from loraforge.errors import LoraforgeError

SUBCOMMANDS = (run_cmd, validate_cmd, preview_cmd, inspect_cmd, estimate_cmd, doctor_cmd,
               plugins_cmd, chat_cmd, generate_cmd, eval_cmd, merge_cmd, report_cmd, watch_cmd,
               wizard_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loraforge",
        description="LoRA fine-tuning of causal language models from a recipe.",
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    # accepted after the subcommand too; SUPPRESS keeps it from resetting a --debug given before
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show Python tracebacks")
    parser.add_argument("--version", action="version", version=f"loraforge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if argv is None and sys.stdin.isatty() and sys.stdout.isatty():
            # a person at a terminal: the wizard, on a new recipe
            args = parser.parse_args(["new", _unused_recipe_name()])
        else:
            parser.print_help()
            return 0
    from loraforge.cli import recipe_args
    from loraforge.console import ConsoleReporter
    from loraforge.reporting import set_process_reporter

    recipe_args.forget_warnings(debug=bool(getattr(args, "debug", False)))
    previous = set_process_reporter(ConsoleReporter())
    try:
        with results_kept_apart(args):
            return handle(args)
    finally:
        set_process_reporter(previous)
        settle_streams()


@contextlib.contextmanager
def results_kept_apart(args: argparse.Namespace) -> Iterator[None]:
    """Keep standard output for the command's JSON while a command prints it for tools.

    The command writes its results to ``args.results`` (standard output);
    anything else printed there meanwhile, such as a plugin's selector or
    formatter saying what it does, goes to standard error, so a tool reads
    the JSON and nothing else. A command printing for a person changes nothing.
    """
    args.results = sys.stdout
    for_tools = getattr(args, "prints_json", None)
    if not (for_tools(args) if for_tools is not None else getattr(args, "json", False)):
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def settle_streams() -> None:
    """Flush standard output; if its reader went away (``| head``), stop writing there.

    Otherwise Python's own flush at exit would fail on the closed pipe and
    turn a finished run's exit code 0 into 120.
    """
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass


def _unused_recipe_name() -> str:
    """recipe.toml, or recipe-2.toml... when it is taken: a bare `loraforge` never overwrites."""
    from pathlib import Path

    name, number = "recipe.toml", 1
    while Path(name).exists():
        number += 1
        name = f"recipe-{number}.toml"
    return name


def handle(args: argparse.Namespace) -> int:
    """Run the subcommand; a LoraforgeError becomes a panel and exit code 2."""
    try:
        return args.handler(args)
    except LoraforgeError as exc:
        if args.debug:
            raise
        from loraforge.cli.errors import print_error

        print_error(exc)
        return 2
    except KeyboardInterrupt as exc:
        if args.debug:
            raise
        plugin = getattr(exc, "plugin", None)  # raised while a plugin was imported or registered
        where = f" while {exc.doing} plugin {plugin!r}" if plugin else ""
        print(f"\nloraforge: interrupted{where}", file=sys.stderr)
        if plugin:
            print("If you did not press Ctrl-C, the plugin raised KeyboardInterrupt itself: "
                  "leave it out with LORAFORGE_LOAD_PLUGINS, or uninstall it.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`loraforge plugins --json | head`): not an error of ours
        return 0

"""The ``loraforge`` command: one module per subcommand, errors handled here once."""

from __future__ import annotations

import argparse
import sys

from loraforge import __version__
from loraforge.cli import (
    chat_cmd,
    eval_cmd,
    generate_cmd,
    merge_cmd,
    plugins_cmd,
    preview_cmd,
    report_cmd,
    run_cmd,
    validate_cmd,
)
from loraforge.cli.errors import print_error
from loraforge.errors import LoraforgeError

SUBCOMMANDS = (run_cmd, validate_cmd, preview_cmd, plugins_cmd, chat_cmd, generate_cmd, eval_cmd,
               merge_cmd, report_cmd)


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
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except LoraforgeError as exc:
        if args.debug:
            raise
        print_error(exc)
        return 2
    except KeyboardInterrupt:
        print("\nloraforge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`loraforge plugins --json | head`): not an error of ours
        sys.stdout = None
        return 0

"""``loraforge run RECIPE``: train an adapter.

Exit codes: 0 when the adapter is saved, 2 for bad input (a short error
panel), 130 or 143 when SIGINT or SIGTERM stopped the run after it saved a
checkpoint.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from loraforge.cli.recipe_args import add_recipe_arguments, recipe_from_args, warn_remote_code


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "run", parents=[common], help="train a LoRA adapter from a recipe",
        description="Validate the recipe, load the model, apply LoRA, train and save the adapter. "
        "Ctrl-C (or SIGTERM) saves a checkpoint after the current step; --resume continues "
        "from it.",
    )
    add_recipe_arguments(parser)
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--overwrite", action="store_true",
                       help="start over, replacing the run in the output directory")
    start.add_argument("--resume", action="store_true",
                       help="continue an unfinished run from its newest complete checkpoint "
                       "(start afresh when there is none)")
    start.add_argument("--force-resume", action="store_true",
                       help="like --resume, even if the recipe or the data changed since the "
                       "checkpoint was saved")
    parser.set_defaults(handler=handle)


def resume_command(args: argparse.Namespace) -> str:
    """The command that continues this run."""
    words = ["loraforge", "run", args.recipe]
    for override in args.overrides:
        words += ["--set", override]
    return shlex.join([*words, "--force-resume" if args.force_resume else "--resume"])


def handle(args: argparse.Namespace) -> int:
    from loraforge.plan import bind
    from loraforge.plugins import get_plugins

    recipe = recipe_from_args(args)
    plan = bind(recipe, get_plugins())
    warn_remote_code(recipe)

    from loraforge.engine import checkpoints
    from loraforge.engine.environment import is_main_process
    from loraforge.engine.outputs import output_path
    from loraforge.engine.run import run_plan
    from loraforge.engine.signals import RunInterrupted

    try:
        run_plan(plan, overwrite=args.overwrite, resume=args.resume,
                 force_resume=args.force_resume)
    except RunInterrupted as stop:
        if is_main_process():
            where = f"a checkpoint is in {stop.checkpoint}" if stop.checkpoint else "no checkpoint"
            tell_how_to_resume(
                args, f"loraforge: stopped by {stop.signal_name} at step {stop.step}; {where}"
            )
        return stop.exit_code
    except KeyboardInterrupt:
        # a second Ctrl-C stops at once, without a checkpoint of its own; an earlier one may be
        saved = checkpoints.newest(output_path(recipe))
        if saved is None:
            raise
        if is_main_process():
            # after the terminal's ^C, on a line of its own
            tell_how_to_resume(args, f"\nloraforge: interrupted at once; the newest checkpoint is "
                                     f"in {saved.path} (step {saved.step})")
        return 130
    return 0


def tell_how_to_resume(args: argparse.Namespace, what: str) -> None:
    """``what`` happened, and the command that continues the run."""
    from loraforge.engine.environment import world_size

    launcher = " (under the same launcher)" if world_size() > 1 else ""
    print(f"{what}.\nContinue with{launcher}:\n  {resume_command(args)}",
          file=sys.stderr, flush=True)

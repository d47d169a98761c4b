"""``loraforge run RECIPE``: train an adapter.

Exit codes: 0 when the adapter is saved, 2 for bad input (a short error
panel), 130 or 143 when SIGINT or SIGTERM stopped the run after it saved a
checkpoint. ``--events FILE`` (``-`` for standard output, the log then going
to standard error only) writes every event of the run as a JSON line
(docs/events.md).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys

from loraforge.cli.recipe_args import add_recipe_arguments, recipe_from_args


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
    parser.add_argument("--events", metavar="FILE",
                        help="write every event of the run as a JSON line to FILE (- for "
                        "standard output; the log goes to standard error)")
    parser.set_defaults(handler=handle)


def resume_command(args: argparse.Namespace) -> str:
    """The command that continues this run."""
    words = ["loraforge", "run", args.recipe]
    for override in args.overrides:
        words += ["--set", override]
    return shlex.join([*words, "--force-resume" if args.force_resume else "--resume"])


def handle(args: argparse.Namespace) -> int:
    recipe = recipe_from_args(args)

    from loraforge.engine import checkpoints
    from loraforge.engine.environment import is_main_process
    from loraforge.engine.outputs import output_path
    from loraforge.engine.run import run
    from loraforge.engine.signals import RunInterrupted

    try:
        with event_stream(args.events) as reporter:
            run(recipe, reporter=reporter, overwrite=args.overwrite, resume=args.resume,
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


@contextlib.contextmanager
def event_stream(target: str | None):
    """The command's reporter: its log, and the JSON lines ``--events`` asks for.

    With ``--events -`` the JSON lines are standard output and nothing else
    may write there: whatever prints to it (the console callback, a library)
    goes to standard error for the duration of the run.
    """
    from loraforge.reporting import JsonLinesReporter, Reporters, current_reporter

    reporters = Reporters([current_reporter()])
    if target is None:
        yield reporters
        return
    if target == "-":
        stdout = sys.stdout
        reporters.add(JsonLinesReporter(stdout))
        sys.stdout = sys.stderr
        try:
            yield reporters
        finally:
            sys.stdout = stdout
        return
    try:
        stream = open(target, "a", encoding="utf-8")
    except OSError as exc:
        from loraforge.errors import OutputError

        raise OutputError(f"cannot write the events to {target}: {exc.strerror}",
                          where="--events",
                          hint="Give a file in a folder you can write to, or - for standard "
                          "output.") from None
    reporters.add(JsonLinesReporter(stream, close=True))
    try:
        yield reporters
    finally:
        stream.close()


def tell_how_to_resume(args: argparse.Namespace, what: str) -> None:
    """``what`` happened, and the command that continues the run."""
    from loraforge.engine.environment import world_size

    launcher = " (under the same launcher)" if world_size() > 1 else ""
    print(f"{what}.\nContinue with{launcher}:\n  {resume_command(args)}",
          file=sys.stderr, flush=True)

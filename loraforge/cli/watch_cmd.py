"""``loraforge watch RUN_DIR``: the wizard's run view on any run, live or finished."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loraforge.errors import LoraforgeError, NotARunError


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "watch", parents=[common], help="follow a run live in the terminal: loss, speed, log",
        description="Show a run's progress as the wizard does — phases, step, epoch, ETA, tokens "
        "a second, learning rate, the training and evaluation loss on one chart, and the log — "
        "from the events.jsonl in its output folder. Works on a run started anywhere "
        "(headless, over SSH, or left running by the wizard) and on a finished one, whose whole "
        "history it shows. s stops a live run on this machine (it saves a checkpoint first).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a run's output folder (output.dir of its recipe), or an events "
                        "file written by `loraforge run --events FILE`")
    parser.set_defaults(handler=handle)


def events_path(run_dir: str | Path) -> Path:
    """The events file of the run in ``run_dir``; NotARunError if there is none to follow."""
    from loraforge.events import RUN_EVENTS_FILE as EVENTS_FILE

    path = Path(run_dir).expanduser()
    if path.is_file():
        return path
    if (path / EVENTS_FILE).is_file():
        return path / EVENTS_FILE
    what = "does not exist" if not path.exists() else f"has no {EVENTS_FILE}"
    hint = ("Give the output folder of a run (output.dir in its recipe, e.g. runs/quickstart), "
            "or the file given to `loraforge run --events FILE`.")
    if not path.exists():
        hint += " A run that was just started makes its folder within seconds: try again then."
    raise NotARunError(
        f"{path} {what}, so there is no run to follow: every run writes its events to "
        f"{EVENTS_FILE} in its output folder from the moment it starts", where="RUN_DIR",
        hint=hint,
    )


def handle(args: argparse.Namespace) -> int:
    events = events_path(args.run_dir)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise LoraforgeError(
            "loraforge watch draws in a terminal, and this is not one", where="RUN_DIR",
            hint=f"Read the events as JSON lines instead ({events}, described in "
            f"docs/events.md), or see the run at a glance with `loraforge report {args.run_dir}`.",
        )
    from loraforge.tui.watch_app import WatchApp

    WatchApp(events).run()
    return 0

"""Arguments shared by the subcommands that use a trained run: its folder, its base, sampling."""

from __future__ import annotations

import argparse
from pathlib import Path

from loraforge.errors import OutputError


def add_run_arguments(parser: argparse.ArgumentParser, *, base: bool = True) -> None:
    """RUN_DIR, and ``--base`` for the commands that load the run's base (all but report)."""
    if not base:
        parser.add_argument("run_dir", metavar="RUN_DIR",
                            help="a run's folder (output.dir of its recipe), finished or not")
        return
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a finished run's folder (output.dir of its recipe), or one of its "
                        "checkpoints (RUN_DIR/checkpoints/checkpoint-N)")
    parser.add_argument("--base", metavar="PATH",
                        help="the base model's folder, if it moved since the run "
                        "(it must be the same checkpoint)")


def add_sampling_arguments(parser: argparse.ArgumentParser, *, max_new_tokens: int) -> None:
    group = parser.add_argument_group("sampling (greedy unless --temperature is above 0)")
    group.add_argument("--max-new-tokens", type=int, default=max_new_tokens, metavar="N",
                       help=f"stop after N new tokens if EOS has not come (default {max_new_tokens})")
    group.add_argument("--temperature", type=float, default=0.0, metavar="T",
                       help="sample with this temperature; 0 (the default) picks the likeliest "
                       "token each time")
    group.add_argument("--top-p", type=float, default=1.0, metavar="P",
                       help="sample only from the likeliest tokens whose probabilities add up "
                       "to P (default 1: all)")
    group.add_argument("--seed", type=int, metavar="N", help="seed of the sampling")
    parser.add_argument("--compare", action="store_true",
                        help="also answer with the base model alone (the adapter turned off)")


def sampling_from_args(args: argparse.Namespace):
    from loraforge.after.generation import Sampling

    sampling = Sampling(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                        top_p=args.top_p, seed=args.seed)
    sampling.check()
    return sampling


def open_trained(args: argparse.Namespace):
    """The run in ``args.run_dir``, loaded with its adapter (a ``TrainedModel``)."""
    from loraforge.after.models import load_trained
    from loraforge.after.runs import open_run

    return load_trained(open_run(args.run_dir), base=args.base)


def output_file(value: str | None, option: str, example: str) -> Path | None:
    """An output file option (``--out``, ``--png``) as a path, refused before any work is done
    if it can never be written: a folder, or a path through a file."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_dir():
        raise OutputError(f"{value} is a folder", where=option,
                          hint=f"Give the file to write, e.g. {example}.")
    if any(parent.exists() and not parent.is_dir() for parent in path.parents):
        raise OutputError(f"{value} cannot be written: a folder on its path is a file",
                          where=option, hint=f"Give another file, e.g. {example}.")
    return path

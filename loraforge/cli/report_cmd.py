"""``loraforge report RUN_DIR``: a run at a glance, with its loss curve."""

from __future__ import annotations

import argparse
import json

from loraforge.cli.run_dir_args import add_run_arguments, output_file
from loraforge.errors import OutputError


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "report", parents=[common], help="summarise a run and draw its loss curve",
        description="What the run trained, on what, for how long and how fast, its final "
        "losses and versions, and the training and evaluation loss against the step, drawn in "
        "the terminal. Loads no model.",
    )
    add_run_arguments(parser, base=False)
    parser.add_argument("--png", metavar="FILE", help="also draw the curve into a PNG image")
    parser.add_argument("--no-plot", action="store_true", help="leave the terminal plot out")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import shutil

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from loraforge.after.report import loss_curve, summarize, terminal_plot, write_loss_png

    png = output_file(args.png, "--png", "loss.png")
    summary = summarize(args.run_dir)
    curve = loss_curve(summary.folder)
    if png is not None:
        try:
            png.parent.mkdir(parents=True, exist_ok=True)
            write_loss_png(curve, png, title=str(summary.folder))
        except OSError as exc:
            raise OutputError(f"cannot write {args.png}: {exc.strerror or exc}",
                              where="--png") from None
    if args.json:
        print(json.dumps(summary.as_json(), indent=2, ensure_ascii=False), file=args.results)
        return 0
    console = Console(highlight=False)
    table = Table(title=str(summary.folder), title_justify="left", box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in summary.facts.items():
        table.add_row(label, value)
    console.print(table)
    if curve and not args.no_plot:
        width = min(shutil.get_terminal_size((100, 24)).columns, 100)
        plot = terminal_plot(curve, width=width, height=18, color=console.color_system is not None)
        console.print(Text.from_ansi(plot))
    elif not curve:
        console.print("[dim]no losses were logged (metrics.jsonl or a checkpoint's "
                      "trainer_state.json)[/]")
    if args.png:
        console.print(f"loss curve drawn in {args.png}")
    return 0

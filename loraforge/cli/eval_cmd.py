"""``loraforge eval RUN_DIR``: held-out loss and perplexity, base beside adapter."""

from __future__ import annotations

import argparse
import json

from loraforge.cli.run_dir_args import add_run_arguments, open_trained


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "eval", parents=[common], help="compare base and adapter on held-out rows",
        description="Loss and perplexity of the base model and of the adapter on the run's "
        "held-out rows (its eval_split or eval_fraction), formatted, masked and batched as the "
        "run evaluated them; or on every row of --data PATH (a file or folder, or the run's "
        "data) and --split NAME.",
    )
    add_run_arguments(parser)
    parser.add_argument("--data", metavar="PATH", help="evaluate on these rows instead")
    parser.add_argument("--split", metavar="NAME",
                        help="evaluate on this whole split (of --data, or of the run's data)")
    parser.add_argument("--answers", action="store_true",
                        help="also answer every row's prompt greedily and count the answers that "
                        "match the row's completion exactly")
    parser.add_argument("--examples", type=int, default=3, metavar="N",
                        help="with --answers, show N of them (default 3)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from loraforge.after.evaluation import answer_rows, eval_rows, evaluate_rows

    trained = open_trained(args)
    rows = eval_rows(trained, data=args.data, split=args.split)
    evaluation = evaluate_rows(trained, rows)
    answers = answer_rows(trained, rows) if args.answers else None
    if args.json:
        record = evaluation.record()
        if answers is not None:
            record["answers"] = answers.record()
        print(json.dumps(record, indent=2))
        return 0
    from rich.console import Console

    print_evaluation(Console(highlight=False), evaluation, answers, examples=args.examples)
    return 0


def print_evaluation(console, evaluation, answers=None, *, examples: int = 3) -> None:
    """The base and adapter side by side, then a few of the answers, with rich."""
    from rich.table import Table

    from loraforge.after.evaluation import perplexity

    console.print(f"[bold]{evaluation.samples:,} held-out samples[/] of {evaluation.source} "
                  f"({evaluation.trained_tokens:,} trained tokens)")
    table = Table(box=None, header_style="bold")
    table.add_column("")
    table.add_column("loss", justify="right")
    table.add_column("perplexity", justify="right")
    if answers is not None:
        table.add_column("right answers", justify="right")
    for label, loss, which in (("base", evaluation.base_loss, "base"),
                               ("adapter", evaluation.adapter_loss, "adapter")):
        cells = [label, f"{loss:.4f}", f"{perplexity(loss):,.2f}"]
        if answers is not None:
            accuracy = answers.accuracy(which)
            cells.append("—" if accuracy is None else
                         f"{accuracy:.0%} of {len(answers.answers)}")
        table.add_row(*cells)
    console.print(table)
    if answers is None or not answers.answers or examples <= 0:
        return
    console.print("[bold]greedy answers[/]")
    shown = Table(box=None, header_style="bold")
    for column in ("prompt (its end)", "expected", "base", "adapter"):
        shown.add_column(column, overflow="fold")
    for answer in answers.answers[:examples]:
        prompt = answer.prompt if len(answer.prompt) <= 40 else "…" + answer.prompt[-39:]
        shown.add_row(repr(prompt), repr(answer.expected), repr(answer.base or ""),
                      repr(answer.adapter))
    console.print(shown)

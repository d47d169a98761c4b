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
        print(json.dumps(record, indent=2), file=args.results)
        return 0
    from rich.console import Console

    from loraforge.after.display import print_evaluation

    print_evaluation(Console(highlight=False), evaluation, answers, examples=args.examples)
    return 0

"""``loraforge generate RUN_DIR``: answers from a trained adapter, for scripts.

``--prompt TEXT`` puts the text where the run's formatter takes a typed
message (the template's first column, the instruction, the user turn);
``--file PROMPTS.jsonl`` gives whole rows, one JSON object a line, as the
training data has them (the completion's columns may be left out). Every
prompt is rendered and checked before the model answers the first, so bad
input writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys

from loraforge.cli.run_dir_args import (
    add_run_arguments,
    add_sampling_arguments,
    open_trained,
    output_file,
    sampling_from_args,
)
from loraforge.errors import DataError, OutputError


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "generate", parents=[common], help="generate answers with a trained adapter",
        description="Answer prompts with the run's adapter, each prompt formatted by the "
        "run's formatter as in training. With --prompt alone, the answer is printed as it is "
        "written; with --file, --json, --out or --compare, one JSON object per prompt (prompt, "
        "completion, tokens, stopped: eos or length, and the base's answer with --compare).",
    )
    add_run_arguments(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", metavar="TEXT", help="one message, as a user would type it")
    source.add_argument("--file", metavar="PROMPTS.jsonl",
                        help="rows for the run's formatter, one JSON object a line")
    parser.add_argument("--out", metavar="FILE",
                        help="write the JSON lines to FILE (once all are written) instead of stdout")
    parser.add_argument("--json", action="store_true", help="print JSON lines also for --prompt")
    add_sampling_arguments(parser, max_new_tokens=128)
    parser.set_defaults(handler=handle, prints_json=prints_json)


def plain(args: argparse.Namespace) -> bool:
    """Whether the answer is printed as text, as it is written (``--prompt`` alone)."""
    return args.prompt is not None and not (args.json or args.out or args.compare)


def prints_json(args: argparse.Namespace) -> bool:
    """Whether standard output is JSON lines for a tool to read."""
    return not plain(args) and args.out is None


def handle(args: argparse.Namespace) -> int:
    from loraforge.after.generation import complete
    from loraforge.after.prompts import message_row, read_rows, render
    from loraforge.engine.outputs import write_atomic

    sampling = sampling_from_args(args)
    out = output_file(args.out, "--out", "answers.jsonl")
    rows = None if args.file is None else list(read_rows(args.file))
    if rows == []:
        raise DataError(f"{args.file} holds no rows", where="--file",
                        hint='Write one JSON object a line, e.g. {"text": "A fine film."}.')
    trained = open_trained(args)
    formatter, tokenizer = trained.formatter, trained.tokenizer
    if rows is None:
        prompts = [(None, render(formatter, message_row(formatter, args.prompt), tokenizer))]
    else:
        prompts = [(line, render(formatter, row, tokenizer, where=f"{args.file}, line {line}"))
                   for line, row in rows]
    if plain(args):
        completion = complete(trained.model, tokenizer, prompts[0][1].ids, sampling,
                              on_text=lambda text: print(text, end="", flush=True))
        print(flush=True)
        return 0
    lines = []
    for line, prompt in prompts:
        entry = {"line": line} if line is not None else {}
        entry["prompt"] = prompt.text
        which = [("base", True)] if args.compare else []
        for key, base in [("adapter", False), *which]:
            completion = complete(trained.model, tokenizer, prompt.ids, sampling, base=base)
            answer = {"completion": completion.text, "tokens": completion.tokens,
                      "stopped": completion.stopped}
            if key == "adapter":
                entry.update(answer)
            else:
                entry["base"] = answer
        text = json.dumps(entry, ensure_ascii=False)
        lines.append(text)
        if args.out is None:
            print(text, file=args.results, flush=True)
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(out, "".join(line + "\n" for line in lines))
        except OSError as exc:
            raise OutputError(f"cannot write {out}: {exc.strerror or exc}", where="--out") from None
        print(f"wrote {len(lines)} answer{'s' if len(lines) != 1 else ''} to {out}",
              file=sys.stderr)
    return 0

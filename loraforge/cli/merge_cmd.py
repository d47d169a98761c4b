"""``loraforge merge RUN_DIR OUT_DIR``: the adapter merged into its base, as a stock checkpoint."""

from __future__ import annotations

import argparse

from loraforge.cli.run_dir_args import add_run_arguments


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "merge", parents=[common], help="merge the adapter into its base model",
        description="Write a standalone model (safetensors shards, tokenizer, generation config, "
        "model card) that AutoModelForCausalLM loads without loraforge or peft. The base's "
        "full-precision weights are read shard by shard, never its 8-bit or 4-bit form, so RAM "
        "use stays near the largest shard.",
    )
    add_run_arguments(parser)
    parser.add_argument("out_dir", metavar="OUT_DIR", help="where to write the merged model "
                        "(a new or empty folder)")
    parser.add_argument("--dtype", metavar="{float16,bfloat16,float32}", default="auto",
                        help="how to store the merged weights (default auto: as the base "
                        "stores them)")
    parser.add_argument("--max-shard-size", default="2GB", metavar="SIZE", type=size_in_bytes,
                        help="largest safetensors file to write, e.g. 500MB or 5GB (default 2GB); "
                        "the merge needs about twice this in RAM")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the model an earlier merge wrote in OUT_DIR (a folder "
                        "of other files is refused)")
    parser.add_argument("--rounded-base", action="store_true",
                        help="for a run trained on an 8-bit or 4-bit base: merge into the base "
                        "weights rounded as that run saw them (see docs/after-training.md)")
    parser.set_defaults(handler=handle)


def size_in_bytes(text: str) -> int:
    """``500MB``, ``2GB`` or a number of bytes, as an int."""
    units = {"KB": 1024, "MB": 1024**2, "GB": 1024**3}
    number, unit = text.strip().upper(), 1
    for suffix, factor in units.items():
        if number.endswith(suffix):
            number, unit = number[: -len(suffix)], factor
    try:
        size = int(float(number) * unit)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500MB or 2GB)") from None
    if size <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return size


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console

    from loraforge.after.merge import check_dtype, merge_run
    from loraforge.after.runs import open_run

    check_dtype(args.dtype)
    console = Console(stderr=True, highlight=False)
    run = open_run(args.run_dir)
    result = merge_run(
        run, args.out_dir, dtype=args.dtype, overwrite=args.overwrite, base=args.base,
        rounded=args.rounded_base, max_shard_bytes=args.max_shard_size,
        on_shard=lambda number, of, name: console.print(f"[dim]merged {name} ({number}/{of})[/]"),
    )
    into = f" (into the {result.rounded}-rounded base)" if result.rounded else ""
    console.print(f"[green]✓[/] merged {result.merged} weights of {result.base}{into} with the "
                  f"adapter of {run.name}, as {result.dtype}")
    print(f"merged model saved in {result.out_dir}")
    return 0

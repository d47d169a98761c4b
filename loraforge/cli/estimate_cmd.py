"""``loraforge estimate RECIPE [--gpu NAME] [--vram GIB]``: will it fit? Peak memory by component.

Then a table of common cards with what is left on each, and, when the
recipe does not fit the chosen card (this machine's, ``--gpu`` or
``--vram``), the cheapest changes that make it fit, each with its estimate
and the ``--set`` arguments that apply it. Exit code 1 when it does not fit.
"""

from __future__ import annotations

import argparse
import json

from loraforge.cli.recipe_args import add_recipe_arguments, loaded_plugins, recipe_from_args


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "estimate", parents=[common], help="estimate the GPU memory a recipe's training needs",
        description="Estimate the peak GPU memory of training the recipe, by component, from "
        "the model's config alone, and check it against GPUs.",
    )
    add_recipe_arguments(parser)
    parser.add_argument("--gpu", metavar="NAME", help='the card to check, e.g. "RTX 3060"')
    parser.add_argument("--vram", type=float, metavar="GIB", help="the card's memory, in GiB")
    parser.add_argument("--json", action="store_true", help="print JSON for tools")
    parser.set_defaults(handler=handle)


def target(args: argparse.Namespace):
    """The card to check: --vram, --gpu, this machine's GPU, or none."""
    from loraforge.errors import LoraforgeError
    from loraforge.estimate.gpus import GPU, find_gpu, this_machine

    if args.vram is not None:
        if not 0 < args.vram < 10_000:
            raise LoraforgeError(f"--vram {args.vram} is not a card's memory in GiB",
                                 where="--vram", hint="For example --vram 12.")
        return GPU(f"{args.vram:g} GiB card", args.vram)
    if args.gpu:
        return find_gpu(args.gpu)
    return this_machine()


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from loraforge.engine.quiet import quiet_libraries
    from loraforge.estimate import GPUS, estimate, fixes, size_text

    recipe = recipe_from_args(args)
    plugins = loaded_plugins()
    card = target(args)  # an unknown --gpu is said before anything is built
    with quiet_libraries():
        result = estimate(recipe, plugins=plugins)
        suggested = (fixes(recipe, card.bytes, plugins=plugins)
                     if card is not None and result.total > card.bytes else [])
    if args.json:
        print(json.dumps({
            **result.to_dict(),
            "gpu": None if card is None else {"name": card.name, "bytes": card.bytes,
                                              "fits": result.total <= card.bytes},
            "cards": [{"name": g.name, "bytes": g.bytes, "left_bytes": result.left_on(g.bytes)}
                      for g in GPUS],
            "fixes": [{"label": f.label, "set": f.overrides, "total_bytes": f.estimate.total}
                      for f in suggested],
        }, indent=2), file=args.results)
        return 1 if card is not None and result.total > card.bytes else 0
    console = Console(highlight=False)
    table = Table(title=f"peak memory of training, batch {result.batch_size} × "
                        f"{result.seq_len} tokens ({result.device})",
                  title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column("component")
    table.add_column("memory", justify="right")
    table.add_column("how it is counted")
    for part in result.parts:
        table.add_row(part.name, size_text(part.bytes), part.note)
    table.add_row("[bold]total[/]", f"[bold]{size_text(result.total)}[/]", "")
    console.print(table)
    cards = Table(title="on common cards", title_justify="left", box=None, padding=(0, 2, 0, 0))
    for column in ("card", "memory", "left"):
        cards.add_column(column, justify="left" if column == "card" else "right")
    for gpu in GPUS:
        left = result.left_on(gpu.bytes)
        cards.add_row(gpu.name, f"{gpu.memory_gib:g} GiB",
                      size_text(left) if left >= 0 else f"[red]short by {size_text(-left)}[/]")
    console.print(cards)
    if card is None:
        console.print("No GPU on this machine: --gpu NAME or --vram GIB checks against a card.")
        return 0
    left = result.left_on(card.bytes)
    if left >= 0:
        console.print(f"[green]✓[/] fits the {card.name} with {size_text(left)} left")
        return 0
    console.print(f"[red]✗[/] does not fit the {card.name}: short by {size_text(-left)}")
    for fix in suggested:
        console.print(f"  • {fix.label}: {size_text(fix.estimate.total)}  "
                      f"(--set {' --set '.join(fix.overrides)})")
    if not suggested:
        console.print("  none of gradient checkpointing, batch 1, 4-bit weights or a shorter "
                      "max_length is enough: a smaller model or a larger card is needed")
    return 1

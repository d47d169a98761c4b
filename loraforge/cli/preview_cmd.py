"""``loraforge preview RECIPE``: the samples as the model will see them, and the data's numbers."""

from __future__ import annotations

import argparse

from loraforge.cli.recipe_args import (
    add_recipe_arguments,
    loaded_plugins,
    recipe_from_args,
    warn_remote_code,
)


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "preview", parents=[common], help="show formatted samples and data statistics",
        description="Load the tokenizer (not the model), format and tokenize the data as a run "
        "would, and print the first samples with the trained tokens highlighted, then the "
        "numbers over all rows.",
    )
    add_recipe_arguments(parser)
    parser.add_argument("-n", "--samples", type=int, default=3, metavar="N",
                        help="how many samples to show (default 3)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.rule import Rule

    from loraforge.engine.preview import MASKED, TRAINED, build_preview, sample_text, stats_table
    from loraforge.engine.quiet import quiet_libraries
    from loraforge.plan import bind

    recipe = recipe_from_args(args)
    plan = bind(recipe, loaded_plugins())
    warn_remote_code(recipe)
    quiet_libraries()  # the preview is the output: no progress bars around it
    preview = build_preview(plan, max(0, args.samples))

    console = Console(highlight=False)
    # without colour (a pipe, a log file) trained text is marked ⟦like this⟧ instead
    marks = console.color_system is None
    legend = "⟦trained⟧, masked" if marks else f"[{TRAINED}]trained[/], [{MASKED}]masked[/]"
    for number, sample in enumerate(preview.samples, start=1):
        console.print(Rule(f"sample {number} · {len(sample['input_ids'])} tokens", align="left"))
        console.print(sample_text(sample, preview.tokenizer, marks=marks))
    console.print(Rule(f"tokens: {legend}", align="left"))
    console.print(stats_table(preview))
    return 0

"""``loraforge inspect RECIPE`` (or ``--model PATH``): what the model is and what LoRA would train.

From ``config.json`` alone (the model is built on the meta device): the
architecture, parameters, layers, width, vocabulary and dtype; the linear
modules by leaf name with their shapes; and for the recipe's target
selection and each built-in selector, the trainable parameters, their share
and the adapter's size.
"""

from __future__ import annotations

import argparse
import json

from loraforge.cli.recipe_args import loaded_plugins
from loraforge.errors import LoraforgeError


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "inspect", parents=[common], help="show the model and what LoRA would train in it",
        description="Read the model's config.json (no weights) and show its modules and, for "
        "each target selection, how many parameters LoRA trains.",
    )
    parser.add_argument("recipe", nargs="?", help="a recipe .toml file")
    parser.add_argument("--model", metavar="PATH", help="a checkpoint folder, instead of a recipe")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.FIELD=VALUE", help="override a recipe field (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON for tools")
    parser.set_defaults(handler=handle)


def recipe_of(args: argparse.Namespace):
    """The recipe named, or one for ``--model PATH`` (its loader detected from the config)."""
    from loraforge.recipe import load_recipe, recipe_from_dict

    if args.recipe and args.model:
        raise LoraforgeError("give a recipe or --model, not both", where="--model")
    if args.recipe:
        return load_recipe(args.recipe, args.overrides)
    if not args.model:
        raise LoraforgeError("nothing to inspect", where="RECIPE",
                             hint="Give a recipe, or --model PATH for a checkpoint folder.")
    from loraforge.recipe import apply_overrides

    data = {"model": {"path": args.model}, "data": {"path": "data.jsonl"}}
    apply_overrides(data, args.overrides)
    return recipe_from_dict(data)


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from loraforge.engine.quiet import quiet_libraries
    from loraforge.estimate import size_text
    from loraforge.modelinfo import facts, model_config, selections
    from loraforge.plan import bind

    recipe = recipe_of(args)
    plugins = loaded_plugins()
    with quiet_libraries():
        plan = bind(recipe, plugins)
        config = model_config(plan)
        found = facts(config)
        chosen = selections(plan, config, plugins.registry)
    if args.json:
        print(json.dumps({
            "architecture": found.architecture, "model_type": found.model_type,
            "parameters": found.parameters, "layers": found.layers,
            "hidden_size": found.hidden_size, "vocab_size": found.vocab_size,
            "dtype": found.dtype,
            "linear": [{"name": g.name, "count": g.count, "shapes": g.shapes,
                        "parameters": g.parameters} for g in found.linear],
            "selections": [{"selector": s.selector, "targets": s.targets, "modules": s.modules,
                            "trainable": s.trainable, "total": s.total, "share": s.share,
                            "adapter_bytes": s.adapter_bytes} for s in chosen],
        }, indent=2), file=args.results)
        return 0
    console = Console(highlight=False)
    console.print(f"[bold]{found.summary()}[/]  ({found.parameters:,} parameters)")
    modules = Table(title="linear modules", title_justify="left", box=None, padding=(0, 2, 0, 0))
    for column in ("module", "count", "in → out", "parameters"):
        modules.add_column(column, justify="right" if column != "module" else "left")
    for group in found.linear:
        shapes = ", ".join(f"{a:,} → {b:,}" for a, b in group.shapes)
        modules.add_row(group.name, str(group.count), shapes, f"{group.parameters:,}")
    console.print(modules)
    table = Table(title="what LoRA trains (r = "f"{recipe.lora.r})", title_justify="left",
                  box=None, padding=(0, 2, 0, 0))
    for column in ("selector", "targets", "modules", "trainable", "share", "adapter"):
        table.add_column(column, justify="left" if column in ("selector", "targets") else "right")
    for number, item in enumerate(chosen):
        name = item.selector + (" (recipe)" if number == 0 else "")
        table.add_row(name, ", ".join(item.targets), str(item.modules), f"{item.trainable:,}",
                      f"{item.share:.3%}", size_text(item.adapter_bytes))
    console.print(table)
    return 0

"""What the wizard shows about a recipe while it is written, from loraforge's public functions.

Each function here runs in a worker thread (it may load a tokenizer, read
data or build a model on the meta device) and returns rich renderables or
plain numbers; the steps only place them. Nothing heavy is imported until a
function is called.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loraforge.errors import LoraforgeError, RecipeError

_tokenizers: dict[str, Any] = {}
_lock = threading.Lock()


def problem_text(exc: BaseException) -> str:
    """An error as the command line's panel words it, in one paragraph."""
    if isinstance(exc, RecipeError):
        return "\n".join(exc.problems) + (f"\n{exc.hint}" if exc.hint else "")
    if isinstance(exc, LoraforgeError):
        where = f"{exc.where}: " if exc.where else ""
        return f"{where}{exc.message}" + (f"\n{exc.hint}" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"


def tokenizer_for(plan: Any) -> Any:
    """The plan's tokenizer, loaded once per loader, options and model."""
    from loraforge.engine.model import model_spec
    from loraforge.registry import component_errors

    spec = model_spec(plan)
    key = repr((type(plan.loader).__name__, plan.loader.options.model_dump(), spec.path,
                spec.revision, spec.trust_remote_code))
    with _lock:
        if key not in _tokenizers:
            with component_errors(plan.loader, "load_tokenizer"):
                _tokenizers[key] = plan.loader.load_tokenizer(spec)
        return _tokenizers[key]


def data_preview(recipe: Any, plugins: Any, count: int,
                 progress: Callable[[int, int], None] | None = None) -> tuple[list[Any], int]:
    """``loraforge preview``'s output (the first samples as the model sees them, then the
    numbers), and how many samples the data makes."""
    from rich.rule import Rule

    from loraforge.engine.preview import build_preview, sample_text, stats_table
    from loraforge.engine.quiet import quiet_libraries
    from loraforge.plan import bind

    plan = bind(recipe, plugins)
    with quiet_libraries():
        preview = build_preview(plan, count, tokenizer_for(plan), progress)
    shown: list[Any] = []
    for number, sample in enumerate(preview.samples, start=1):
        shown.append(Rule(f"sample {number} · {len(sample['input_ids'])} tokens", align="left"))
        shown.append(sample_text(sample, preview.tokenizer, marks=False))
    shown.append(Rule("tokens: [bold green]trained[/], [grey50]masked[/]", align="left"))
    shown.append(stats_table(preview))
    return shown, preview.stats.samples


def training_plan(recipe: Any, samples: int | None) -> str:
    """The effective batch, and how many optimizer steps the run will take."""
    train = recipe.train
    effective = train.batch_size * train.grad_accum
    line = (f"effective batch {effective} ({train.batch_size} × {train.grad_accum} "
            "accumulation, per GPU)")
    if train.max_steps:
        return f"{line}; {train.max_steps:,} optimizer steps (max steps)"
    if samples:
        per_epoch = max(1, -(-samples // effective))
        total = max(1, round(per_epoch * train.epochs))
        return (f"{line}; {per_epoch:,} steps an epoch over {samples:,} samples, "
                f"{total:,} steps in {train.epochs:g} epoch{'s' if train.epochs != 1 else ''}")
    return f"{line}; the steps follow from the number of samples (see the Data step)"



def model_summary(recipe: Any, plugins: Any) -> str:
    """What the model is, from its config.json (the model built on the meta device)."""
    from loraforge.engine.quiet import quiet_libraries
    from loraforge.modelinfo import facts, model_config
    from loraforge.plan import bind

    with quiet_libraries():
        found = facts(model_config(bind(recipe, plugins)))
    return found.summary()


def targets_summary(recipe: Any, plugins: Any) -> str:
    """What the recipe's LoRA would train: the modules it hits, and the trainable count."""
    from loraforge.engine.quiet import quiet_libraries
    from loraforge.estimate import size_text
    from loraforge.modelinfo import model_config, module_ranges, selection
    from loraforge.plan import bind

    with quiet_libraries():
        plan = bind(recipe, plugins)
        chosen = selection(plan, model_config(plan))
    lines = [f"{chosen.trainable:,} trainable parameters of {chosen.total:,} "
             f"({chosen.share:.3%}); the adapter file is about "
             f"{size_text(chosen.adapter_bytes)}",
             f"LoRA on {', '.join(chosen.targets)}: {chosen.modules} modules"]
    lines += [f"  {name}" for name in module_ranges(chosen.module_names)]
    return "\n".join(lines)


_bitsandbytes: dict[str, tuple[bool, str]] = {}


def quantization_note(quantization: str) -> str | None:
    """A warning when bitsandbytes cannot train ``quantization`` layers on this machine."""
    import torch

    from loraforge.cli.doctor_cmd import bitsandbytes_runs

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if quantization not in _bitsandbytes:
        _bitsandbytes[quantization] = bitsandbytes_runs(quantization, device)
    works, why = _bitsandbytes[quantization]
    if not works:
        return f"bitsandbytes cannot run {quantization} layers here: {why}"
    if device == "cpu":
        return (f"no GPU on this machine: {quantization} layers run on the CPU here, slowly; "
                "quantization is meant for a GPU")
    return None


def known_gpus() -> list[str]:
    from loraforge.estimate import GPUS

    return [gpu.name for gpu in GPUS]


def fit_report(recipe: Any, plugins: Any, gpu: str | None) -> tuple[Any, list]:
    """The estimate by component against a card, and the fixes when it does not fit.

    The fixes are ``(label, {(section, field): value})``, numbered in the report.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from loraforge.engine.quiet import quiet_libraries
    from loraforge.estimate import estimate, find_gpu, fixes, size_text
    from loraforge.estimate.gpus import this_machine

    with quiet_libraries():
        result = estimate(recipe, plugins=plugins)
        card = find_gpu(gpu) if gpu else this_machine()
        suggested = (fixes(recipe, card.bytes, plugins=plugins)
                     if card is not None and result.total > card.bytes else [])
    table = Table(box=None, padding=(0, 2, 0, 0), show_header=False)
    table.add_column()
    table.add_column(justify="right")
    for part in result.parts:
        table.add_row(part.name, size_text(part.bytes))
    table.add_row("total", size_text(result.total), style="bold")
    lines = [table]
    if card is None:
        lines.append(Text("No GPU on this machine: choose a card above to check against."))
    elif result.total <= card.bytes:
        lines.append(Text(f"✓ fits the {card.name} with {size_text(card.bytes - result.total)} left",
                          style="green"))
    else:
        lines.append(Text(f"✗ does not fit the {card.name}: short by "
                          f"{size_text(result.total - card.bytes)}", style="red"))
        for number, fix in enumerate(suggested, start=1):
            lines.append(Text(f"  {number}: {fix.label} → {size_text(fix.estimate.total)}"))
        if not suggested:
            lines.append(Text("  no change here is enough: a smaller model or a larger card"))
    return Group(*lines), [(fix.label, fix.changes) for fix in suggested]

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


def known_gpus() -> list[str]:
    return []


def quantization_note(quantization: str) -> str | None:
    return None


def model_summary(recipe: Any, plugins: Any) -> str:
    raise LoraforgeError("the model summary is not available yet")


def targets_summary(recipe: Any, plugins: Any) -> str:
    raise LoraforgeError("the trainable count is not available yet")


def fit_report(recipe: Any, plugins: Any, gpu: str | None) -> tuple[Any, list]:
    raise LoraforgeError("the estimate is not available yet")

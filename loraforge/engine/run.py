"""One run of a recipe, from plugins to saved adapter."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loraforge.components import RunInfo
from loraforge.engine import outputs
from loraforge.plan import Plan, bind
from loraforge.plugins import Plugins, get_plugins
from loraforge.recipe import Recipe


@dataclass
class RunResult:
    """What a finished run reports."""

    output_dir: Path
    global_step: int
    train_loss: float
    trainable_parameters: int
    runtime_s: float
    model: Any = field(default=None, repr=False)
    """The trained peft model, still in memory."""
    tokenizer: Any = field(default=None, repr=False)


def quiet_libraries() -> None:
    """Keep the libraries' own progress bars and internal notices out of a run's output."""
    import logging
    import warnings

    # a note about an optional 4-bit CPU kernel, logged when peft imports bitsandbytes
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()


def say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[bold cyan]›[/] {message}")


def run_recipe(recipe: Recipe, *, plugins: Plugins | None = None, overwrite: bool = False) -> RunResult:
    """Train a LoRA adapter as ``recipe`` says and save it in the output directory."""
    plan = bind(recipe, plugins or get_plugins())
    return run_plan(plan, overwrite=overwrite)


def run_plan(plan: Plan, *, overwrite: bool = False) -> RunResult:
    from loraforge.engine.data import check_columns, load_rows, tokenize
    from loraforge.engine.model import prepare_model
    from loraforge.engine.train import build_trainer

    quiet_libraries()
    recipe = plan.recipe
    started = time.time()
    # data first, before anything is written or loaded: a wrong column name
    # should not wait for a 7B model to load, nor cost a previous run's files
    data_path = recipe.input_path(recipe.data.path)
    rows = load_rows(data_path)
    check_columns(rows, plan.formatter, str(data_path))

    output_dir = outputs.prepare_output_dir(recipe, overwrite)
    outputs.write_atomic(output_dir / "recipe.toml", recipe.to_toml())
    record = {
        "recipe": recipe.source,
        "components": plan.components,
        "started_at": outputs.now(),
        "finished_at": None,
        **outputs.versions({n: i.version for n, i in plan.plugin_info.items()}),
    }
    outputs.write_run(output_dir, record)

    say(f"loading model with the {plan.components['model.loader']} loader")
    prepared = prepare_model(plan)
    say(
        f"LoRA r={recipe.lora.r} on {', '.join(prepared.targets)}: "
        f"{prepared.trainable_parameters:,} trainable of {prepared.total_parameters:,} parameters "
        f"({100 * prepared.trainable_parameters / prepared.total_parameters:.2f}%)"
    )
    dataset = tokenize(
        rows, plan.formatter, prepared.tokenizer,
        recipe.data.max_length, source=str(data_path),
    )
    say(f"{len(dataset):,} samples from {data_path.name}")

    info = RunInfo(
        output_dir=str(output_dir),
        max_steps=recipe.train.max_steps or 0,
        epochs=recipe.train.epochs,
        trainable_parameters=prepared.trainable_parameters,
        total_parameters=prepared.total_parameters,
    )
    trainer = build_trainer(
        prepared.model, prepared.tokenizer, dataset, recipe.train, output_dir,
        plan.callbacks, info,
    )
    result = trainer.train()
    if trainer.is_world_process_zero():
        outputs.save_adapter(prepared.model, prepared.tokenizer, output_dir)
    run = RunResult(
        output_dir=output_dir,
        global_step=result.global_step,
        train_loss=float(result.training_loss),
        trainable_parameters=prepared.trainable_parameters,
        runtime_s=round(time.time() - started, 2),
        model=prepared.model,
        tokenizer=prepared.tokenizer,
    )
    record.update(
        finished_at=outputs.now(),
        targets=prepared.targets,
        quantized=prepared.quantized,
        trainable_parameters=run.trainable_parameters,
        total_parameters=prepared.total_parameters,
        samples=len(dataset),
        global_step=run.global_step,
        train_loss=run.train_loss,
        runtime_s=run.runtime_s,
        trainer_metrics=result.metrics,
    )
    if trainer.is_world_process_zero():
        outputs.write_run(output_dir, record)
        summary = {"output_dir": str(output_dir), "global_step": run.global_step,
                   "train_loss": run.train_loss, "runtime_s": run.runtime_s}
        for callback in plan.callbacks:
            callback.on_end(summary)
    return run


"""One run of a recipe, from plugins to saved adapter."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loraforge.engine import outputs
from loraforge.engine.quiet import quiet_libraries
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


def say(message: str) -> None:
    from rich.console import Console

    from loraforge.engine.environment import is_main_process

    if not is_main_process():  # under torchrun, one voice is enough
        return

    # soft wrap: a line in a log file stays one line, whatever the width
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold cyan]›[/] {message}")


def evaluate_final(trainer: Any) -> dict[str, Any]:
    """The held-out loss after each epoch, and of the final adapter if no epoch ended on it."""
    def evaluations() -> list[dict[str, Any]]:
        return [entry for entry in trainer.state.log_history if "eval_loss" in entry]

    if not evaluations() or evaluations()[-1].get("step") != trainer.state.global_step:
        trainer.evaluate()  # on every process: evaluation is collective under torchrun
    return {"evaluations": evaluations(), "eval_metrics": evaluations()[-1]}


def run_recipe(recipe: Recipe, *, plugins: Plugins | None = None, overwrite: bool = False,
               resume: bool = False, force_resume: bool = False) -> RunResult:
    """Train a LoRA adapter as ``recipe`` says and save it in the output directory."""
    plan = bind(recipe, plugins or get_plugins())
    return run_plan(plan, overwrite=overwrite, resume=resume, force_resume=force_resume)


def run_plan(plan: Plan, *, overwrite: bool = False, resume: bool = False,
             force_resume: bool = False) -> RunResult:
    """Train and save; ``resume`` continues from the newest complete checkpoint, if any.

    ``force_resume`` resumes even when the recipe's training settings or the
    data changed since the checkpoint. Stopped by SIGINT or SIGTERM, the run
    saves a checkpoint and raises :class:`loraforge.engine.signals.RunInterrupted`.
    """
    quiet_libraries()  # before the imports below load bitsandbytes
    from transformers import set_seed

    from loraforge.after.report import loss_png_after_run
    from loraforge.engine import batches
    from loraforge.engine.data import check_columns, prepare
    from loraforge.engine.fingerprints import base_model_record
    from loraforge.engine.model import prepare_model
    from loraforge.engine.session import new_session, open_run
    from loraforge.engine.sources import load_splits
    from loraforge.engine.train import training_arguments

    recipe = plan.recipe
    started = time.time()
    # data first, before anything is written or loaded: a wrong column name
    # should not wait for a 7B model to load, nor cost a previous run's files
    splits = load_splits(recipe)
    check_columns(splits.train.dataset, plan.formatter, splits.train.name)

    # creating the arguments starts the process group under torchrun, which
    # preparing the output directory (process 0 first) relies on
    evaluate = recipe.data.eval_split is not None or recipe.data.eval_fraction is not None
    args = training_arguments(recipe.train, outputs.output_path(recipe),
                              **batches.training_arguments(recipe.data, evaluate=evaluate))
    # a checkpoint trained with other settings is refused here, before the model loads
    start, record = open_run(plan, args, overwrite=overwrite, resume=resume or force_resume,
                             force=force_resume)
    output_dir = start.output_dir
    if start.note:
        say(start.note)

    # a loader's own random draws, if any, repeat too; the adapter's initial weights are
    # seeded again right before LoRA is applied (prepare_model)
    set_seed(recipe.train.seed)
    say(f"loading model with the {plan.components['model.loader']} loader")
    prepared = prepare_model(plan)
    say(
        f"LoRA r={recipe.lora.r} on {', '.join(prepared.targets)}: "
        f"{prepared.trainable_parameters:,} trainable of {prepared.total_parameters:,} parameters "
        f"({100 * prepared.trainable_parameters / prepared.total_parameters:.2f}%)"
    )
    data = prepare(splits, plan.formatter, prepared.tokenizer, recipe.data)
    for line in data.log_lines(splits.train.name):
        say(line)
    record["data"] = data.record()
    record["base_model"] = base_model_record(prepared.model)  # chat, eval, merge check it
    dataset = data.train

    session, changes = new_session(plan, args, start, record, dataset, prepared,
                                   force_resume=force_resume, started=started)
    if start.checkpoint is not None:
        say(f"resuming from {start.checkpoint.path} (step {start.step})")
    if changes:
        say(f"--force-resume: continuing although {'; '.join(changes)}")
    result = session.train(prepared.model, prepared.tokenizer, dataset,
                           collator=batches.collator(recipe.data, prepared.tokenizer),
                           eval_dataset=data.eval)
    trainer = session.trainer
    if data.eval is not None:
        record.update(evaluate_final(trainer))
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
        status="finished",
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
        session.finish(summary)
        if (problem := loss_png_after_run(output_dir)) is not None:
            say(problem)
    return run


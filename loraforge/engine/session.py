"""One call of the Trainer, kept safe, and how a run that does not finish is closed.

Around ``Trainer.train`` sit the callbacks that make checkpoints complete,
stop on a signal and check the first step's gradients. When the run does
not finish (a signal, running out of memory, any error), process 0 records
why in run.json and sends ``on_end`` with that status to the loraforge
callbacks that began, so a progress bar comes down and metrics.jsonl gets
its closing line; then the error goes on to the caller.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from loraforge.components import RunInfo, TrainingCallback
from loraforge.engine import checkpoints
from loraforge.engine.checkpoints import TrainingStamp, checkpoint_callback
from loraforge.engine.environment import is_main_process
from loraforge.engine.guards import guard_callback, out_of_memory_error, out_of_memory_types
from loraforge.engine.outputs import now, write_atomic, write_run
from loraforge.engine.resume import StartPoint
from loraforge.engine.signals import RunInterrupted, StopRequest, stop_callback
from loraforge.engine.train import build_trainer, callback_bridge, use_cpu
from loraforge.errors import LoraforgeError
from loraforge.recipe import Recipe


@dataclass
class TrainingSession:
    """What one training call needs besides the model and the data."""

    recipe: Recipe
    args: Any
    """The TrainingArguments."""
    start: StartPoint
    stamp: TrainingStamp
    info: RunInfo
    callbacks: list[TrainingCallback]
    record: dict[str, Any]
    """run.json as it stands; updated and written when the run stops early."""
    started: float = field(default_factory=time.time)
    trainer: Any = None
    bridge: Any = None

    def train(self, model: Any, tokenizer: Any, dataset: Any, *, collator: Any,
              eval_dataset: Any = None):
        """Train, from the start point's checkpoint if any; returns the Trainer's TrainOutput.

        Raises :class:`RunInterrupted` after a signal (with a checkpoint
        saved), a :class:`TrainingError` for running out of memory or for no
        gradient, and whatever else went wrong, each after closing the run.
        """
        recipe, train = self.recipe, self.recipe.train
        stop = StopRequest()
        guards = guard_callback(recipe, use_cpu(train))
        self.bridge = callback_bridge(self.callbacks, self.info)
        trainer_callbacks = [
            checkpoint_callback(self.stamp, keep=train.save_total_limit,
                                every_epoch=train.save_every_epoch),
            guards,
            stop_callback(stop),
            self.bridge,  # last: callbacks hear of a checkpoint once it is complete
        ]
        resume_from = self.start.checkpoint
        try:
            self.trainer = build_trainer(model, tokenizer, dataset, self.args, trainer_callbacks,
                                         collator=collator, eval_dataset=eval_dataset)
            if resume_from is not None and resume_from.step >= planned_steps(self.trainer):
                result = self._nothing_left_to_train(resume_from)
            else:
                with stop.listening():
                    result = self.trainer.train(
                        resume_from_checkpoint=str(resume_from.path) if resume_from else None
                    )
                result = whole_run_loss(result, self.trainer.state.log_history, self.start.step)
            step = self.trainer.state.global_step
            if stop.requested and step < self.trainer.state.max_steps:
                saved = checkpoints.newest(self.start.output_dir)
                raise RunInterrupted(stop.signum, step, saved.path if saved else None,
                                     self.start.output_dir)
        except out_of_memory_types() as exc:
            error = out_of_memory_error(
                recipe, guards.step, checkpoints.newest(self.start.output_dir), exc
            )
            self._close("failed", error)
            raise error from None
        except BaseException as exc:
            interrupted = isinstance(exc, (RunInterrupted, KeyboardInterrupt))
            self._close("interrupted" if interrupted else "failed", exc)
            raise
        return result

    def _nothing_left_to_train(self, checkpoint: checkpoints.Checkpoint):
        """The checkpoint is at (or past) the last step: take its adapter as the result.

        The Trainer would run one more step before noticing there is
        nothing left to do (a run killed between its last checkpoint and
        saving the adapter, or resumed with a smaller max_steps).
        """
        from transformers.trainer_utils import TrainOutput

        trainer = self.trainer
        trainer._load_from_checkpoint(str(checkpoint.path))
        state = trainer.state
        state.global_step, state.max_steps = checkpoint.step, checkpoint.step
        state.is_world_process_zero = trainer.is_world_process_zero()
        self.bridge.on_train_begin(trainer.args, state, trainer.control)
        history = json.loads((checkpoint.path / "trainer_state.json").read_text(encoding="utf-8"))
        return whole_run_loss(TrainOutput(checkpoint.step, 0.0, {}),
                              history.get("log_history", []), checkpoint.step)

    def finish(self, summary: dict[str, Any]) -> None:
        """Send ``on_end`` to the loraforge callbacks after a finished run."""
        if self.bridge is not None:
            self.bridge.finish({"status": "finished", **summary})

    def _close(self, status: str, exc: BaseException) -> None:
        if not is_main_process():
            return
        step = self.trainer.state.global_step if self.trainer is not None else self.start.step
        saved = checkpoints.newest(self.start.output_dir)
        summary: dict[str, Any] = {
            "status": status,
            "global_step": step,
            "runtime_s": round(time.time() - self.started, 2),
            "checkpoint": str(saved.path) if saved else None,
        }
        if status == "failed":
            summary["error"] = (
                exc.message if isinstance(exc, LoraforgeError) else f"{type(exc).__name__}: {exc}"
            )
        self.record.update(summary, stopped_at=now())
        try:
            write_run(self.start.output_dir, self.record)
        except OSError:
            pass  # a full disk must not hide the error that stopped the run
        if self.bridge is not None:
            self.bridge.finish(summary, failing=True)


def whole_run_loss(result: Any, log_history: list[dict[str, Any]], resumed_from: int):
    """``result`` (a TrainOutput) with the mean training loss of the whole run.

    The Trainer's ``training_loss`` covers the steps of its own call only; a
    resumed run adds the steps before its checkpoint, as their logged losses
    (each weighted by the steps it covers) in the checkpoint's log history.
    Steps after the checkpoint's last log, which the killed run never
    logged, do not count.
    """
    if resumed_from <= 0:
        return result
    total = covered = previous = 0
    for entry in log_history:
        step = entry.get("step", 0)
        if "loss" in entry and previous < step <= resumed_from:
            total += entry["loss"] * (step - previous)
            covered += step - previous
            previous = step
    trained = result.global_step - resumed_from
    if trained > 0:
        total += result.training_loss * trained
        covered += trained
    if not covered:
        return result
    loss = total / covered
    metrics = dict(result.metrics)
    if "train_loss" in metrics:  # the Trainer's own number, for its call only
        metrics["train_loss"] = loss
    return result._replace(training_loss=loss, metrics=metrics)


def planned_steps(trainer: Any) -> int:
    """How many optimizer steps the Trainer will run in all, as it computes it."""
    return trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]


def open_run(plan: Any, args: Any, *, overwrite: bool, resume: bool,
             force: bool = False) -> tuple[StartPoint, dict]:
    """Prepare the output directory (process 0 first, the others after it) and start run.json.

    A checkpoint to resume from must have been trained with the same
    settings (unless ``force``): that is checked here, before the model is
    loaded, so a refusal takes seconds; the data is checked once it is
    tokenized (:func:`new_session`). A fresh run writes recipe.toml and
    run.json at once; a resumed one only once its checkpoint has been found
    to fit, so a refused resume leaves the earlier run's records as they were.
    """
    from loraforge.engine.environment import describe_environment
    from loraforge.engine.fingerprints import settings_hash, training_settings
    from loraforge.engine.resume import prepare_output_dir

    recipe = plan.recipe
    main = is_main_process()
    with args.main_process_first(local=False, desc="preparing the output directory"):
        start = prepare_output_dir(recipe, overwrite=overwrite, resume=resume, write=main)
    settings = training_settings(recipe, args.world_size)
    if start.checkpoint is not None:
        start.changes = checkpoints.check_settings(start.checkpoint, settings, force=force)
    record: dict[str, Any] = {
        "status": "running",
        "recipe": recipe.source,
        "recipe_hash": settings_hash(settings),
        "data_fingerprint": None,
        "components": plan.components,
        "started_at": now(),
        "finished_at": None,
        "resumed_from": None,
        **describe_environment({n: i.version for n, i in plan.plugin_info.items()},
                               args.world_size),
    }
    if start.checkpoint is None:
        _write_start(start, recipe, record)
    else:
        previous = start.previous_run or {}
        record["resumed_from"] = {"step": start.step, "checkpoint": str(start.checkpoint.path)}
        record["first_started_at"] = previous.get("first_started_at", previous.get("started_at"))
    return start, record


def _write_start(start: StartPoint, recipe: Recipe, record: dict[str, Any]) -> None:
    if is_main_process():
        write_atomic(start.output_dir / "recipe.toml", recipe.to_toml())
        write_run(start.output_dir, record)


def new_session(plan: Any, args: Any, start: StartPoint, record: dict[str, Any], dataset: Any,
                prepared: Any, *, force_resume: bool,
                started: float) -> tuple[TrainingSession, list[str]]:
    """The session for ``dataset``; refuses a checkpoint trained on other data.

    Returns the session and what changed since the checkpoint, settings
    (found by :func:`open_run`) and data (only non-empty with ``force_resume``).
    """
    from loraforge.engine.fingerprints import data_fingerprint, settings_hash, training_settings

    recipe = plan.recipe
    settings = training_settings(recipe, args.world_size)
    stamp = TrainingStamp(
        recipe_hash=settings_hash(settings), settings=settings,
        data_fingerprint=data_fingerprint(dataset), samples=len(dataset),
        world_size=args.world_size,
    )
    record["data_fingerprint"] = stamp.data_fingerprint
    changes: list[str] = []
    if start.checkpoint is not None:
        changes = start.changes + checkpoints.check_data(start.checkpoint, stamp,
                                                         force=force_resume)
        _write_start(start, recipe, record)
    info = RunInfo(
        output_dir=str(start.output_dir),
        max_steps=recipe.train.max_steps or 0,
        epochs=recipe.train.epochs,
        trainable_parameters=prepared.trainable_parameters,
        total_parameters=prepared.total_parameters,
        resumed_from_step=start.step,
    )
    session = TrainingSession(recipe, args, start, stamp, info, plan.callbacks, record, started)
    return session, changes

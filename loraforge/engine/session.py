"""One call of the Trainer, kept safe.

Around ``Trainer.train`` sit the callbacks that make checkpoints complete,
stop when asked, check the first step's gradients, and tell the run's
events (:mod:`loraforge.engine.dispatch`) what happens. Running out of
memory becomes a :class:`~loraforge.errors.TrainingError` that says which
settings to lower; a stop request, :class:`RunInterrupted` after the
checkpoint is saved. Closing the run's record is the run's job
(:mod:`loraforge.engine.run`), whatever ends it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from loraforge.components import RunInfo
from loraforge.engine import checkpoints
from loraforge.engine.checkpoints import TrainingStamp, checkpoint_callback
from loraforge.engine.dispatch import RunEvents
from loraforge.engine.guards import (
    NonFinite,
    guard_callback,
    non_finite_error,
    out_of_memory_error,
    out_of_memory_types,
)
from loraforge.engine.resume import StartPoint
from loraforge.engine.signals import RunInterrupted, StopToken, stop_callback
from loraforge.engine.train import build_trainer, callback_bridge, use_cpu
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
    events: RunEvents
    stop: StopToken
    samples: int = 0
    trainer: Any = None
    bridge: Any = None

    def train(self, model: Any, tokenizer: Any, dataset: Any, *, collator: Any,
              eval_dataset: Any = None):
        """Train, from the start point's checkpoint if any; returns the Trainer's TrainOutput.

        Raises :class:`RunInterrupted` after a stop request (with a
        checkpoint saved), a :class:`TrainingError` for running out of memory
        or for no gradient, and whatever else went wrong.
        """
        recipe, train = self.recipe, self.recipe.train
        guards = guard_callback(recipe, use_cpu(train))
        self.bridge = callback_bridge(self.events, self.info, self.samples)
        trainer_callbacks = [
            checkpoint_callback(self.stamp, keep=train.save_total_limit,
                                every_epoch=train.save_every_epoch),
            guards,
            stop_callback(self.stop),
            self.bridge,  # last: callbacks hear of a checkpoint once it is complete
        ]
        resume_from = self.start.checkpoint
        try:
            self.trainer = build_trainer(model, tokenizer, dataset, self.args, trainer_callbacks,
                                         collator=collator, eval_dataset=eval_dataset)
            if resume_from is not None and resume_from.step >= planned_steps(self.trainer):
                result = self._nothing_left_to_train(resume_from)
            else:
                result = self.trainer.train(
                    resume_from_checkpoint=str(resume_from.path) if resume_from else None
                )
                result = whole_run_loss(result, self.trainer.state.log_history, self.start.step)
            step = self.trainer.state.global_step
            if self.stop.requested and step < self.trainer.state.max_steps:
                saved = checkpoints.newest(self.start.output_dir)
                raise RunInterrupted(self.stop.signum, step, saved.path if saved else None,
                                     self.start.output_dir)
        except out_of_memory_types() as exc:
            raise out_of_memory_error(
                recipe, guards.step, checkpoints.newest(self.start.output_dir), exc
            ) from None
        except NonFinite as found:
            raise non_finite_error(recipe, found, checkpoints.newest(self.start.output_dir)) from None
        return result

    @property
    def global_step(self) -> int:
        """The optimizer steps done so far (the start point's before training began)."""
        return self.trainer.state.global_step if self.trainer is not None else self.start.step

    @property
    def epoch(self) -> float | None:
        """The epochs done so far, in fractions of one (None before training began)."""
        epoch = self.trainer.state.epoch if self.trainer is not None else None
        return round(float(epoch), 4) if epoch is not None else None

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

"""transformers' Trainer, configured from ``[train]``, with plugin callbacks attached.

Two changes to the Trainer keep a resumed run on the uninterrupted run's
course: each epoch's order of samples depends on the seed and the epoch
alone, and the learning rate and weight decay are the recipe's, not those
saved in the checkpoint's optimizer and scheduler states.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from loraforge.components import RunInfo
from loraforge.engine.dispatch import RunEvents
from loraforge.errors import MissingPackageError, RecipeError, TrainingError
from loraforge.recipe import TrainSection


def check_device(train: TrainSection) -> None:
    """Refuse ``device = "cuda"`` where no GPU can be used, saying what was found."""
    if train.device != "cuda":
        return
    import torch

    if torch.cuda.is_available():
        return
    if torch.version.cuda is None:
        found = f"this torch {torch.__version__} is a CPU-only build"
    else:
        found = (f"torch {torch.__version__} is built for CUDA {torch.version.cuda}, but it sees "
                 "no usable GPU (no device, no driver, or CUDA_VISIBLE_DEVICES hides them)")
    raise TrainingError(
        f'train.device = "cuda", but {found}', where="train.device",
        hint='Run on a machine with a GPU (`loraforge doctor` says what this one has), install '
        'the torch build for your CUDA version (pytorch.org), or set device = "cpu" or "auto".',
    )


def use_cpu(train: TrainSection) -> bool:
    import torch

    return train.device == "cpu" or (train.device == "auto" and not torch.cuda.is_available())


def mixed_precision(train: TrainSection, cpu: bool) -> dict[str, bool]:
    """fp16/bf16 flags for TrainingArguments; "auto" means bf16 or fp16 on a GPU, fp32 on a CPU."""
    import torch

    precision = train.precision
    if precision == "auto":
        if cpu:
            precision = "fp32"
        else:
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def report_to(train: TrainSection) -> list[str] | str:
    """``train.report_to`` for TrainingArguments, once every integration it names can be used.

    An unknown name or a missing package is an error here, before any model
    loads, rather than when the Trainer is created after it.
    """
    if not train.report_to or train.report_to == ["none"]:
        return "none"
    from transformers.integrations import integration_utils

    known = sorted(integration_utils.INTEGRATION_TO_CALLBACK)
    unknown = [name for name in train.report_to if name not in (*known, "all")]
    if unknown:
        raise RecipeError(
            [f"train.report_to: no integration is named {', '.join(map(repr, unknown))}"],
            hint=f"transformers' Trainer reports to: {', '.join(known)}.",
        )
    for name in train.report_to:
        check = CHECKS.get(name, f"is_{name}_available")
        available = getattr(integration_utils, check, None)
        if available is not None and not available():
            package = INTEGRATION_PACKAGES.get(name, name)
            raise MissingPackageError(
                f"reporting to {name} needs the package {package}, which is not installed",
                where="train.report_to",
                hint=f"pip install {package}, or take {name!r} out of train.report_to.",
            )
    return list(train.report_to)


# transformers' check for an integration's package, and that package's pip name, where they
# are not named after the integration
CHECKS = {"comet_ml": "is_comet_available", "azure_ml": "is_azureml_available",
          "flyte": "is_flytekit_available"}
INTEGRATION_PACKAGES = {"comet_ml": "comet-ml", "azure_ml": "azureml-core", "flyte": "flytekit"}


def training_arguments(train: TrainSection, output_dir: Path, **extra: Any):
    """TrainingArguments from ``[train]``; ``extra`` adds or replaces arguments (e.g. batching).

    Creating them also starts the process group when a launcher such as
    torchrun started this process, which is why a run creates them first.
    """
    from transformers import TrainingArguments

    cpu = use_cpu(train)
    arguments = dict(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=train.epochs,
        max_steps=train.max_steps or -1,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.batch_size,
        gradient_accumulation_steps=train.grad_accum,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=train.warmup_ratio,
        weight_decay=train.weight_decay,
        logging_steps=train.logging_steps,
        logging_first_step=True,
        # a NaN loss is an error (guards.py), never replaced in the log by the mean so far
        logging_nan_inf_filter=False,
        save_strategy="steps",
        save_steps=train.save_steps,
        # old checkpoints are pruned by loraforge once a newer one is complete (checkpoints.py)
        save_total_limit=None,
        report_to=report_to(train),
        disable_tqdm=True,
        seed=train.seed,
        use_cpu=cpu,
        remove_unused_columns=False,
        # every LoRA parameter takes part in each forward pass; the search DDP would otherwise
        # make for unused ones costs a graph traversal per step
        ddp_find_unused_parameters=False,
        # peft models on the CPU: the fused AdamW kernel wants a GPU
        optim="adamw_torch" if cpu else "adamw_torch_fused",
        **mixed_precision(train, cpu),
    )
    arguments.update(extra)
    return TrainingArguments(**arguments)


def callback_bridge(events: RunEvents, info: RunInfo, samples: int = 0):
    """A transformers ``TrainerCallback`` that turns the Trainer's events into the run's.

    :class:`~loraforge.engine.dispatch.RunEvents` passes them on to the
    reporter and the loraforge callbacks (main process only).
    """
    from transformers import TrainerCallback

    class Bridge(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                info.max_steps = state.max_steps
                info.epochs = state.num_train_epochs  # what max_steps leaves of [train] epochs
                events.begin(info, samples)

        def on_log(self, args, state, control, logs=None, **kwargs):
            # the Trainer's closing summary reaches callbacks through on_end, and
            # evaluation results through on_evaluate, so neither is logged twice
            routed = "train_runtime" in (logs or {}) or "eval_loss" in (logs or {})
            if state.is_world_process_zero and logs and not routed:
                numbers = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}
                events.log(state.global_step, numbers)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if state.is_world_process_zero:
                events.evaluated(state.global_step, dict(metrics or {}))

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                path = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")
                events.saved(state.global_step, path)

    return Bridge()


def sampling_strategy(args: Any) -> str:
    """How the Trainer orders training samples: "random", "group_by_length" or one of its others."""
    strategy = getattr(args, "train_sampling_strategy", None)
    if strategy is None:  # transformers 4
        return "group_by_length" if getattr(args, "group_by_length", False) else "random"
    return strategy


class EpochSampler:
    """Each epoch's order of samples, drawn from ``seed + epoch`` and nothing else.

    transformers' length-grouped sampler draws each epoch's order from the
    global random state. A run resumed in the middle of a later epoch
    restores that state from its checkpoint only at its first step, after
    drawing the order: it would go on through the first epoch's order, not
    the one the uninterrupted run was in. Here the Trainer tells the sampler
    its epoch (``set_epoch``, through the data loader) and the order follows
    from that alone, the same in every process.

    With ``lengths``, samples of similar length are grouped as transformers'
    ``LengthGroupedSampler`` groups them (``batch_size`` samples a group);
    without (packed blocks), the order is a random permutation.
    """

    def __init__(self, size: int, seed: int, *, lengths: list[int] | None = None,
                 batch_size: int = 1) -> None:
        self.size = size
        self.seed = seed
        self.lengths = lengths
        self.batch_size = batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        return iter(self.order(self.epoch))

    def order(self, epoch: int) -> list[int]:
        import torch
        from transformers.trainer_pt_utils import get_length_grouped_indices

        generator = torch.Generator().manual_seed(self.seed + epoch)
        if self.lengths is None:
            return torch.randperm(self.size, generator=generator).tolist()
        return get_length_grouped_indices(self.lengths, self.batch_size, generator=generator)


def reach_sampler(loader: Any, sampler: EpochSampler) -> None:
    """Make sure the loader's ``set_epoch`` reaches ``sampler``, however its batches are wrapped.

    Under several processes accelerate wraps the batches in a sharding
    sampler, and a resumed epoch skips its first batches through one more
    wrapper, which ``set_epoch`` then no longer sees through: the sampler
    would stay in epoch 0. Naming the sampler on the sharding one, as
    accelerate does for its own seeded sampler, lets it through.
    """
    if hasattr(loader, "set_sampler"):
        loader.set_sampler(sampler)


def recipe_hyperparameters(optimizer: Any, scheduler: Any) -> list[dict[str, float]]:
    """Each parameter group's peak learning rate and weight decay, as the recipe sets them."""
    return [{"initial_lr": base, "weight_decay": group.get("weight_decay", 0.0)}
            for base, group in zip(scheduler.base_lrs, optimizer.param_groups)]


def apply_hyperparameters(optimizer: Any, scheduler: Any, settings: list[dict[str, float]]) -> None:
    """Give the optimizer and scheduler loaded from a checkpoint the recipe's peak rate and decay.

    A checkpoint's optimizer and scheduler states hold the learning rate and
    weight decay it was trained with; as loaded, they would quietly undo a
    change made for ``--force-resume``. The schedule goes on at the same
    step, from the new peak (and along the new schedule, if that changed
    too). When nothing changed, every value is what it was.
    """
    from torch.optim.lr_scheduler import LambdaLR

    groups = optimizer.param_groups
    if len(settings) != len(groups) or len(scheduler.base_lrs) != len(groups):
        return
    old_bases = list(scheduler.base_lrs)
    new_bases = [setting["initial_lr"] for setting in settings]
    for group, setting in zip(groups, settings):
        group.update(setting)
    scheduler.base_lrs = new_bases
    if isinstance(scheduler, LambdaLR):  # every schedule a recipe can name
        # what the scheduler's last step would have set
        rates = [base * rate(scheduler.last_epoch)
                 for base, rate in zip(new_bases, scheduler.lr_lambdas)]
    else:
        rates = [group["lr"] * new / old if old else new
                 for group, new, old in zip(groups, new_bases, old_bases)]
    for group, rate in zip(groups, rates):
        group["lr"] = rate
    scheduler._last_lr = list(rates)  # what get_last_lr() reports, and the Trainer logs


@cache
def trainer_class():
    """transformers' Trainer, with epoch-seeded samplers and the recipe's rates kept on resume."""
    from transformers import Trainer
    from transformers.trainer_utils import has_length

    class LoraforgeTrainer(Trainer):
        _epoch_sampler = None

        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            strategy = sampling_strategy(self.args)
            columns = getattr(dataset, "column_names", None)  # a datasets.Dataset
            if dataset is None or not has_length(dataset) or strategy not in (
                    "random", "group_by_length") or (strategy != "random" and columns is None):
                return super()._get_train_sampler(train_dataset)
            lengths = None
            if strategy == "group_by_length":
                column = self.args.length_column_name
                lengths = (list(dataset[column]) if column in columns
                           else [len(ids) for ids in dataset["input_ids"]])
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            self._epoch_sampler = EpochSampler(
                len(dataset), seed, lengths=lengths,
                batch_size=self.args.train_batch_size * self.args.gradient_accumulation_steps,
            )
            return self._epoch_sampler

        def get_train_dataloader(self):
            self._epoch_sampler = None
            loader = super().get_train_dataloader()
            if self._epoch_sampler is not None:
                reach_sampler(loader, self._epoch_sampler)
            return loader

        def training_step(self, model, inputs, num_items_in_batch=None):
            import torch

            from loraforge.engine.guards import NonFinite

            loss = super().training_step(model, inputs, num_items_in_batch)
            # the Trainer looks at every step's loss the same way (one sync), only to hide it
            if not bool(torch.isfinite(loss).all()):
                raise NonFinite("training loss", self.state.global_step + 1, float(loss))
            return loss

        def _load_optimizer_and_scheduler(self, checkpoint):
            recipe = None
            if checkpoint is not None and not self.is_deepspeed_enabled:
                recipe = recipe_hyperparameters(self.optimizer, self.lr_scheduler)
            super()._load_optimizer_and_scheduler(checkpoint)
            if recipe is not None:
                apply_hyperparameters(self.optimizer, self.lr_scheduler, recipe)

    return LoraforgeTrainer


def build_trainer(model: Any, tokenizer: Any, dataset: Any, args: Any, callbacks: list[Any],
                  *, collator: Any, eval_dataset: Any = None):
    """A Trainer for ``dataset`` with ``callbacks`` (TrainerCallbacks, called in this order).

    ``collator`` comes from :func:`loraforge.engine.batches.collator`, which
    knows whether the samples are padded or packed.
    """
    from transformers import PrinterCallback

    trainer = trainer_class()(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    # with tqdm disabled the Trainer prints raw log dicts; the console callback reports instead
    trainer.remove_callback(PrinterCallback)
    for callback in trainer.callback_handler.callbacks:
        # beside the adapter rather than among the checkpoints, unless TENSORBOARD_LOGGING_DIR says
        if type(callback).__name__ == "TensorBoardCallback" and callback.logging_dir is None:
            callback.logging_dir = str(Path(args.output_dir).parent / "tensorboard")
    return trainer

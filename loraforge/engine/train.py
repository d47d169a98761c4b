"""transformers' Trainer, configured from ``[train]``, with plugin callbacks attached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loraforge.components import RunInfo, TrainingCallback
from loraforge.plugins import component_errors
from loraforge.recipe import TrainSection


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
        save_strategy="steps",
        save_steps=train.save_steps,
        # old checkpoints are pruned by loraforge once a newer one is complete (checkpoints.py)
        save_total_limit=None,
        report_to="none",
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


def callback_bridge(callbacks: list[TrainingCallback], info: RunInfo):
    """A transformers ``TrainerCallback`` that tells loraforge callbacks (main process only).

    ``finish(summary)`` sends ``on_end``, once, to callbacks that were sent
    ``on_begin``: after a finished run, and also after one that was stopped or
    failed, so a progress bar is taken down and a metrics file closed.
    """
    from transformers import TrainerCallback

    class Bridge(TrainerCallback):
        began = False
        ended = False

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                info.max_steps = state.max_steps
                info.epochs = state.num_train_epochs  # what max_steps leaves of [train] epochs
                self.began = True
                for cb in callbacks:
                    with component_errors(cb, "on_begin"):
                        cb.on_begin(info)

        def on_log(self, args, state, control, logs=None, **kwargs):
            # the Trainer's closing summary reaches callbacks through on_end, and
            # evaluation results through on_evaluate, so neither is logged twice
            routed = "train_runtime" in (logs or {}) or "eval_loss" in (logs or {})
            if state.is_world_process_zero and logs and not routed:
                numbers = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}
                for cb in callbacks:
                    with component_errors(cb, "on_log"):
                        cb.on_log(state.global_step, numbers)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if state.is_world_process_zero:
                for cb in callbacks:
                    with component_errors(cb, "on_evaluate"):
                        cb.on_evaluate(state.global_step, dict(metrics or {}))

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                path = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")
                for cb in callbacks:
                    with component_errors(cb, "on_save"):
                        cb.on_save(state.global_step, path)

        def finish(self, summary: dict[str, Any], *, failing: bool = False) -> None:
            if not self.began or self.ended:
                return
            self.ended = True
            for cb in callbacks:
                try:
                    with component_errors(cb, "on_end"):
                        cb.on_end(summary)
                except Exception:
                    if not failing:
                        raise
                    # closing after a failure must not hide the failure itself

    return Bridge()


def build_trainer(model: Any, tokenizer: Any, dataset: Any, args: Any, callbacks: list[Any],
                  *, collator: Any = None, eval_dataset: Any = None):
    """A Trainer for ``dataset`` with ``callbacks`` (TrainerCallbacks, called in this order)."""
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer

    if collator is None:
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(
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
    return trainer

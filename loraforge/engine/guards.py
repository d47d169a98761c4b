"""Stopping early, with a clear error, when a run cannot do what it is for.

Three failures otherwise cost hours: an adapter that gets no gradient (the
run trains "successfully" and changes nothing; 4-bit bitsandbytes layers on
a CPU do this), a loss or gradient that is no longer a number (the run goes
on, logs a made-up loss and saves an adapter of NaNs), and running out of
GPU memory (a raw CUDA traceback that says nothing about which recipe
settings to change).
"""

from __future__ import annotations

from typing import Any

from loraforge.engine.checkpoints import Checkpoint
from loraforge.errors import TrainingError
from loraforge.recipe import Recipe


def out_of_memory_types() -> tuple[type[BaseException], ...]:
    import torch

    return tuple({getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError),
                  torch.cuda.OutOfMemoryError})


def lora_got_gradient(model: Any) -> bool | None:
    """Whether any trainable LoRA parameter holds a non-zero gradient (None: the model has none)."""
    import torch

    lora = [p for name, p in model.named_parameters() if p.requires_grad and "lora_" in name]
    if not lora:
        return None
    # B starts at zero, so A's first gradient is zero too; B's is not, unless nothing flowed
    return any(p.grad is not None and bool(torch.any(p.grad != 0)) for p in lora)


def no_gradient_error(recipe: Recipe, on_cpu: bool) -> TrainingError:
    quantization = recipe.model.quantization
    if quantization != "none" and on_cpu:
        where = "model.quantization"
        hint = (
            f"The base model is loaded in {quantization} through bitsandbytes on the CPU, where "
            "its layers can pass no gradient back. Train on a GPU, or set "
            'model.quantization = "none".'
        )
    else:
        where = "lora.targets"
        hint = (
            "Check that lora.targets names modules the model's forward pass uses: a module that "
            "is never called gets no gradient. A model loader that detaches or freezes "
            "activations would do the same."
        )
    return TrainingError(
        "no LoRA parameter received a gradient in the first optimizer step: training would "
        "not change the adapter", where=where, hint=hint,
    )


# fp16 loss scaling skips a step whose gradients overflowed and halves its scale; this many
# skips in a row means the scale cannot recover (from 2**16, 2**-9 at the last)
FP16_SKIPS_ALLOWED = 25


class NonFinite(Exception):
    """A training loss or gradient norm that is NaN or infinite, at a step."""

    def __init__(self, what: str, step: int, value: float) -> None:
        super().__init__(f"{what} {value} at step {step}")
        self.what, self.step, self.value = what, step, value


def lora_gradient_norm(model: Any):
    """The norm of the trainable parameters' gradients, as a 0-d tensor (None: none have any)."""
    import torch

    norms = [p.grad.detach().float().norm() for p in model.parameters()
             if p.requires_grad and p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else None


def non_finite_error(recipe: Recipe, found: NonFinite, checkpoint: Checkpoint | None) -> TrainingError:
    """What went wrong, at which step, and the settings that usually cause it."""
    train, lora = recipe.train, recipe.lora
    causes = [f"a learning rate too high for this model (train.learning_rate = {train.learning_rate:g})"]
    if train.precision == "fp16" or (train.precision == "auto" and not torch_cpu_only()):
        causes.append('fp16 overflowing (train.precision = "bf16" on a GPU that has it, or '
                      '"fp32")')
    causes.append(f"too strong an adapter scale (lora.alpha / lora.r = {lora.alpha / lora.r:g})")
    if checkpoint is not None:
        after = (f"The newest checkpoint (step {checkpoint.step}, {checkpoint.path}) holds finite "
                 "weights; after lowering the learning rate, continue it with --force-resume, "
                 "or start over with --overwrite.")
    else:
        after = "No checkpoint had been saved; no adapter was saved."
    return TrainingError(
        f"the {found.what} became {found.value} at step {found.step}: training diverged, and "
        "no adapter was saved from it", where="train.learning_rate",
        hint=f"Likely causes: {'; '.join(causes)}. {after}",
    )


def torch_cpu_only() -> bool:
    import torch

    return not torch.cuda.is_available()


def guard_callback(recipe: Recipe, on_cpu: bool):
    """A ``TrainerCallback``: tracks the step in progress, checks gradients are there and finite."""
    from transformers import TrainerCallback

    class Guards(TrainerCallback):
        def __init__(self) -> None:
            self.step = 0
            """The optimizer step in progress (0: before the first)."""
            self.checked = False
            self.skipped = 0

        def on_step_begin(self, args, state, control, **kwargs):
            self.step = state.global_step + 1

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            # before the step, so that the weights never take a non-finite update
            import torch

            norm = lora_gradient_norm(model) if model is not None else None
            if norm is None or bool(torch.isfinite(norm)):
                self.skipped = 0
                return
            self.skipped += 1
            if not args.fp16 or self.skipped > FP16_SKIPS_ALLOWED:
                raise NonFinite("gradient norm", self.step, float(norm))

        def on_optimizer_step(self, args, state, control, model=None, **kwargs):
            # gradients are still there: the Trainer zeroes them after this event
            if self.checked or model is None:
                return
            self.checked = True
            if lora_got_gradient(model) is False:
                raise no_gradient_error(recipe, on_cpu)

    return Guards()


def out_of_memory_error(recipe: Recipe, step: int, checkpoint: Checkpoint | None,
                        exc: BaseException) -> TrainingError:
    """What ran out, at which step, the settings that drive memory, and what to lower."""
    train, model = recipe.train, recipe.model
    max_length = getattr(recipe.data, "max_length", None)
    when = f"at step {step}" if step else "before the first step"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    settings = (
        f"micro-batch train.batch_size = {train.batch_size}, data.max_length = {max_length}, "
        f'model.quantization = "{model.quantization}", train.gradient_checkpointing = '
        f"{str(train.gradient_checkpointing).lower()}"
    )
    lower = []
    if train.batch_size > 1:
        lower.append(
            "a smaller train.batch_size (with train.grad_accum raised to keep the effective batch "
            f"of {train.batch_size * train.grad_accum})"
        )
    lower.append("a smaller data.max_length")
    if model.quantization != "4bit":
        lower.append('model.quantization = "4bit"' if model.quantization == "8bit"
                     else 'model.quantization = "8bit" or "4bit"')
    if not train.gradient_checkpointing:
        lower.append("train.gradient_checkpointing = true")
    if checkpoint is not None:
        after = (
            f"The last checkpoint (step {checkpoint.step}, {checkpoint.path}) is intact: rerun "
            "with --resume. A micro-batch change that keeps the effective batch, and gradient "
            "checkpointing, resume as they are; the other changes need --force-resume."
        )
    else:
        after = "No checkpoint had been saved yet."
    return TrainingError(
        f"ran out of memory {when} ({detail}); memory is driven by {settings}",
        where="train.batch_size",
        hint=f"Try {', '.join(lower[:-1])} or {lower[-1]}. {after}" if len(lower) > 1
        else f"Try {lower[0]}. {after}",
    )

"""Loading the base model through its loader and wrapping it with LoRA."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loraforge.components import LoadedModel
from loraforge.engine.targets import check_targets
from loraforge.plan import Plan
from loraforge.registry import component_errors


@dataclass
class PreparedModel:
    """The peft model ready to train, its tokenizer, and what was targeted."""

    model: Any
    tokenizer: Any
    targets: list[str]
    quantized: bool
    trainable_parameters: int
    total_parameters: int


def lora_config(plan: Plan, targets: list[str]):
    from peft import LoraConfig

    lora = plan.recipe.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        bias=lora.bias,
        task_type="CAUSAL_LM",
    )


def model_spec(plan: Plan):
    """``[model]`` with a local ``path`` made absolute against the recipe's folder.

    A path that does not exist there is passed on as written: it may be a hub
    id, and the loader says what is wrong if it is neither.
    """
    spec = plan.recipe.model
    if spec.path and plan.recipe.input_path(spec.path).exists():
        return spec.model_copy(update={"path": str(plan.recipe.input_path(spec.path))})
    return spec


def prepare_model(plan: Plan) -> PreparedModel:
    """Load, prepare for k-bit training if quantized, choose targets, apply LoRA.

    The adapter's initial weights are drawn right after seeding with
    ``train.seed``, so whatever the loader drew before (building a model on
    first use, initialising a layer the checkpoint lacks) cannot change them.
    """
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import set_seed

    with component_errors(plan.loader, "load"):
        loaded: LoadedModel = plan.loader.load(model_spec(plan))
    model = loaded.model
    checkpointing = plan.recipe.train.gradient_checkpointing
    if loaded.quantized:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing
        )
    elif checkpointing:
        model.gradient_checkpointing_enable()
        # with frozen embeddings the checkpointed blocks would see no grad-requiring input
        model.enable_input_require_grads()
    with component_errors(plan.selector, "select"):
        selected = plan.selector.select(model, loaded.default_targets)
    targets = check_targets(model, selected)
    set_seed(plan.recipe.train.seed)
    model = get_peft_model(model, lora_config(plan, targets))
    trainable, total = model.get_nb_trainable_parameters()
    return PreparedModel(model, loaded.tokenizer, targets, loaded.quantized, trainable, total)

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
    """``[model]`` as the loader gets it.

    A local ``path`` is made absolute against the recipe's folder (one that
    does not exist there is passed on as written: it may be a hub id, and
    the loader says what is wrong if it is neither). With ``train.device =
    "cpu"`` and no ``device_map`` of its own, the weights are placed on the
    CPU, so a machine with a GPU does not put the base there while the
    Trainer trains on the CPU.
    """
    recipe = plan.recipe
    spec = recipe.model
    update: dict[str, Any] = {}
    if spec.path and recipe.input_path(spec.path).exists():
        update["path"] = str(recipe.input_path(spec.path))
    if recipe.train.device == "cpu" and spec.device_map is None:
        update["device_map"] = "cpu"
    return spec.model_copy(update=update) if update else spec


def load_base(plan: Plan) -> LoadedModel:
    """Load the base model through the plan's loader, ready for adapters to be trained on it.

    A quantized base is prepared for k-bit training (norms in float32,
    gradient checkpointing if asked); a full-precision one gets gradient
    checkpointing if asked, with inputs that require grad so the
    checkpointed blocks pass gradients back to the adapters.
    """
    from peft import prepare_model_for_kbit_training

    with component_errors(plan.loader, "load"):
        loaded: LoadedModel = plan.loader.load(model_spec(plan))
    checkpointing = plan.recipe.train.gradient_checkpointing
    if loaded.quantized:
        loaded.model = prepare_model_for_kbit_training(
            loaded.model, use_gradient_checkpointing=checkpointing
        )
    elif checkpointing:
        loaded.model.gradient_checkpointing_enable()
        # with frozen embeddings the checkpointed blocks would see no grad-requiring input
        loaded.model.enable_input_require_grads()
    return loaded


def apply_lora(plan: Plan, loaded: LoadedModel) -> PreparedModel:
    """Choose the targets, check them against the model, and wrap it with LoRA.

    The adapter's initial weights are drawn right after seeding with
    ``train.seed``, so whatever the loader drew before (building a model on
    first use, initialising a layer the checkpoint lacks) cannot change them.
    """
    from peft import get_peft_model
    from transformers import set_seed

    with component_errors(plan.selector, "select"):
        selected = plan.selector.select(loaded.model, loaded.default_targets)
    targets = check_targets(loaded.model, selected)
    set_seed(plan.recipe.train.seed)
    model = get_peft_model(loaded.model, lora_config(plan, targets))
    trainable, total = model.get_nb_trainable_parameters()
    return PreparedModel(model, loaded.tokenizer, targets, loaded.quantized, trainable, total)


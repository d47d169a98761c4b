"""A trained run's base model, loaded the way the run loaded it, with the adapter on it.

The recipe in the run's folder is bound to the installed plugins again, so
the same loader loads the base with the same quantization, dtype and device,
and the same formatter renders prompts. Before the adapter goes on, the base
is checked against the run's record: an adapter on another base would answer
nonsense without a word of warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loraforge.after.runs import TrainedRun
from loraforge.engine.fingerprints import base_model_record, checkpoint_fingerprint
from loraforge.errors import BaseModelError
from loraforge.plan import Plan, bind, missing_model_dir
from loraforge.plugins import Plugins, get_plugins
from loraforge.registry import component_errors

MOVED_HINT = "If the base model moved, give its folder with --base PATH."


@dataclass
class TrainedModel:
    """The run's base model with its adapter (a peft model, in eval mode), and what it came from."""

    run: TrainedRun
    plan: Plan
    model: Any
    tokenizer: Any
    device: Any
    quantized: bool

    @property
    def formatter(self):
        return self.plan.formatter


def bind_run(run: TrainedRun, *, base: str | Path | None = None,
             plugins: Plugins | None = None) -> Plan:
    """The run's recipe bound to the installed plugins; a local base that is gone is an error."""
    recipe = run.recipe(base)
    # before binding: a loader picked by its config.json cannot be picked without one
    missing = missing_model_dir(recipe)
    path = recipe.model.path
    if missing is None and path and not recipe.input_path(path).exists() and (
            run.record.get("base_model") or {}).get("fingerprint"):
        # it looks like a hub id, but the run read it from a local folder
        missing = BaseModelError(f"no such folder: {path}")
    if missing is not None:
        raise BaseModelError(
            f"the base model of {run.name} is not there any more: {missing.message}",
            where="model.path", hint=MOVED_HINT,
        )
    return bind(recipe, plugins or get_plugins())


def load_trained(run: TrainedRun, *, base: str | Path | None = None,
                 plugins: Plugins | None = None) -> TrainedModel:
    """Load the run's base through its loader, check it is the one trained on, add the adapter."""
    from loraforge.engine.quiet import quiet_libraries

    quiet_libraries()  # before the imports below load bitsandbytes
    from peft import PeftModel

    from loraforge.engine.model import model_spec
    from loraforge.engine.train import use_cpu

    plan = bind_run(run, base=base, plugins=plugins)
    with component_errors(plan.loader, "load"):
        loaded = plan.loader.load(model_spec(plan))
    check_base(run, base_model_record(loaded.model), base_given=base is not None)
    model = PeftModel.from_pretrained(loaded.model, str(run.adapter), is_trainable=False)
    device = next(model.parameters()).device
    if not loaded.quantized and not use_cpu(plan.recipe.train) and device.type == "cpu":
        model.to("cuda")  # where the run trained; a quantized model was placed as it loaded
        device = next(model.parameters()).device
    model.eval()
    with component_errors(plan.formatter, "set_tokenizer"):
        plan.formatter.set_tokenizer(loaded.tokenizer)
    return TrainedModel(run, plan, model, loaded.tokenizer, device, loaded.quantized)


def check_base(run: TrainedRun, loaded: dict[str, Any], *, base_given: bool) -> None:
    """Refuse a base model other than the one the run trained on.

    ``loaded`` is :func:`base_model_record` of the model just loaded. A run
    records the fingerprint of its base's checkpoint folder; a run recorded
    without one is checked by the path peft wrote into the adapter's config,
    unless ``--base`` says the base is elsewhere now.
    """
    recorded = run.record.get("base_model") or {}
    if recorded.get("fingerprint") and loaded.get("fingerprint"):
        if recorded["fingerprint"] == loaded["fingerprint"]:
            return
        moved = "" if recorded.get("path") == loaded.get("path") else (
            f" (the run loaded it from {recorded.get('path')})")
        raise BaseModelError(
            f"the base model in {loaded['path']} is not the one {run.name} was trained on: its "
            f"config.json or weights differ from those recorded in {run.folder / 'run.json'}"
            f"{moved}",
            where="model.path",
            hint="Give the checkpoint the run trained on with --base PATH, or train the adapter "
            "again on this base model.",
        )
    expected = run.adapter_config().get("base_model_name_or_path")
    if base_given or not expected or not loaded.get("path"):
        return
    if Path(expected).expanduser().resolve() != Path(loaded["path"]).resolve():
        raise BaseModelError(
            f"the adapter in {run.adapter} was trained on {expected}, but the run's loader now "
            f"loads {loaded['path']}",
            where="model.path",
            hint="Give the checkpoint the run trained on with --base PATH, or train the adapter "
            "again on this base model.",
        )


def base_folder(run: TrainedRun, plan: Plan, *, base_given: bool) -> Path:
    """The local checkpoint folder of the run's base weights, as the run's loader reads it.

    Without ``--base``, the folder the run recorded is used when it is still
    there and unchanged, without calling the loader. Otherwise the loader
    loads the model onto the meta device (no weights are read; a converting
    loader converts first) to learn which folder it reads, which is then
    checked against the record.
    """
    recorded = run.record.get("base_model") or {}
    path = recorded.get("path")
    if not base_given and path and recorded.get("fingerprint") and Path(path).is_dir() and (
            checkpoint_fingerprint(Path(path)) == recorded["fingerprint"]):
        return Path(path)
    from loraforge.engine.model import model_spec
    from loraforge.engine.quiet import quiet_libraries

    quiet_libraries()
    spec = model_spec(plan).model_copy(update={"quantization": "none", "device_map": "meta"})
    with component_errors(plan.loader, "load"):
        loaded = plan.loader.load(spec)
    found = base_model_record(loaded.model)
    check_base(run, found, base_given=base_given)
    if not found.get("fingerprint"):
        raise BaseModelError(
            f"the base model {found.get('path')!r} is not a local checkpoint folder, so there "
            "are no weight files to merge into",
            where="model.path",
            hint="Download it (e.g. `hf download ORG/NAME --local-dir models/NAME`) and give "
            "that folder with --base PATH.",
        )
    return Path(found["path"])

"""Merging a run's LoRA adapter into its base model's weights, a tensor at a time.

The merged model is a plain checkpoint (safetensors shards of at most 2 GB
and their index, ``config.json``, the run's tokenizer, a generation config
and a model card) that ``AutoModelForCausalLM.from_pretrained``
loads without loraforge or peft. For a Baichuan-7B run it is the LLaMA
checkpoint the loader converted the base to, so LLaMA runtimes load it.

It is never merged into int8 or nf4 weights: the base's own full-precision
shards are read from its checkpoint folder, whatever the run loaded them
as, and each targeted weight gets ``scale · B @ A`` added in float32. One
output shard is in memory at a time (:mod:`loraforge.after.shards`), so a 7B
merge needs a few GB of RAM, not the whole model. ``rounded`` instead adds the deltas to the base
weights as a quantized run saw them (rounded through nf4 or int8 and back):
closer to what was trained, with the quantization error kept in every weight.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loraforge.after.models import base_folder, bind_run
from loraforge.after.runs import TrainedRun
from loraforge.after.shards import DEFAULT_MAX_BYTES, ShardWriter, read_tensors, weight_files
from loraforge.errors import MissingPackageError, ModelError, OutputError
from loraforge.plugins import Plugins

DTYPES = ("auto", "float16", "bfloat16", "float32")
PREFIX = "base_model.model."
# the modules bitsandbytes leaves unquantized in a LLaMA-architecture model
UNQUANTIZED = ("embed_tokens", "lm_head", "norm")
GENERATION_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id")


@dataclass
class Delta:
    """One targeted weight's LoRA matrices and scale."""

    a: Any
    b: Any
    scale: float


@dataclass
class MergeResult:
    """What a merge wrote and from what."""

    out_dir: Path
    base: Path
    shards: int
    merged: int
    dtype: str
    rounded: str | None


def adapter_deltas(adapter: Path, config: dict[str, Any]) -> tuple[dict[str, Delta], dict[str, Any]]:
    """The LoRA deltas by base weight name, and the whole tensors the adapter replaces (biases)."""
    from safetensors.torch import load_file

    _check_adapter_config(adapter, config)
    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    r, alpha = config["r"], config["lora_alpha"]
    scale = alpha / (r ** 0.5) if config.get("use_rslora") else alpha / r
    deltas: dict[str, Delta] = {}
    replaced: dict[str, Any] = {}
    for key, tensor in tensors.items():
        name = key.removeprefix(PREFIX)
        if ".lora_A." in name:
            module = name.split(".lora_A.")[0]
            deltas[f"{module}.weight"] = Delta(tensor, tensors[key.replace(".lora_A.", ".lora_B.")],
                                               scale)
        elif ".lora_B." in name:
            continue
        elif "lora_" in name:
            raise ModelError(
                f"the adapter in {adapter} holds {key}, which the merge does not know how to "
                "apply (only LoRA on linear layers is merged)", where="lora.targets",
            )
        else:  # a bias trained with lora.bias = "all" or "lora_only"
            replaced[name] = tensor
    return deltas, replaced


def _check_adapter_config(adapter: Path, config: dict[str, Any]) -> None:
    unsupported = [
        what for what, present in (
            ("a non-LoRA adapter", config.get("peft_type") != "LORA"),
            ("DoRA", config.get("use_dora")),
            ("fan_in_fan_out layers", config.get("fan_in_fan_out")),
            ("per-module ranks or alphas", config.get("rank_pattern") or config.get("alpha_pattern")),
            ("modules_to_save", config.get("modules_to_save")),
        ) if present
    ]
    if unsupported:
        raise ModelError(
            f"the adapter in {adapter} uses {', '.join(unsupported)}, which the merge does not "
            "handle", where="RUN_DIR",
            hint="Merge it with peft's merge_and_unload() on a full-precision base instead.",
        )


def rounding(quantization: str, dtype: Any) -> Callable[[Any], Any]:
    """Weights as a run with ``quantization`` saw them: quantized as bitsandbytes does, and back.

    4-bit is nf4 with double quantization in blocks of 64, and 8-bit
    bitsandbytes' row-wise int8, as the loader's ``BitsAndBytesConfig`` asks;
    ``dtype`` is what the weights were loaded as before quantizing.
    """
    import bitsandbytes.functional as bnb

    def nf4(weight):
        packed, state = bnb.quantize_4bit(weight.to(dtype).contiguous(), blocksize=64,
                                          compress_statistics=True, quant_type="nf4")
        return bnb.dequantize_4bit(packed, state).float()

    def int8(weight):
        codes, scales, _ = bnb.int8_vectorwise_quant(weight.to(dtype).half().contiguous())
        return codes.float() * scales.float()[:, None] / 127

    return nf4 if quantization == "4bit" else int8


def check_bitsandbytes(quantization: str) -> None:
    """Refuse ``--rounded-base`` where bitsandbytes, which does the rounding, cannot be imported."""
    try:
        import bitsandbytes.functional  # noqa: F401
    except Exception as exc:  # ImportError, or a native library that fails as it loads
        raise MissingPackageError(
            f"merging into the base rounded as the {quantization} run saw it needs "
            f"bitsandbytes, which cannot be imported ({type(exc).__name__}: {exc})",
            where="--rounded-base",
            hint="pip install bitsandbytes, or leave --rounded-base out to merge into the "
            "full-precision base.",
        ) from None


def quantized_weight(name: str, tensor: Any) -> bool:
    """Whether bitsandbytes quantizes this weight when a run loads the base in 8 or 4 bits."""
    return tensor.ndim == 2 and name.endswith(".weight") and not any(
        part in name.split(".") for part in UNQUANTIZED)


# what a user coming from train.precision may type
DTYPE_ALIASES = {"fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp32": "float32",
                 "float": "float32"}


def check_dtype(dtype: str) -> None:
    """Refuse a ``--dtype`` the merge cannot store weights as, naming the one likely meant."""
    if dtype in DTYPES:
        return
    meant = DTYPE_ALIASES.get(dtype.lower())
    raise OutputError(
        f"unknown dtype {dtype!r}", where="--dtype",
        hint=(f"Did you mean {meant}? " if meant else "") + "Use float16, bfloat16 or float32 "
        "(or leave --dtype out to store each weight as the base stores it).",
    )


def check_out_dir(out_dir: Path, keep: list[Path], *, overwrite: bool) -> None:
    """Refuse an output folder that holds anything, unless ``overwrite`` and a merged model.

    Never one of the folders in ``keep`` (the run's, the base's) or a folder
    holding them, which ``overwrite`` would delete, nor a folder of anything
    but a model an earlier merge wrote.
    """
    resolved = out_dir.expanduser().resolve()
    for folder in keep:
        folder = folder.resolve()
        if resolved == folder or resolved in folder.parents:
            raise OutputError(f"{out_dir} holds {folder}, which the merge reads", where="OUT_DIR",
                              hint="Merge into a folder of its own, e.g. merged/quickstart.")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} is a file", where="OUT_DIR",
                          hint="Give a folder that does not exist yet, or an empty one.")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise OutputError(
            f"{out_dir} is not empty", where="OUT_DIR",
            hint="Give a folder that does not exist yet or is empty, or add --overwrite to "
            "replace the merged model in it.",
        )
    if not is_merged_model(out_dir):
        # like `loraforge run --overwrite`, never delete what loraforge did not write
        named = sorted(path.name for path in out_dir.iterdir())
        raise OutputError(
            f"{out_dir} holds files that no merge wrote ({', '.join(named[:3])}"
            f"{', ...' if len(named) > 3 else ''}), which --overwrite would delete",
            where="OUT_DIR",
            hint="Merge into a new or empty folder: --overwrite replaces only a model that "
            "loraforge merge wrote.",
        )


def is_merged_model(folder: Path) -> bool:
    """Whether ``folder`` holds a model that ``merge`` wrote: a config and its model card."""
    try:
        card = (folder / "README.md").read_text(encoding="utf-8")[:500]
    except (OSError, UnicodeDecodeError):
        return False
    return (folder / "config.json").is_file() and card.startswith("---\n") and (
        "\n- loraforge\n" in card and "\n- merged\n" in card)


def merge_run(run: TrainedRun, out_dir: str | Path, *, dtype: str = "auto",
              overwrite: bool = False, base: str | Path | None = None, rounded: bool = False,
              plugins: Plugins | None = None, max_shard_bytes: int = DEFAULT_MAX_BYTES,
              on_shard: Callable[[int, int, str], None] | None = None) -> MergeResult:
    """Merge the run's adapter into its base and write the merged model to ``out_dir``.

    ``dtype`` is what the merged weights are stored as (``auto``: each as the
    base stores it); they are written in shards of at most ``max_shard_bytes``.
    ``on_shard(number, of, name)`` is told of each of the base's weight files
    once it is merged. Everything is written to a staging folder beside
    ``out_dir`` and renamed into place, so a failed merge writes nothing.
    """
    out_dir = Path(out_dir).expanduser()
    check_out_dir(out_dir, [run.folder, run.adapter], overwrite=overwrite)
    check_dtype(dtype)
    plan = bind_run(run, base=base, plugins=plugins)
    quantization = plan.recipe.model.quantization
    if rounded and quantization == "none":
        raise OutputError(
            "--rounded-base is for runs trained on an 8-bit or 4-bit base; this one was "
            "trained in full precision", where="--rounded-base",
            hint="Leave --rounded-base out: the merge is then exact.",
        )
    if rounded:
        check_bitsandbytes(quantization)
    folder = base_folder(run, plan, base_given=base is not None)
    check_out_dir(out_dir, [run.folder, folder], overwrite=overwrite)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("quantization_config"):
        raise ModelError(
            f"the base checkpoint in {folder} is stored quantized "
            f"({config['quantization_config'].get('quant_method', 'quantized')}), so there are "
            "no full-precision weights to merge into", where="model.path",
            hint="Train (or merge) on the full-precision release of the model.",
        )
    # the folders made for out_dir's parent go again if the merge fails: it writes nothing
    made = next((p for p in reversed(out_dir.absolute().parents) if not p.exists()), None)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f".{out_dir.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        result = _write_merged(run, plan, folder, config, staging, dtype=dtype,
                               rounded=quantization if rounded else None,
                               max_shard_bytes=max_shard_bytes, on_shard=on_shard)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    except BaseException:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.out_dir = out_dir
    return result


def _write_merged(run: TrainedRun, plan: Any, folder: Path, config: dict[str, Any], staging: Path,
                  *, dtype: str, rounded: str | None, max_shard_bytes: int,
                  on_shard: Callable[[int, int, str], None] | None) -> MergeResult:
    import torch

    deltas, replaced = adapter_deltas(run.adapter, run.adapter_config())
    files = weight_files(folder)
    target = None if dtype == "auto" else getattr(torch, dtype)
    round_weight = rounding(rounded, _loaded_dtype(plan, run)) if rounded else None
    writer = ShardWriter(staging, max_shard_bytes)
    applied: set[str] = set()
    for number, path in enumerate(files, start=1):
        for key, tensor in read_tensors(path):
            stored = tensor.dtype
            if key in deltas:
                delta = deltas[key]
                weight = tensor.float()
                if round_weight is not None and quantized_weight(key, tensor):
                    weight = round_weight(weight)
                weight += delta.scale * (delta.b.float() @ delta.a.float())
                tensor = weight.to(stored)
                applied.add(key)
            elif key in replaced:
                tensor = replaced[key].to(stored)
                applied.add(key)
            elif round_weight is not None and quantized_weight(key, tensor):
                tensor = round_weight(tensor.float()).to(stored)
            if target is not None and tensor.is_floating_point():
                tensor = tensor.to(target)
            writer.add(key, tensor)
        if on_shard is not None:
            on_shard(number, len(files), path.name)
    missing = sorted((set(deltas) | set(replaced)) - applied)
    if missing:
        raise ModelError(
            f"the base checkpoint in {folder} has no weight {missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + ", which the adapter was trained on", where="model.path",
            hint="The base is not the model the adapter was trained on; give that one with --base.",
        )
    shards = writer.close()
    _write_config(config, folder, staging, dtype)
    _write_tokenizer_and_generation(run, folder, staging)
    stored_dtype = dtype if dtype != "auto" else str(config.get("dtype") or config.get(
        "torch_dtype") or "as stored")
    result = MergeResult(staging, folder, shards, len(applied), stored_dtype, rounded)
    from loraforge.after.model_card import model_card

    (staging / "README.md").write_text(model_card(run, plan, result), encoding="utf-8")
    return result


def _loaded_dtype(plan: Any, run: TrainedRun) -> Any:
    """What the run loaded the base weights as before quantizing them (see the loader's rules)."""
    import torch

    spec = plan.recipe.model
    if spec.dtype != "auto":
        return getattr(torch, spec.dtype)
    return torch.float16 if run.record.get("cuda_available") else torch.float32


def _write_config(config: dict[str, Any], folder: Path, staging: Path, dtype: str) -> None:
    config = dict(config)
    if not config.get("architectures"):
        # runtimes such as vLLM pick the model class by this name; a converted config may lack it
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        name = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.get("model_type", ""))
        if name:
            config["architectures"] = [name]
    if dtype != "auto":
        key = "torch_dtype" if "torch_dtype" in config and "dtype" not in config else "dtype"
        config[key] = dtype
    (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if config.get("auto_map"):  # a family with its own modeling code needs it beside the weights
        for code in folder.glob("*.py"):
            shutil.copy2(code, staging / code.name)


def _write_tokenizer_and_generation(run: TrainedRun, folder: Path, staging: Path) -> None:
    """The tokenizer the run trained with, and a generation config that stops at its EOS."""
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(str(run.adapter))
    tokenizer.save_pretrained(str(staging))
    source = folder / "generation_config.json"
    generation = (json.loads(source.read_text(encoding="utf-8")) if source.is_file() else {})
    for key in GENERATION_KEYS:
        value = getattr(tokenizer, key, None)
        if generation.get(key) is None and value is not None:
            generation[key] = value
    GenerationConfig(**generation).save_pretrained(str(staging))

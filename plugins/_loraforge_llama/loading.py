"""Loading a causal language model and its tokenizer as ``[model]`` asks.

:func:`load_causal_lm` goes through ``AutoModelForCausalLM`` and
``AutoTokenizer`` and knows no family by name, so every family's loader can
reuse it (on its own checkpoint or on one it converted). torch, transformers
and bitsandbytes are imported when a model is loaded, not before.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loraforge.components import LoadedModel
from loraforge.errors import ModelError
from loraforge.modelfiles import check_weight_files
from loraforge.recipe import cannot_be_hub_id

if TYPE_CHECKING:
    from loraforge.recipe import ModelSection

QUANTIZATION_HINT = (
    'Set model.quantization = "none" to load full-precision weights, or install a '
    "bitsandbytes build for your GPU (https://huggingface.co/docs/bitsandbytes/main/en/installation)."
)


def load_causal_lm(
    path: str | Path,
    spec: ModelSection,
    *,
    default_targets: Sequence[str] = ("q_proj", "v_proj"),
) -> LoadedModel:
    """Load the model at ``path`` (a local directory or a hub id) as ``spec`` asks."""
    import torch

    source = resolve_source(path)
    if Path(source).is_dir():
        check_weight_files(source)  # an interrupted download, said as such
    # train.device = "cpu" reaches the loader as device_map "cpu": nothing goes to a GPU then
    on_gpu = torch.cuda.is_available() and spec.device_map != "cpu"
    common = {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}
    # transformers >= 5.25 swaps layers for kernels it fetches from the hub unless told not to:
    # code the recipe did not ask for, a network fetch, and no meta-device loading
    kwargs: dict[str, Any] = {**common, "dtype": weights_dtype(spec, on_gpu), "use_kernels": False}
    if _has_safetensors(source):
        kwargs["use_safetensors"] = True
    if spec.quantization != "none":
        kwargs["quantization_config"] = quantization_config(spec, on_gpu)
    device_map = spec.device_map
    if device_map is None and spec.quantization != "none":
        device_map = quantized_device_map(on_gpu)
    if device_map is not None:
        kwargs["device_map"] = device_map

    with _explained(source):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, **common)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)

    quantized = spec.quantization != "none" or getattr(model, "hf_quantizer", None) is not None
    if quantized:
        keep_cpu_4bit_trainable(model)
    set_pad_token(tokenizer, model)
    return LoadedModel(model, tokenizer, default_targets=list(default_targets), quantized=quantized)


def load_tokenizer(path: str | Path, spec: ModelSection) -> Any:
    """The tokenizer at ``path`` alone, with the pad token :func:`load_causal_lm` gives it."""
    source = resolve_source(path)
    with _explained(source):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(
            source, revision=spec.revision, trust_remote_code=spec.trust_remote_code
        )
    set_pad_token(tokenizer, None)
    return tokenizer


def resolve_source(path: str | Path) -> str:
    """``path`` as an existing local directory, or as a hub id when it can only be one.

    Raises :class:`ModelError` for a local path that does not exist, rather
    than letting transformers read it as a malformed hub id.
    """
    text = str(path)
    local = Path(text).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ModelError(
                f"not a directory: {local}", where="model.path",
                hint="Give the checkpoint's folder (the one holding config.json), not a file in it.",
            )
        if not (local / "config.json").is_file():
            raise ModelError(
                f"not a model checkpoint: {local} has no config.json", where="model.path",
                hint="Give a folder written by save_pretrained (config.json, weights, tokenizer files).",
            )
        return str(local)
    if cannot_be_hub_id(text):
        raise ModelError(
            f"no such directory: {local.resolve()}", where="model.path",
            hint="Check the path. A model on the Hugging Face hub is named by an id of the "
            "form org/name.",
        )
    return text


def _has_safetensors(source: str) -> bool:
    # For a hub id transformers already tries safetensors first; only a local
    # folder can be checked without a download.
    folder = Path(source)
    return folder.is_dir() and any(folder.glob("*.safetensors"))


@contextmanager
def _explained(source: str) -> Iterator[None]:
    """Turn the errors transformers raises for a source it cannot use into a ModelError."""
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        if isinstance(exc, ValueError) and "trust_remote_code" in text:
            raise ModelError(
                f"{source} ships its own modeling code, which is not run unless you allow it",
                where="model.trust_remote_code",
                hint="Set model.trust_remote_code = true if you trust the checkpoint's source.",
            ) from exc
        if isinstance(exc, OSError) and Path(source).is_dir():
            raise ModelError(
                f"cannot load a model from {source}: {first_line}", where="model.path",
                hint="The folder must hold a transformers checkpoint (config.json, weights, "
                "tokenizer files), as save_pretrained writes it.",
            ) from exc
        if isinstance(exc, OSError):
            raise ModelError(
                f"{source!r} is not a local directory and cannot be downloaded from the "
                f"Hugging Face hub: {first_line}",
                where="model.path",
                hint="Give the path to a local checkpoint directory instead, or go online "
                "(unset HF_HUB_OFFLINE) and check the id, the revision and your access to it.",
            ) from exc
        if isinstance(exc, ImportError) and "bitsandbytes" in text:
            raise ModelError(
                f"cannot quantize with bitsandbytes: {first_line}",
                where="model.quantization", hint=QUANTIZATION_HINT,
            ) from exc
        raise


def weights_dtype(spec: ModelSection, on_gpu: bool):
    """The dtype for the weights that are not quantized."""
    import torch

    if spec.dtype != "auto":
        return getattr(torch, spec.dtype)
    # Half-precision weights train badly on the CPU (and slowly), so "auto"
    # keeps the checkpoint's dtype only on a GPU.
    return "auto" if on_gpu else torch.float32


def quantization_config(spec: ModelSection, on_gpu: bool):
    """A ``BitsAndBytesConfig`` for ``spec.quantization``, once bitsandbytes is known to work."""
    import torch
    from transformers import BitsAndBytesConfig

    check_bitsandbytes(spec.quantization, on_gpu)
    if spec.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    if spec.dtype != "auto":
        compute = getattr(torch, spec.dtype)
    elif on_gpu:
        compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        compute = torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def quantized_device_map(on_gpu: bool) -> dict[str, Any]:
    """Where bitsandbytes puts the whole model: it quantizes while loading, so it must know."""
    import torch

    if not on_gpu:
        return {"": "cpu"}
    # Under torchrun or accelerate each process loads its own copy onto its
    # own GPU; the launcher names it before any CUDA device has been chosen.
    local_rank = os.environ.get("LOCAL_RANK")
    return {"": int(local_rank) if local_rank is not None else torch.cuda.current_device()}


def check_bitsandbytes(quantization: str, on_gpu: bool) -> None:
    """Raise :class:`ModelError` saying why bitsandbytes cannot quantize here, if it cannot."""
    if not on_gpu:
        # At import bitsandbytes warns that an optional fused CPU 4-bit kernel
        # is missing; keep_cpu_4bit_trainable turns that kernel off anyway.
        logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:
        import bitsandbytes
    except Exception as exc:  # ImportError, or a native library that fails as it loads
        raise ModelError(
            f"{quantization} quantization needs bitsandbytes, which cannot be imported "
            f"({type(exc).__name__}: {exc})",
            where="model.quantization", hint=QUANTIZATION_HINT,
        ) from exc
    device = "cuda" if on_gpu else "cpu"
    if device not in getattr(bitsandbytes, "supported_torch_devices", {device}):
        raise ModelError(
            f"the installed bitsandbytes {bitsandbytes.__version__} has no {device} backend",
            where="model.quantization", hint=QUANTIZATION_HINT,
        )
    if on_gpu:
        # Without a CUDA library that matches, bitsandbytes still imports and
        # fails only at the first quantized call; its stand-in library keeps the reason.
        from bitsandbytes import cextension

        stand_in = getattr(cextension, "ErrorHandlerMockBNBNativeLibrary", None)
        if stand_in is not None and isinstance(cextension.lib, stand_in):
            reason = vars(cextension.lib).get("error_msg") or "its CUDA library did not load"
            raise ModelError(
                f"bitsandbytes {bitsandbytes.__version__} cannot use this GPU: "
                f"{reason.strip().splitlines()[0]}",
                where="model.quantization", hint=QUANTIZATION_HINT,
            )


def keep_cpu_4bit_trainable(model: Any) -> None:
    """Keep bitsandbytes' 4-bit CPU layers differentiable after a no-grad forward.

    On a CPU with AVX512-BF16, a ``Linear4bit`` that runs once without grad
    (an evaluation pass) repacks its weight for a fused inference kernel and
    from then on returns outputs that pass no gradient back: training goes
    on, but the loss stops moving. Turning that repacking off keeps the
    ordinary, differentiable path; it is also what lets layers whose sizes
    are not multiples of the kernel's 32-wide blocks run at all.
    """
    try:
        from bitsandbytes.nn import Linear4bit
    except Exception:  # not quantized through bitsandbytes; nothing to fix
        return
    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False


def set_pad_token(tokenizer: Any, model: Any | None) -> None:
    """Give a tokenizer without a pad token one (unk, else eos) and tell the model, if given."""
    if tokenizer.pad_token is None:
        if tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        elif tokenizer.eos_token is not None:
            # The engine keeps EOS in the labels, so padding with it is safe.
            tokenizer.pad_token = tokenizer.eos_token
        else:
            raise ModelError(
                "the tokenizer has no pad, unk or eos token to pad batches with",
                where="model.path",
                hint="Add a pad token to the checkpoint's tokenizer files.",
            )
    if model is None:
        return
    for config in (model.config, getattr(model, "generation_config", None)):
        if config is not None and getattr(config, "pad_token_id", None) is None:
            config.pad_token_id = tokenizer.pad_token_id

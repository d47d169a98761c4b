"""The ``baichuan`` model loader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from _loraforge_baichuan.convert import converted_checkpoint
from _loraforge_baichuan.variants import VARIANTS, Variant, detect_variant
from _loraforge_llama.loading import load_causal_lm
from loraforge.components import LoadedModel, ModelLoader
from loraforge.errors import ModelError

if TYPE_CHECKING:
    from loraforge.recipe import ModelSection

LLAMA_TARGETS = ("q_proj", "v_proj")
VariantName = Literal["auto", "baichuan-7b", "baichuan2-7b", "baichuan-13b", "baichuan2-13b"]
REMOTE_CODE_TARGETS = ("W_pack",)


class BaichuanOptions(BaseModel):
    """Options of the ``baichuan`` loader."""

    model_config = ConfigDict(extra="forbid")

    variant: VariantName = Field(
        "auto",
        title="Variant",
        description="Which Baichuan model the checkpoint is; auto tells it from config.json "
        "(architecture name and hidden size). Set it only for a checkpoint whose config "
        "was renamed or edited.",
    )


class BaichuanLoader(ModelLoader):
    """Loads Baichuan and Baichuan2 checkpoints from a local folder.

    Baichuan-7B and Baichuan2-7B are converted once to LLaMA checkpoints and
    loaded with ``LlamaForCausalLM``: no remote code, LoRA on ``q_proj`` and
    ``v_proj``. Baichuan-13B and Baichuan2-13B load through their own code,
    only when ``trust_remote_code`` is set, with LoRA on ``W_pack``.
    """

    name = "baichuan"
    description = (
        "Baichuan/Baichuan2: 7B converted to LLaMA without remote code; "
        "13B needs trust_remote_code"
    )
    Options = BaichuanOptions

    def handles(self, config: Mapping[str, Any]) -> bool:
        return detect_variant(config) is not None

    def check_checkpoint(self, config: Mapping[str, Any], spec: ModelSection) -> None:
        if self.options.variant == "auto":
            super().check_checkpoint(config, spec)
        variant = (VARIANTS[self.options.variant] if self.options.variant != "auto"
                   else detect_variant(config))
        if variant is not None and not variant.convertible and not spec.trust_remote_code:
            raise remote_code_needed(variant)

    def model_config(self, spec: ModelSection) -> dict[str, Any] | None:
        source = local_checkpoint(spec)
        variant = self.variant_of(source)
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        if not variant.convertible:
            return config  # loaded through its own code: its own config
        from _loraforge_baichuan.convert import llama_config

        # the LLaMA checkpoint the conversion writes, in the dtype the weights are stored in
        dtype = config.get("torch_dtype") or config.get("dtype") or "float16"
        return llama_config(config, dtype).to_dict()

    def default_targets(self, config: Mapping[str, Any]) -> list[str]:
        variant = detect_variant(config) if self.options.variant == "auto" else \
            VARIANTS[self.options.variant]
        return list(REMOTE_CODE_TARGETS if variant and not variant.convertible else LLAMA_TARGETS)

    def load(self, spec: ModelSection) -> LoadedModel:
        source = local_checkpoint(spec)
        variant = self.variant_of(source)
        if variant.convertible:
            converted = converted_checkpoint(source, variant)
            # the conversion is plain LLaMA: there is no code in it to trust
            llama_spec = spec.model_copy(
                update={"path": str(converted), "trust_remote_code": False, "revision": None}
            )
            return load_causal_lm(str(converted), llama_spec, default_targets=LLAMA_TARGETS)
        if not spec.trust_remote_code:
            raise remote_code_needed(variant)
        spec = spec.model_copy(update={"path": str(source)})
        loaded = load_causal_lm(str(source), spec, default_targets=REMOTE_CODE_TARGETS)
        # with gradient checkpointing and frozen embeddings, the checkpointed
        # blocks would otherwise see no input that requires a gradient
        loaded.model.enable_input_require_grads()
        return loaded

    def variant_of(self, source: Path) -> Variant:
        if self.options.variant != "auto":
            return VARIANTS[self.options.variant]
        try:
            config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelError(f"{source / 'config.json'} is not valid JSON: {exc}",
                             where="model.path") from None
        variant = detect_variant(config)
        if variant is None:
            raise ModelError(
                f"{source} is not a Baichuan checkpoint (architectures: "
                f"{config.get('architectures')})",
                where="model.loader",
                hint='Use the loader that fits it (e.g. loader = "llama"), or set the '
                "baichuan loader's variant option if the config was edited.",
            )
        return variant


def remote_code_needed(variant: Variant) -> ModelError:
    """The error for a variant that loads only through the checkpoint's own code, not allowed."""
    return ModelError(
        f"{variant.title} uses ALiBi attention, which LLaMA's code cannot run, so it "
        "cannot be converted; it loads only with the modeling code shipped in the "
        "checkpoint, and that code runs with your user's rights",
        where="model.trust_remote_code",
        hint="If you trust the checkpoint's source, set trust_remote_code = true in "
        "[model]; the default LoRA target is then W_pack. Baichuan-7B and "
        "Baichuan2-7B need no remote code.",
    )


def local_checkpoint(spec: ModelSection) -> Path:
    """``model.path`` as a local checkpoint folder; hub ids are refused with a way out."""
    if not spec.path:
        raise ModelError(
            "no checkpoint given", where="model.path",
            hint='Set path to the folder holding the Baichuan weights, e.g. "models/Baichuan-7B".',
        )
    source = Path(spec.path).expanduser()
    if (source / "config.json").is_file():
        return source
    if source.exists():
        raise ModelError(f"no config.json in {source}", where="model.path",
                         hint="Point path at the folder that holds config.json and the weights.")
    text = spec.path
    if text.count("/") == 1 and not text.startswith((".", "~", "/")):
        name = text.rsplit("/", 1)[-1]
        raise ModelError(
            f"no local folder {text}; if it is a hub id: Baichuan checkpoints are converted "
            "from local files, so they must be downloaded first",
            where="model.path",
            hint=f"Download it with `hf download {text} --local-dir models/{name}` and set "
            "model.path to that folder (relative paths are taken from the recipe's folder).",
        )
    raise ModelError(
        f"no such folder: {source}", where="model.path",
        hint="Check the path; relative paths are taken from the recipe's folder.",
    )

"""The model loaders this plugin provides: real LLaMA checkpoints and a tiny one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from loraforge.components import LoadedModel, ModelLoader
from loraforge.errors import ModelError

if TYPE_CHECKING:
    from loraforge.recipe import ModelSection

LLAMA_TARGETS = ("q_proj", "v_proj")


class LlamaOptions(BaseModel):
    """The llama loader takes everything it needs from ``[model]``."""

    model_config = ConfigDict(extra="forbid")


class LlamaLoader(ModelLoader):
    """LLaMA-architecture checkpoints (LLaMA 1-3 and their fine-tunes), local or from the hub."""

    name = "llama"
    description = "LLaMA-architecture causal language models, from a local folder or the hub."
    Options = LlamaOptions

    def handles(self, config: Mapping[str, Any]) -> bool:
        return config.get("model_type") == "llama" or "LlamaForCausalLM" in (
            config.get("architectures") or []
        )

    def load(self, spec: ModelSection) -> LoadedModel:
        from _loraforge_llama.loading import load_causal_lm

        if not spec.path:
            raise ModelError(
                "the llama loader needs a checkpoint", where="model.path",
                hint='Set model.path to a checkpoint folder or a hub id, or use loader = "tiny-llama" '
                "to try loraforge without one.",
            )
        return load_causal_lm(spec.path, spec, default_targets=LLAMA_TARGETS)

    def load_tokenizer(self, spec: ModelSection) -> Any:
        from _loraforge_llama.loading import load_tokenizer

        if not spec.path:
            return self.load(spec).tokenizer  # says what is missing
        return load_tokenizer(spec.path, spec)


class TinyLlamaOptions(BaseModel):
    """The shape of the tiny model; each distinct shape is built once and cached."""

    model_config = ConfigDict(extra="forbid")

    hidden_size: int = Field(
        128, ge=32, le=4096, multiple_of=32, title="Width",
        description="Width of the model (a multiple of 32)."
    )
    layers: int = Field(2, ge=1, le=32, title="Layers", description="Number of transformer blocks.")
    vocab_size: int = Field(
        2048, ge=512, le=65536, title="Vocabulary size",
        description="Size of the vocabulary the tokenizer is trained to."
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, title="Seed",
                      description="Seed of the random initial weights and of pretraining.")
    pretrain_steps: int = Field(
        150, ge=0, le=10000, title="Pretraining steps",
        description="Steps of pretraining on the shipped English text when the model is first "
        "built (seconds on a CPU); 0 keeps the random weights.",
    )


class TinyLlamaLoader(ModelLoader):
    """A tiny LLaMA, built and briefly pretrained offline on first use; ``model.path`` is not used."""

    name = "tiny-llama"
    description = "A tiny LLaMA built and pretrained offline on first use, for trying loraforge and for tests."
    Options = TinyLlamaOptions

    def load(self, spec: ModelSection) -> LoadedModel:
        from _loraforge_llama.loading import load_causal_lm
        from _loraforge_llama.tiny import tiny_llama_path

        path = tiny_llama_path(**self.options.model_dump())
        return load_causal_lm(path, spec, default_targets=LLAMA_TARGETS)

    def load_tokenizer(self, spec: ModelSection) -> Any:
        from _loraforge_llama.loading import load_tokenizer
        from _loraforge_llama.tiny import tiny_llama_path

        return load_tokenizer(tiny_llama_path(**self.options.model_dump()), spec)

    def model_config(self, spec: ModelSection) -> dict[str, Any] | None:
        from _loraforge_llama.tiny import tiny_llama_path

        # the tiny model is built (once, cached) to know it: it is what load() reads
        path = tiny_llama_path(**self.options.model_dump())
        return super().model_config(spec.model_copy(update={"path": str(path)}))

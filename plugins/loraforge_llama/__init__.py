"""LLaMA-family model loaders for loraforge: ``llama`` and ``tiny-llama``."""

from __future__ import annotations

from loraforge.hookspecs import hookimpl
from loraforge_llama.loaders import LlamaLoader, TinyLlamaLoader


@hookimpl
def register_model_loaders(register):
    register(LlamaLoader)
    register(TinyLlamaLoader)

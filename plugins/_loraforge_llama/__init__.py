"""LLaMA-family model loaders for loraforge: ``llama`` and ``tiny-llama``."""

from __future__ import annotations

from _loraforge_llama.loaders import LlamaLoader, TinyLlamaLoader
from loraforge.hookspecs import hookimpl


@hookimpl
def register_model_loaders(register):
    register(LlamaLoader)
    register(TinyLlamaLoader)

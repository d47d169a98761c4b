"""Baichuan and Baichuan2 for loraforge.

The 7B models are LLaMA with a fused query/key/value projection (``W_pack``);
they are converted once to plain LLaMA checkpoints, so they load without the
checkpoint's own code and LoRA can target ``q_proj`` and ``v_proj``. The 13B
models use ALiBi and load only through their own code, on explicit opt-in.
docs/baichuan.md has the details.
"""

from __future__ import annotations

from _loraforge_baichuan.loader import BaichuanLoader
from _loraforge_baichuan.variants import (
    BAICHUAN2_CHAT_MARKERS,
    BAICHUAN_13B_CHAT_MARKERS,
    ChatMarkers,
    Variant,
    detect_variant,
)
from loraforge.hookspecs import hookimpl

__all__ = [
    "BAICHUAN2_CHAT_MARKERS",
    "BAICHUAN_13B_CHAT_MARKERS",
    "BaichuanLoader",
    "ChatMarkers",
    "Variant",
    "detect_variant",
]


@hookimpl
def register_model_loaders(register):
    register(BaichuanLoader)

"""Telling the Baichuan variants apart from a checkpoint's ``config.json``.

The rule, in order:

1. ``architectures`` names ``BaiChuanForCausalLM`` (capital C): Baichuan-7B.
   RoPE, a plain ``lm_head``, vocabulary 64000.
2. ``architectures`` names ``BaichuanForCausalLM`` (small c):

   - ``hidden_size`` 5120: a 13B model, with ALiBi instead of RoPE. The
     vocabulary tells the generations apart: 125696 is Baichuan2-13B, anything
     else Baichuan-13B.
   - any other width: Baichuan2-7B. RoPE and a ``NormHead`` (the ``lm_head``
     rows are L2-normalised in the forward pass).

The released configs carry no field that says "ALiBi" or "NormHead", so the
width is the only marker of ALiBi (the same line vLLM draws), and the class
name is the marker of the NormHead: Baichuan-7B is the only ``BaiChuan`` and
every 7B ``Baichuan`` is Baichuan2. Keying on the class name rather than on
exact sizes is what lets tiny test checkpoints be recognised as well. Other
models from the same maker (Baichuan-M1, ...) have other class names and
other layouts, and are left to other loaders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BAICHUAN1_ARCHITECTURE = "BaiChuanForCausalLM"
BAICHUAN_ARCHITECTURE = "BaichuanForCausalLM"
ALIBI_HIDDEN_SIZE = 5120
BAICHUAN2_VOCAB_SIZE = 125696


@dataclass(frozen=True)
class ChatMarkers:
    """The reserved tokens a Baichuan chat model puts before each turn."""

    user: str
    assistant: str


# Baichuan-13B-Chat and Baichuan2-*-Chat mark turns with reserved pieces of the
# vocabulary (ids 195 and 196 in the released tokenizers), not with text.
BAICHUAN_13B_CHAT_MARKERS = ChatMarkers(user="<reserved_102>", assistant="<reserved_103>")
BAICHUAN2_CHAT_MARKERS = ChatMarkers(user="<reserved_106>", assistant="<reserved_107>")


@dataclass(frozen=True)
class Variant:
    """One Baichuan model family member and what loading it takes.

    ``convertible`` variants are LLaMA with a fused ``W_pack`` and become a
    ``LlamaForCausalLM``; the others (ALiBi) need the checkpoint's own code.
    """

    name: str
    title: str
    convertible: bool
    norm_head: bool
    chat_markers: ChatMarkers | None


BAICHUAN_7B = Variant("baichuan-7b", "Baichuan-7B", True, False, None)
BAICHUAN2_7B = Variant("baichuan2-7b", "Baichuan2-7B", True, True, BAICHUAN2_CHAT_MARKERS)
BAICHUAN_13B = Variant("baichuan-13b", "Baichuan-13B", False, False, BAICHUAN_13B_CHAT_MARKERS)
BAICHUAN2_13B = Variant("baichuan2-13b", "Baichuan2-13B", False, True, BAICHUAN2_CHAT_MARKERS)

VARIANTS = {v.name: v for v in (BAICHUAN_7B, BAICHUAN2_7B, BAICHUAN_13B, BAICHUAN2_13B)}


def detect_variant(config: Mapping[str, Any]) -> Variant | None:
    """The Baichuan variant a ``config.json`` describes, or None if it is not Baichuan."""
    architectures = config.get("architectures") or []
    if BAICHUAN1_ARCHITECTURE in architectures:
        return BAICHUAN_7B
    if BAICHUAN_ARCHITECTURE in architectures:
        if config.get("hidden_size") == ALIBI_HIDDEN_SIZE:
            if config.get("vocab_size") == BAICHUAN2_VOCAB_SIZE:
                return BAICHUAN2_13B
            return BAICHUAN_13B
        return BAICHUAN2_7B
    return None

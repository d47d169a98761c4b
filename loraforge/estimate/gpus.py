"""The GPUs a recipe is checked against: common cards and their memory, easy to extend.

Memory is what ``torch.cuda.get_device_properties(i).total_memory`` reports,
in GiB (2**30 bytes), rounded as the card is sold: a "12 GB" RTX 3060 has
12 GiB. Add a card as one line of :data:`GPUS`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from loraforge.errors import LoraforgeError

GIB = 2**30


@dataclass(frozen=True)
class GPU:
    name: str
    memory_gib: float

    @property
    def bytes(self) -> int:
        return int(self.memory_gib * GIB)


GPUS = (
    GPU("RTX 3060", 12),
    GPU("RTX 4060 Ti", 16),
    GPU("RTX 3090", 24),
    GPU("RTX 4090", 24),
    GPU("A100 40GB", 40),
    GPU("A100 80GB", 80),
    GPU("H100", 80),
    GPU("H200", 141),
)
"""Common cards, smallest first; the fit table lists each."""


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def find_gpu(name: str) -> GPU:
    """The card called ``name`` (case, spaces and "GeForce"/"NVIDIA" do not matter)."""
    wanted = _key(name).removeprefix("nvidia").removeprefix("geforce")
    for gpu in GPUS:
        if _key(gpu.name) == wanted or _key(gpu.name).removesuffix("gb") == wanted.removesuffix("gb"):
            return gpu
    close = difflib.get_close_matches(name, [g.name for g in GPUS], n=1)
    raise LoraforgeError(
        f"no GPU is called {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
        where="--gpu",
        hint=f"Known: {', '.join(g.name for g in GPUS)}. Or give the card's memory with --vram "
        "GIB.",
    )


def this_machine() -> GPU | None:
    """This machine's first GPU, or None without one (torch is imported)."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return GPU(f"{props.name} (this machine)", props.total_memory / GIB)

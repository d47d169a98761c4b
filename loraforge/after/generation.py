"""Writing answers with a trained model: greedy by default, stopping at EOS, streamed as it goes.

Every training sample ended in a trained EOS (see :mod:`loraforge.engine.data`),
so a model that learned its answers learned to end them: generation stops at
the tokenizer's EOS, or after ``max_new_tokens``. The text is handed out as
it is written through ``on_text``, by a transformers streamer; nothing here
prints.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from loraforge.errors import LoraforgeError


@dataclass(frozen=True)
class Sampling:
    """How tokens are chosen. ``temperature = 0`` is greedy (the default): the likeliest token."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def check(self) -> None:
        if self.max_new_tokens < 1:
            raise LoraforgeError("must be at least 1", where="--max-new-tokens")
        if self.temperature < 0:
            raise LoraforgeError("must be 0 (greedy) or more", where="--temperature")
        if not 0 < self.top_p <= 1:
            raise LoraforgeError("must be more than 0 and at most 1", where="--top-p")


@dataclass
class Completion:
    """What the model wrote after a prompt, and why it stopped (``eos`` or ``length``)."""

    text: str
    tokens: int
    stopped: str


def generation_config(tokenizer: Any, sampling: Sampling):
    """transformers' ``GenerationConfig`` for ``sampling``, ending at the tokenizer's EOS."""
    from transformers import GenerationConfig

    options: dict[str, Any] = {
        "max_new_tokens": sampling.max_new_tokens,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id,
        "do_sample": sampling.temperature > 0,
    }
    if sampling.temperature > 0:
        options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
    return GenerationConfig(**options)


def complete(model: Any, tokenizer: Any, prompt_ids: list[int], sampling: Sampling, *,
             on_text: Callable[[str], None] | None = None, base: bool = False) -> Completion:
    """Generate after ``prompt_ids``; ``base`` turns the adapter off for this answer.

    ``on_text`` receives the text as it is decoded, in pieces. With a seed,
    sampling starts from the same random state each call, so the base's and
    the adapter's answers to one prompt are drawn alike.
    """
    import torch
    from transformers import TextStreamer

    class Streamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text and on_text is not None:
                on_text(text)

    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids], device=device)
    streamer = Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    if sampling.seed is not None:
        torch.manual_seed(sampling.seed)
    adapter_off = model.disable_adapter() if base else nullcontext()
    with adapter_off, torch.no_grad():
        output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                generation_config=generation_config(tokenizer, sampling),
                                streamer=streamer)
    new = output[0, ids.shape[1]:].tolist()
    stopped = "eos" if new and new[-1] == tokenizer.eos_token_id else "length"
    return Completion(tokenizer.decode(new, skip_special_tokens=True), len(new), stopped)

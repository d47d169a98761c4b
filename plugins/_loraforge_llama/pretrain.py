"""A short pretraining of the tiny LLaMA on :mod:`_loraforge_llama.corpus`, offline, on the CPU.

A random-init model writes noise, so nothing a LoRA run teaches it can be
seen in what it writes. A hundred and fifty steps on the shipped English text
(half a minute on two cores) make it write English-like sentences; the corpus
holds no row of the example data, so what an adapter then learns on those
rows is the adapter's own doing.
"""

from __future__ import annotations

from typing import Any

SEQUENCE = 64
BATCH = 16
PEAK_LR = 4e-3


def corpus_ids(tokenizer: Any) -> list[int]:
    """The corpus as one stream of ids, each line ending in EOS, as samples end in training."""
    from _loraforge_llama.corpus import TEXT

    ids: list[int] = []
    for line in TEXT.splitlines():
        if line.strip():
            ids += tokenizer.encode(line, add_special_tokens=False) + [tokenizer.eos_token_id]
    return ids


def pretrain(model: Any, tokenizer: Any, steps: int, seed: int) -> None:
    """Train every weight of ``model`` for ``steps`` steps on random windows of the corpus.

    The caller forks the random state: the draws here come from ``seed`` alone.
    """
    import torch

    if steps <= 0:
        return
    data = torch.tensor(corpus_ids(tokenizer))
    windows = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.01)
    # warm up, then anneal: the most a few hundred steps can learn, without blowing up early
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=PEAK_LR, total_steps=steps,
                                                   pct_start=0.1)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(data) - SEQUENCE, (BATCH,), generator=windows)
        batch = torch.stack([data[start:start + SEQUENCE] for start in starts.tolist()])
        model(input_ids=batch, labels=batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()

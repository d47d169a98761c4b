"""A tiny LLaMA with its own tokenizer, briefly pretrained offline, and cached.

Its weights start random and are then pretrained for half a minute on the
English text of :mod:`_loraforge_llama.corpus` (:mod:`_loraforge_llama.pretrain`),
so it writes English-like text and what an adapter teaches it shows.

It is written with ``save_pretrained`` like any checkpoint, so whoever uses
it (the quickstart, the tests) goes through the real loading path. Its
tokenizer is a byte-level BPE trained on :mod:`_loraforge_llama.corpus`: it
has ``<s>``, ``</s>`` and ``<unk>`` but no pad token, as many real LLaMA
tokenizers do.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path

from _loraforge_llama.pretrain import pretrain
from loraforge.cache import cache_dir

# Part of the cache key: bump it whenever what gets built changes (the
# architecture, the corpus, the tokenizer's settings), so stale models are
# not reused.
BUILDER_VERSION = 2

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
MAX_POSITIONS = 2048
BYTE_LEVEL_IDS = 256 + 3  # every byte, then <unk>, <s>, </s>

# Turns as "role: content", one a line; an assistant turn ends with EOS so a
# model trained on chats learns where its answer stops. (transformers renders
# templates with trim_blocks, hence the explicit newline.)
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ message['role'] + ': ' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{{ '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
)


def build_tiny_llama(
    directory: str | Path,
    *,
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 4,
    vocab_size: int = 2048,
    seed: int = 0,
    pretrain_steps: int = 150,
) -> Path:
    """Write a ``LlamaForCausalLM``, pretrained for ``pretrain_steps`` steps, and its tokenizer.

    With ``pretrain_steps=0`` the weights are left as ``seed`` initialised them.
    """
    if hidden_size % heads or (hidden_size // heads) % 2:
        raise ValueError(
            f"hidden_size {hidden_size} must split into {heads} heads of an even size"
        )
    if vocab_size < BYTE_LEVEL_IDS:
        raise ValueError(f"vocab_size must be at least {BYTE_LEVEL_IDS}: 256 bytes and 3 special tokens")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = _build_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        # LLaMA's MLP is wider than its hidden size; at 2x every projection is
        # a multiple of 32 when hidden_size is, as bitsandbytes' CPU kernels prefer.
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        # Full multi-head attention, as in LLaMA-7B, so q/k/v can be fused
        # into one projection for families such as Baichuan.
        num_key_value_heads=heads,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=None,
        tie_word_embeddings=False,
    )
    # its own seed, in a forked random state: the caller's draws go on as if nothing was built
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        pretrain(model, tokenizer, pretrain_steps, seed)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


_BUILD_SIGNATURE = inspect.signature(build_tiny_llama)


def _build_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from _loraforge_llama.corpus import TEXT

    # Ids 0, 1, 2 for <unk>, <s>, </s>, as in LLaMA's own vocabulary.
    specials = [UNK, BOS, EOS]
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    # Byte-level: any text encodes and decodes back exactly, whatever the corpus held.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TEXT.splitlines(), trainer=trainer)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS,
    )


def tiny_llama_path(**options) -> Path:
    """The cached tiny model built with ``options`` (see :func:`build_tiny_llama`).

    Built on first use under ``cache_dir()/models`` and reused afterwards.
    Several processes may ask at once: each builds in a folder of its own and
    renames it into place, and a process that loses the race uses the winner's.
    """
    # Defaults filled in, so that naming a default or leaving it out is the same model.
    bound = _BUILD_SIGNATURE.bind(None, **options)
    bound.apply_defaults()
    settings = {k: v for k, v in bound.arguments.items() if k != "directory"}
    key = json.dumps({"builder": BUILDER_VERSION, **settings}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    target = cache_dir() / "models" / f"tiny-llama-{digest}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build_tiny_llama(building, **settings)
        building.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from other users
        (building / "loraforge-tiny.json").write_text(key + "\n", encoding="utf-8")
        try:
            os.rename(building, target)
        except OSError:
            if not target.is_dir():
                raise
            # another process finished first; its model is the same
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target

"""Tiny Baichuan-style checkpoints made from a tiny LLaMA, for the Baichuan plugin's tests.

A random-init ``LlamaForCausalLM`` is the ground truth. Its q/k/v projections
are fused into ``W_pack`` (rows q, then k, then v) and written with
Baichuan's config and a SentencePiece ``tokenizer.model`` trained here, on a
small Chinese and English corpus, so converting back can be checked weight
for weight and logit for logit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm
import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

ENGLISH = [
    "This movie was wonderful, I loved every minute of it.",
    "A terrible film with a boring plot and wooden acting.",
    "The quick brown fox jumps over the lazy dog.",
    "Machine learning models learn patterns from data.",
    "We trained the adapter for 3 epochs with a learning rate of 0.0002.",
    "The soundtrack is beautiful and the actors are great.",
    "I would not watch it again, the ending makes no sense.",
    "Low-rank adaptation trains a small number of parameters.",
]
CHINESE = [
    "这部电影非常精彩，我很喜欢。",
    "剧情无聊，演员的表演也很差。",
    "今天天气很好，我们去公园散步吧。",
    "机器学习模型从数据中学习规律。",
    "百川大模型支持中文和英文。",
    "我们使用低秩适配来微调语言模型。",
    "北京是中国的首都，上海是最大的城市。",
    "音乐很美，演员们都很出色。",
]
SAMPLES = [
    "Review: 这部电影很好看！ Label: positive",
    "百川 Baichuan-7B 模型在 2023 年发布, it has 7000000000 parameters.",
    "罕见字：龘靐齉 and an emoji 🤖 fall back to bytes.",
    "  two leading spaces,  and   inner runs\nand a newline",
]
CHAT_PIECES = ["<reserved_102>", "<reserved_103>", "<reserved_106>", "<reserved_107>"]
LAYERS, HIDDEN, HEADS = 2, 128, 4


def corpus() -> list[str]:
    lines = []
    for i in range(240):
        lines.append(f"{ENGLISH[i % 8]} {CHINESE[(i * 3) % 8]} {i}")
        lines.append(f"{CHINESE[i % 8]}{ENGLISH[(i * 5) % 8]}")
    return lines


def train_sentencepiece(prefix: Path, *, baichuan2: bool) -> Path:
    """A BPE SentencePiece model with Baichuan's settings: byte fallback, split digits.

    Baichuan2's has no normalisation and no dummy-prefix space; the first
    generation's is trained with SentencePiece's defaults for those, so both
    normaliser set-ups are exercised.
    """
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_prefix=str(prefix),
        vocab_size=800,
        hard_vocab_limit=False,
        model_type="bpe",
        byte_fallback=True,
        split_digits=True,
        character_coverage=1.0,
        add_dummy_prefix=not baichuan2,
        remove_extra_whitespaces=not baichuan2,
        normalization_rule_name="identity" if baichuan2 else "nmt_nfkc",
        user_defined_symbols=CHAT_PIECES,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def tiny_llama(vocab_size: int, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=HIDDEN, intermediate_size=256, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=HEADS, vocab_size=vocab_size,
        max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norms start at exactly 1; make them count
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
    return model


def baichuan_tensors(llama: LlamaForCausalLM) -> dict[str, torch.Tensor]:
    """LLaMA's tensors in Baichuan's layout: fused W_pack and an inv_freq buffer per layer."""
    state = {k: v.detach().clone() for k, v in llama.state_dict().items()}
    head_dim = HIDDEN // HEADS
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    for i in range(LAYERS):
        prefix = f"model.layers.{i}.self_attn"
        parts = [state.pop(f"{prefix}.{p}_proj.weight") for p in "qkv"]
        state[f"{prefix}.W_pack.weight"] = torch.cat(parts, dim=0)
        state[f"{prefix}.rotary_emb.inv_freq"] = inv_freq.clone()
    return state


def baichuan_config(*, architecture: str, vocab_size: int, **extra) -> dict:
    return {
        "architectures": [architecture],
        "auto_map": {
            "AutoConfig": "configuration_baichuan.BaichuanConfig",
            "AutoModelForCausalLM": "modeling_baichuan.BaichuanForCausalLM",
        },
        "model_type": "baichuan",
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "intermediate_size": 256,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "max_position_embeddings": 4096,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-6,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": vocab_size,
        **extra,
    }


def write_sharded_safetensors(state: dict[str, torch.Tensor], folder: Path, shards: int) -> None:
    keys = sorted(state)
    groups = [keys[i::shards] for i in range(shards)]
    weight_map = {}
    for n, group in enumerate(groups, start=1):
        name = f"model-{n:05d}-of-{shards:05d}.safetensors"
        tensors = {k: state[k].contiguous() for k in group}
        save_file(tensors, str(folder / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in group})
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


def write_config_and_tokenizer(folder: Path, config: dict, sp_model: Path, *,
                               tokenizer_class: str, add_bos_token: bool) -> None:
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "tokenizer.model").write_bytes(sp_model.read_bytes())
    tokenizer_config = {"tokenizer_class": tokenizer_class, "add_bos_token": add_bos_token,
                        "add_eos_token": False, "pad_token": "<unk>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))


@dataclass
class TinyBaichuan:
    """A Baichuan-style checkpoint and the LLaMA it must convert back to."""

    path: Path
    reference: LlamaForCausalLM
    sp_model: Path


def make_baichuan_7b(folder: Path, sp_model: Path) -> TinyBaichuan:
    """Baichuan-7B style: ``BaiChuanForCausalLM``, two safetensors shards with an index."""
    folder.mkdir(parents=True)
    vocab = spm.SentencePieceProcessor(model_file=str(sp_model)).get_piece_size()
    llama = tiny_llama(vocab, seed=7)
    write_sharded_safetensors(baichuan_tensors(llama), folder, shards=2)
    config = baichuan_config(architecture="BaiChuanForCausalLM", vocab_size=vocab)
    write_config_and_tokenizer(folder, config, sp_model, tokenizer_class="BaiChuanTokenizer",
                               add_bos_token=True)
    return TinyBaichuan(folder, llama, sp_model)


def make_baichuan2_7b(folder: Path, sp_model: Path) -> TinyBaichuan:
    """Baichuan2-7B style: ``BaichuanForCausalLM``, one ``pytorch_model.bin``, a NormHead.

    The stored head rows have arbitrary norms; the reference LLaMA gets the
    rows normalised, which is what Baichuan2's NormHead computes with.
    """
    folder.mkdir(parents=True)
    vocab = spm.SentencePieceProcessor(model_file=str(sp_model)).get_piece_size()
    llama = tiny_llama(vocab, seed=2)
    with torch.no_grad():
        llama.lm_head.weight.mul_(torch.rand(vocab, 1) * 3 + 0.5)
    torch.save(baichuan_tensors(llama), folder / "pytorch_model.bin")
    with torch.no_grad():
        llama.lm_head.weight.copy_(torch.nn.functional.normalize(llama.lm_head.weight, dim=-1))
    config = baichuan_config(architecture="BaichuanForCausalLM", vocab_size=vocab,
                             model_max_length=4096, z_loss_weight=0)
    # the converted tokenizer must follow the source: this one adds no BOS
    write_config_and_tokenizer(folder, config, sp_model, tokenizer_class="BaichuanTokenizer",
                               add_bos_token=False)
    return TinyBaichuan(folder, llama, sp_model)


def real_config(variant: str) -> dict:
    """The released configs' distinguishing fields (architecture, sizes)."""
    sizes = {
        "baichuan-7b": ("BaiChuanForCausalLM", 4096, 32, 64000),
        "baichuan2-7b": ("BaichuanForCausalLM", 4096, 32, 125696),
        "baichuan-13b": ("BaichuanForCausalLM", 5120, 40, 64000),
        "baichuan2-13b": ("BaichuanForCausalLM", 5120, 40, 125696),
    }
    architecture, hidden, layers, vocab = sizes[variant]
    return {"architectures": [architecture], "model_type": "baichuan", "hidden_size": hidden,
            "num_hidden_layers": layers, "num_attention_heads": hidden // 128,
            "vocab_size": vocab, "model_max_length": 4096}

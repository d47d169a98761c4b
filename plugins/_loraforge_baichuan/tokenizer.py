"""Building a transformers tokenizer from Baichuan's SentencePiece model.

Baichuan ships only ``tokenizer.model`` and a remote-code tokenizer class
(the one that breaks on newer transformers with "no attribute 'sp_model'").
transformers' generic tokenizers backend reads the SentencePiece model and
follows its own normalizer settings, so it encodes exactly as
``SentencePieceProcessor`` does. ``LlamaTokenizer`` is not used: it always
adds a dummy-prefix space and derives merges from the vocabulary order,
while Baichuan2's model adds no dummy prefix and ranks merges by score, so
ids would differ.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from _loraforge_baichuan.variants import BAICHUAN2_CHAT_MARKERS, BAICHUAN_13B_CHAT_MARKERS
from loraforge.errors import ModelError

SPECIAL = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
# The remote BaichuanTokenizer's defaults, used where tokenizer_config.json is silent.
DEFAULT_ADD_BOS = True
DEFAULT_ADD_EOS = False
CHAT_MARKER_PIECES = tuple(
    piece
    for markers in (BAICHUAN_13B_CHAT_MARKERS, BAICHUAN2_CHAT_MARKERS)
    for piece in (markers.user, markers.assistant)
)


def source_tokenizer_settings(source: Path) -> dict[str, Any]:
    """What the source's ``tokenizer_config.json`` says about BOS/EOS and length."""
    path = source / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    settings = {
        "add_bos_token": bool(config.get("add_bos_token", DEFAULT_ADD_BOS)),
        "add_eos_token": bool(config.get("add_eos_token", DEFAULT_ADD_EOS)),
    }
    if isinstance(config.get("model_max_length"), int):
        settings["model_max_length"] = config["model_max_length"]
    return settings


def convert_tokenizer(source: Path, target: Path, *, max_length: int | None = None) -> None:
    """Save a tokenizer for ``source``'s ``tokenizer.model`` into ``target``."""
    from transformers import AddedToken
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    model_file = source / "tokenizer.model"
    if not model_file.is_file():
        raise ModelError(
            f"no tokenizer.model in {source}",
            where="model.path",
            hint="Baichuan checkpoints ship their SentencePiece model as tokenizer.model; "
            "download it with the weights.",
        )
    settings = source_tokenizer_settings(source)
    if max_length is not None:
        settings.setdefault("model_max_length", max_length)
    # The backend reads tokenizer.model from a folder that holds only that file,
    # so nothing else in the source (its tokenizer class, its auto_map) is consulted.
    staging = target / ".tokenizer-source"
    staging.mkdir()
    shutil.copyfile(model_file, staging / "tokenizer.model")
    tokenizer = TokenizersBackend.from_pretrained(
        str(staging), **SPECIAL, pad_token=SPECIAL["unk_token"], **settings
    )
    shutil.rmtree(staging)
    # A chat template writes the turn markers as text; each must stay one token.
    vocab = tokenizer.get_vocab()
    markers = [
        AddedToken(p, special=True, normalized=False) for p in CHAT_MARKER_PIECES if p in vocab
    ]
    if markers:
        tokenizer.add_special_tokens({"additional_special_tokens": markers})
    tokenizer.save_pretrained(str(target))
    shutil.copyfile(model_file, target / "tokenizer.model")

"""How samples become batches: padded and grouped by length, or packed into blocks.

Without packing, a batch is padded to its longest sample (labels with -100)
and transformers' length-grouped sampler puts samples of similar length in
the same batch, so little of it is padding.

With packing, samples are concatenated in order into blocks of exactly
``max_length`` tokens. Position ids restart at 0 at each sample and no
attention mask is passed: transformers then builds a block-diagonal causal
mask from the position ids (sdpa and eager attention; flash attention reads
the same position ids as sequence boundaries), so no sample attends to
another. The first label of each sample is masked, since the token before
it belongs to the previous sample. A block's tail is padding, with labels
-100 and positions of its own. This relies on two things: the model takes
``position_ids`` (LLaMA-architecture models do), and the model runs without
a KV cache, as the Trainer sets it (``use_cache=False``): with a cache,
transformers does not look for packed sequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from loraforge.engine.labels import IGNORE_INDEX, LENGTH

if TYPE_CHECKING:
    from loraforge.recipe import DataSection


class PaddingCollator:
    """Pads a batch with transformers' ``DataCollatorForSeq2Seq``; labels are padded with -100.

    The length column stays in the dataset for the length-grouped sampler
    but is not a model input, so it is left out here.
    """

    def __init__(self, tokenizer: Any):
        from transformers import DataCollatorForSeq2Seq

        self.pad = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE_INDEX)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        return self.pad([{k: v for k, v in f.items() if k != LENGTH} for f in features])


def _blocks(samples: Iterator[tuple[list[int], list[int]]], max_length: int,
            pad_id: int) -> Iterator[tuple[list[int], list[int], list[int]]]:
    """(input_ids, labels, position_ids) blocks of ``max_length`` from (ids, labels) samples."""
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for sample_ids, sample_labels in samples:
        if ids and len(ids) + len(sample_ids) > max_length:
            tail = max_length - len(ids)
            yield ids + [pad_id] * tail, labels + [IGNORE_INDEX] * tail, positions + list(range(tail))
            ids, labels, positions = [], [], []
        ids += sample_ids
        labels += [IGNORE_INDEX] + sample_labels[1:]
        positions += range(len(sample_ids))
    if ids:
        tail = max_length - len(ids)
        yield ids + [pad_id] * tail, labels + [IGNORE_INDEX] * tail, positions + list(range(tail))


def pack(dataset: Any, max_length: int, pad_id: int) -> Any:
    """Tokenized samples (each at most ``max_length``) packed into blocks, with ``datasets.map``."""

    def pack_batch(batch: dict[str, list]) -> dict[str, list]:
        blocks = list(_blocks(zip(batch["input_ids"], batch["labels"]), max_length, pad_id))
        return {
            "input_ids": [b[0] for b in blocks],
            "labels": [b[1] for b in blocks],
            "position_ids": [b[2] for b in blocks],
        }

    return dataset.map(pack_batch, batched=True, batch_size=1000,
                       remove_columns=dataset.column_names, desc="Packing")


def training_arguments(data: DataSection, evaluate: bool) -> dict[str, Any]:
    """The TrainingArguments batching needs: length grouping, and evaluation if there is eval data."""
    from transformers import TrainingArguments

    arguments: dict[str, Any] = {}
    if not data.packing:
        arguments["length_column_name"] = LENGTH
        if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
            arguments["train_sampling_strategy"] = "group_by_length"
        else:  # transformers 4
            arguments["group_by_length"] = True
    if evaluate:
        arguments["eval_strategy"] = "epoch"
    return arguments


def collator(data: DataSection, tokenizer: Any) -> Any:
    """The Trainer's ``data_collator`` for samples prepared for ``data``."""
    if data.packing:
        from transformers import default_data_collator

        return default_data_collator  # blocks are all max_length long; nothing to pad
    return PaddingCollator(tokenizer)


def pad_id(tokenizer: Any) -> int:
    """The id packing pads blocks with (its labels are -100, so any id would do)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

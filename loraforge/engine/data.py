"""Rows → formatted samples → token ids and labels, through ``datasets``.

Each sample is tokenized segment by segment so the prompt's tokens can be
masked exactly (label -100) while the completion's are trained. EOS is
appended to every sample and always kept in the labels: padding is masked by
the collator's ``label_pad_token_id``, never by comparing ids with the pad
token, so a tokenizer whose pad token is its EOS still learns to stop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loraforge.components import DatasetFormatter, RowError
from loraforge.errors import DataError

IGNORE_INDEX = -100

# file suffix → datasets' packaged builder
BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}


def load_rows(path: Path):
    """Load a local data file as a ``datasets.Dataset``."""
    import datasets

    if not path.exists():
        raise DataError(
            f"no such file: {path}", where="data.path",
            hint="Paths in a recipe are relative to the recipe file.",
        )
    builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise DataError(
            f"cannot read {path.name}: unknown file type {path.suffix!r}",
            where="data.path",
            hint=f"Use one of: {', '.join(BUILDERS)}.",
        )
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as exc:  # datasets raises many types for a malformed file
        raise DataError(
            f"could not read {path}: {exc}", where="data.path",
            hint="Check that the file is well-formed (one JSON object per line for .jsonl).",
        ) from None


def check_columns(dataset, formatter: DatasetFormatter, source: str) -> None:
    missing = sorted(formatter.columns() - set(dataset.column_names))
    if missing:
        raise DataError(
            f"{source} has no column {', '.join(repr(m) for m in missing)} "
            f"(its columns: {', '.join(dataset.column_names)})",
            where="data.formatter",
            hint="Rename the column in the formatter's options to one the data has.",
        )


def encode_sample(sample, tokenizer, max_length: int) -> dict[str, list[int]]:
    """Token ids and labels for one sample: BOS (if the tokenizer uses one), segments, EOS."""
    input_ids: list[int] = []
    labels: list[int] = []
    if tokenizer.bos_token_id is not None and getattr(tokenizer, "add_bos_token", True):
        input_ids.append(tokenizer.bos_token_id)
        labels.append(IGNORE_INDEX)
    for segment in sample.segments:
        ids = tokenizer.encode(segment.text, add_special_tokens=False)
        input_ids.extend(ids)
        labels.extend(ids if segment.trained else [IGNORE_INDEX] * len(ids))
    # keep room for EOS: a truncated sample still ends in a trained EOS
    input_ids = input_ids[: max_length - 1] + [tokenizer.eos_token_id]
    labels = labels[: max_length - 1] + [tokenizer.eos_token_id]
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def tokenize(dataset, formatter: DatasetFormatter, tokenizer, max_length: int, source: str):
    """Format and tokenize every row with ``datasets.map``; a bad row names its number."""
    if tokenizer.eos_token_id is None:
        raise DataError("the tokenizer has no EOS token", where="model.path",
                        hint="Use a tokenizer that defines eos_token.")
    check_columns(dataset, formatter, source)

    def encode(row: dict[str, Any], index: int) -> dict[str, list[int]]:
        try:
            sample = formatter.format(row)
        except RowError as exc:
            column = f", column {exc.column!r}" if exc.column else ""
            raise DataError(
                f"row {index + 1}{column}: {exc}", where=source,
                hint="Fix or remove the row, or change the formatter's options.",
            ) from None
        return encode_sample(sample, tokenizer, max_length)

    return dataset.map(
        encode, with_indices=True, remove_columns=dataset.column_names,
        desc="Tokenizing",
    )

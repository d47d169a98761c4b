"""Rows to prompts, rendered by the run's formatter and tokenized as training samples were.

The formatter's ``prompt(row)`` gives the segments the model is shown before
its answer; they become ids through :func:`loraforge.engine.data.sample_tokens`,
the function that made the training samples, so a prompt is the same tokens
as the start of a training sample of the same row: BOS (if the tokenizer
puts one first), then each segment tokenized on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loraforge.components import DatasetFormatter, RowError, Sample, Segment
from loraforge.engine.data import format_row, sample_tokens, special_prefix
from loraforge.errors import DataError
from loraforge.registry import component_errors, wrong_return


@dataclass
class Prompt:
    """A rendered prompt: its text as the formatter wrote it, and its token ids."""

    text: str
    ids: list[int]


def render(formatter: DatasetFormatter, row: dict[str, Any], tokenizer: Any, *,
           where: str = "prompt") -> Prompt:
    """The prompt for ``row``: the formatter's ``prompt(row)``, tokenized as in training."""
    try:
        with component_errors(formatter, "prompt"):
            sample = formatter.prompt(row)
    except RowError as exc:
        column = f", column {exc.column!r}" if exc.column else ""
        raise DataError(
            f"{where}{column}: {exc}", where="data.formatter",
            hint="Give the columns the run's formatter renders its prompt from: as a JSON row "
            "per line with --file (the completion's columns may be left out).",
        ) from None
    if not isinstance(sample, Sample) or not all(
            isinstance(s, Segment) and isinstance(s.text, str) for s in sample.segments):
        raise wrong_return(formatter, "prompt", sample,
                           "a loraforge.components.Sample of the prompt's text segments")
    ids, _, _ = sample_tokens(sample, tokenizer, special_prefix(tokenizer))
    return Prompt(sample.text, ids)


def message_row(formatter: DatasetFormatter, text: str,
                history: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The row a typed message (after ``history``'s exchanges) becomes, by the formatter's rule."""
    try:
        with component_errors(formatter, "input_row"):
            return dict(formatter.input_row(text, tuple(history)))
    except RowError as exc:
        raise DataError(
            f"a typed prompt does not fit the formatter {formatter.name!r}: {exc}",
            where="data.formatter",
            hint="Give whole rows instead, one JSON object a line, with --file.",
        ) from None


def expected_answer(formatter: DatasetFormatter, row: dict[str, Any], prompt: str) -> str | None:
    """What the run trained the model to write after ``prompt`` for a whole row, if anything.

    The sample's text after the prompt's (None if the sample does not start
    with it, or a row the formatter cannot format).
    """
    try:
        text = format_row(formatter, row).text
    except RowError:
        return None
    return text[len(prompt):] if text.startswith(prompt) and len(text) > len(prompt) else None


def read_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each JSON object line of a prompts file; blank lines are skipped."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"no such file: {path}", where="--file",
                        hint="Give a .jsonl file with one JSON row per line.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}", where="--file") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"line {number} is not JSON ({exc})", where=str(path),
                            hint='Write one JSON object a line, e.g. {"text": "A fine film."}.',
                            ) from None
        if not isinstance(row, dict):
            raise DataError(f"line {number} is {type(row).__name__}, not a JSON object",
                            where=str(path),
                            hint='Write one JSON object a line, e.g. {"text": "A fine film."}.')
        yield number, row

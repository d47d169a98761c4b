"""Finding the lines of a text data file that cannot be read, and reading around them.

``datasets`` reads a whole file or fails on it; a file with one line of
broken bytes or broken JSON is then unusable. These functions find those
lines, so the error can name them, and for the formats that hold one row a
line (``.jsonl``, ``.txt``) read the good lines when the recipe says to skip
bad rows.

Row numbers count rows as ``datasets`` does: the non-blank lines of a
``.jsonl`` file, every line of a ``.txt`` file.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LINE_FORMATS = (".jsonl", ".txt")
_CHUNK = 1 << 20


def _decodes(path: Path) -> bool:
    """Whether the whole file is UTF-8, checked without splitting it into lines."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(row, line, bytes) for every line that is a row: blank lines are not rows of a .jsonl."""
    jsonl = path.suffix.lower() == ".jsonl"
    row = 0
    with path.open("rb") as stream:
        for line_number, raw in enumerate(stream, start=1):
            if jsonl and not raw.strip():
                continue
            row += 1
            yield row, line_number, raw


def _problem(raw: bytes, check_json: bool) -> tuple[str | None, Any]:
    """(what is wrong with this line or None, the decoded value)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start + 1} of the line)", None
    if not check_json:
        return None, text
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not valid JSON ({exc})", None
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, not an object", None
    return None, value


def undecodable_lines(path: Path, *, check_json: bool = False) -> list[tuple[int, int, str]]:
    """(row, line, what is wrong) for each row that is not UTF-8 (or, if asked, not JSON)."""
    check_json = check_json and path.suffix.lower() == ".jsonl"
    if not check_json and _decodes(path):
        return []
    found = []
    for row, line, raw in _lines(path):
        problem, _ = _problem(raw, check_json)
        if problem:
            found.append((row, line, problem))
    return found


def _good_rows(path: str, stamp: str, row_column: str) -> Iterator[dict[str, Any]]:
    # ``stamp`` (size, mtime) is unused here but part of the cache key: an edited file is read again
    file = Path(path)
    jsonl = file.suffix.lower() == ".jsonl"
    for row, _, raw in _lines(file):
        problem, value = _problem(raw, jsonl)
        if problem is None:
            yield {**value, row_column: row - 1} if jsonl else {
                "text": value.rstrip("\r\n"), row_column: row - 1
            }


def read_good_lines(path: Path, row_column: str):
    """A dataset of the rows of a ``.jsonl`` or ``.txt`` file that can be read, numbered."""
    import datasets

    status = path.stat()
    return datasets.Dataset.from_generator(
        _good_rows,
        # no lists in gen_kwargs: datasets would read them as shards
        gen_kwargs={"path": str(path), "stamp": f"{status.st_size}-{status.st_mtime_ns}",
                    "row_column": row_column},
    )

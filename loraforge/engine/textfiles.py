"""Finding the lines of a text data file that cannot be read, and reading around them.

``datasets`` reads a whole file or fails on it; a file with one line of
broken bytes or broken JSON is then unusable. These functions find those
lines, so the error can name them, and for the formats that hold one row a
line (``.jsonl``, ``.txt``) read the good lines when the recipe says to skip
bad rows.

Row numbers count rows as ``datasets`` does: the non-blank lines of a
``.jsonl`` file, every line of a ``.txt`` file, the lines after the header
of a ``.csv`` file (whose header is row 0).
"""

from __future__ import annotations

import codecs
import json
import os
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
    """(row, line, bytes) for every line that is a row, and a .csv's header as row 0.

    Blank lines are not rows of a .jsonl.
    """
    suffix = path.suffix.lower()
    jsonl = suffix == ".jsonl"
    row = -1 if suffix == ".csv" else 0
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
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_float=_finite_float,
                           parse_int=_int64, parse_constant=_no_constant)
    except _Unreadable as exc:
        return str(exc), None
    except ValueError as exc:
        return f"not valid JSON ({exc})", None
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, not an object", None
    return None, value


class _Unreadable(ValueError):
    """Valid JSON that a table of rows cannot hold (the message says why)."""


INT64 = 2**63


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # datasets' reader refuses a key given twice; json.loads would keep the last one silently
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Unreadable(f"an object with the key {key!r} twice")
        seen.add(key)
    return dict(pairs)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Unreadable(f"a number too large to be stored ({text})")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -INT64 <= value < INT64:
        raise _Unreadable(f"an integer too large to be stored in 64 bits ({text})")
    return value


def _no_constant(text: str) -> float:
    raise _Unreadable(f"{text}, which is not a JSON number")


def first_lines(path: Path, count: int) -> list[str]:
    """The first ``count`` lines of the file that hold more than white space (fewer if it has fewer)."""
    found: list[str] = []
    with path.open("rb") as stream:
        for raw in stream:
            if raw.strip():
                found.append(raw.decode("utf-8", errors="replace").strip())
                if len(found) == count:
                    break
    return found


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


def _good_lines_copy(path: Path, bad_rows: set[int]) -> Path:
    """A .jsonl of the file's good rows, written once into the datasets cache.

    Kept for as long as the file is unchanged, so that datasets reads it into
    the same cache, under the same fingerprint, every time, and the
    tokenizing that follows is cached as for any other file.
    """
    import datasets
    from datasets.fingerprint import Hasher

    status = path.stat()
    key = Hasher.hash(["good lines 1", str(path.resolve()), status.st_size, status.st_mtime_ns])
    copy = Path(datasets.config.HF_DATASETS_CACHE) / "loraforge_good_lines" / f"{key}.jsonl"
    if copy.exists():
        return copy
    copy.parent.mkdir(parents=True, exist_ok=True)
    part = copy.with_name(f"{copy.stem}.{os.getpid()}.part")
    jsonl = path.suffix.lower() == ".jsonl"
    try:
        with part.open("wb") as out:
            for row, _, raw in _lines(path):
                if row in bad_rows:
                    continue
                if jsonl:
                    out.write(raw.rstrip(b"\r\n") + b"\n")
                else:  # a line of text is the row {"text": line}, as the text builder reads it
                    text = raw.decode("utf-8").rstrip("\r\n")
                    out.write(json.dumps({"text": text}, ensure_ascii=False).encode() + b"\n")
        os.replace(part, copy)  # whole or not at all, also with other processes reading the file
    finally:
        part.unlink(missing_ok=True)
    return copy


def read_good_lines(path: Path, bad_rows: list[int], row_column: str):
    """A dataset of the rows of a ``.jsonl`` or ``.txt`` file but ``bad_rows``, numbered; None if none.

    The good lines are read by datasets' json builder, as a file without bad
    lines would be: rows with different keys get the same columns, a key a
    row lacks is null. Numbers in ``row_column`` count from 0, bad rows too.
    """
    import datasets
    from datasets.fingerprint import Hasher

    bad = set(bad_rows)
    copy = _good_lines_copy(path, bad)
    if copy.stat().st_size == 0:
        return None
    rows = datasets.load_dataset("json", data_files=str(copy), split="train")
    numbers = [n for n in range(len(rows) + len(bad)) if n + 1 not in bad]
    return rows.add_column(
        row_column, numbers, new_fingerprint=Hasher.hash([rows._fingerprint, row_column])
    )

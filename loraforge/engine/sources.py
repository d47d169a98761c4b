"""Where rows come from: local files and folders, or a dataset on the Hugging Face hub.

Everything is read through ``datasets``. Each row carries its number in the
file it came from (column :data:`ROW`), so a bad row is named by file and
row however the rows were later shuffled or cut. Reading problems a user can
fix (a missing file, text that is not UTF-8, a line that is not JSON, a hub
id that cannot be reached) are :class:`~loraforge.errors.DataError`.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loraforge.engine import textfiles
from loraforge.errors import DataError
from loraforge.recipe import cannot_be_hub_id

if TYPE_CHECKING:
    from loraforge.recipe import DataSection, Recipe

ROW = "__loraforge_row__"

# file suffix → datasets' packaged builder
BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}


@dataclass(frozen=True)
class BadRow:
    """A row that could not be used, and why."""

    file: str
    row: int
    column: str | None
    problem: str

    def __str__(self) -> str:
        column = f", column {self.column!r}" if self.column else ""
        return f"{self.file}, row {self.row}{column}: {self.problem}"


@dataclass
class Rows:
    """One split's rows, and the files they came from.

    ``files`` pairs the name shown to the user with the :data:`ROW` number
    of that file's first row. ``bad`` holds the rows dropped while reading
    (lines that are not text or not JSON, with ``on_bad_rows = "skip"``).
    """

    dataset: Any
    files: list[tuple[str, int]]
    bad: list[BadRow] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.files[0][0] if len(self.files) == 1 else f"{len(self.files)} files"


def bad_row(files: list[tuple[str, int]], number: int, column: str | None, problem: str) -> BadRow:
    """The :class:`BadRow` for the row whose :data:`ROW` is ``number`` among ``files``."""
    which = bisect.bisect_right([start for _, start in files], number) - 1
    file, start = files[which]
    return BadRow(file, number - start + 1, column, problem)


@dataclass
class Splits:
    """The rows to train on, and those to evaluate on if the recipe asks for any."""

    train: Rows
    eval: Rows | None = None


def shown(path: Path) -> str:
    """A path as messages show it: relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_splits(recipe: Recipe) -> Splits:
    """Read ``[data]``'s rows: the training split, and an evaluation split or fraction."""
    data = recipe.data
    local = recipe.input_path(data.path)
    if local.exists():
        train, evaluate = _local_splits(local, data)
    elif _looks_local(data.path):
        raise DataError(
            f"no such file or folder: {local}", where="data.path",
            hint="Paths in a recipe are relative to the recipe file. A dataset on the hub is "
            "named by its id, e.g. tatsu-lab/alpaca.",
        )
    else:
        train = _hub_rows(data, data.split, "data.split")
        evaluate = _hub_rows(data, data.eval_split, "data.eval_split") if data.eval_split else None
    return _select(train, evaluate, data)


def _looks_local(text: str) -> bool:
    return Path(text).suffix.lower() in BUILDERS or cannot_be_hub_id(text)


def _local_splits(path: Path, data: DataSection) -> tuple[Rows, Rows | None]:
    if path.is_file():
        for where in ("split", "eval_split"):
            value = getattr(data, where)
            if value not in (None, "train"):
                raise DataError(
                    f"{shown(path)} is one file, which is the split 'train' (not {value!r})",
                    where=f"data.{where}",
                    hint="Use max_samples or eval_fraction, or put train.jsonl and "
                    "validation.jsonl in a folder and set data.path to it.",
                )
        return _read_files([path], data), None
    splits = _folder_splits(path)
    train = _read_files(_split_files(splits, data.split, path, "data.split"), data)
    evaluate = None
    if data.eval_split:
        files = _split_files(splits, data.eval_split, path, "data.eval_split")
        evaluate = _read_files(files, data)
    return train, evaluate


def _folder_splits(folder: Path) -> dict[str, list[Path]]:
    """The data files of a folder by split, as datasets tells splits from file names."""
    from datasets.data_files import DataFilesDict, EmptyDatasetError, get_data_patterns

    try:
        patterns = get_data_patterns(str(folder))
        found = DataFilesDict.from_patterns(
            patterns, str(folder), allowed_extensions=list(BUILDERS)
        )
    except (EmptyDatasetError, FileNotFoundError):
        found = {}
    splits = {str(split): sorted(Path(f) for f in files) for split, files in found.items()}
    splits = {split: files for split, files in splits.items() if files}
    if not splits:
        raise DataError(
            f"{shown(folder)} holds no data files", where="data.path",
            hint=f"Put files ending in {', '.join(BUILDERS)} in it.",
        )
    return splits


def _split_files(splits: dict[str, list[Path]], split: str, folder: Path, where: str) -> list[Path]:
    if split not in splits:
        raise DataError(
            f"{shown(folder)} has no split {split!r} (its splits: {', '.join(sorted(splits))})",
            where=where,
            hint="A folder's splits come from its file names, e.g. train.jsonl and "
            "validation.jsonl; files with no split in their name are all 'train'.",
        )
    return splits[split]


def _read_files(paths: list[Path], data: DataSection) -> Rows:
    """Read local files one by one (so each row keeps its file), then put them together."""
    import datasets

    parts, files, bad, start = [], [], [], 0
    for path in paths:
        part, part_bad, count = _read_file(path, data.on_bad_rows == "skip")
        files.append((shown(path), start))
        bad.extend(part_bad)
        # later files' rows are numbered after this one's, so a number finds its file
        parts.append(part if start == 0 else part.map(
            _renumber, input_columns=ROW, fn_kwargs={"start": start},
        ))
        start += count
    try:
        dataset = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    except ValueError as exc:
        columns = "; ".join(f"{name}: {', '.join(p.column_names)}" for (name, _), p in zip(files, parts))
        raise DataError(
            f"the files do not have the same columns ({columns})", where="data.path",
            hint="Give every file of a split the same columns.",
        ) from exc
    return Rows(dataset, files, bad)


def _renumber(number: int, start: int) -> dict[str, int]:
    return {ROW: number + start}


def _read_file(path: Path, skip_bad: bool) -> tuple[Any, list[BadRow], int]:
    """One file as a dataset with a :data:`ROW` column, the rows dropped from it, its row count."""
    import datasets
    from datasets.fingerprint import Hasher

    suffix = path.suffix.lower()
    builder = BUILDERS.get(suffix)
    if builder is None:
        raise DataError(
            f"cannot read {path.name}: unknown file type {path.suffix!r}", where="data.path",
            hint=f"Use one of: {', '.join(BUILDERS)}.",
        )
    if builder != "parquet":
        _check_has_rows(path)
    skippable = skip_bad and suffix in textfiles.LINE_FORMATS
    problems = [] if builder == "parquet" else textfiles.undecodable_lines(path)
    if problems and not skippable:
        _raise_unreadable(path, problems[0])
    if not problems:
        try:
            with _quiet_readers():
                dataset = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # datasets raises many types for a malformed file
            problems = textfiles.undecodable_lines(path, check_json=True)
            if not problems or not skippable:
                _raise_unreadable(path, problems[0] if problems else None, exc)
    if problems:
        # every line the reader will leave out is counted, not only the first kind found
        problems = textfiles.undecodable_lines(path, check_json=True)
        try:
            with _quiet_readers():
                rows = textfiles.read_good_lines(path, [row for row, _, _ in problems], ROW)
        except Exception as exc:  # the good lines do not make a table either
            _raise_unreadable(path, None, exc)
        if rows is None:
            row, line, what = problems[0]
            raise DataError(f"no row can be read; the first: row {row} (line {line}) is {what}",
                            where=shown(path),
                            hint=f"Check that the file is well-formed: {WELL_FORMED[suffix]}.")
        bad = [BadRow(shown(path), row, None, f"line {line} is {what}") for row, line, what in problems]
    else:
        rows = dataset.add_column(
            ROW, list(range(len(dataset))),
            new_fingerprint=Hasher.hash([dataset._fingerprint, ROW]),
        )
        bad = []
    count = len(rows) + len(bad)
    if builder == "text":
        # blank lines in a text file separate paragraphs; they are not rows to train on
        rows = rows.filter(lambda text: bool(text.strip()), input_columns="text")
    return rows, bad, count


def _check_has_rows(path: Path) -> None:
    """Refuse a text data file with no rows at all, in words, before datasets reads it."""
    empty = textfiles.first_lines(path, 2)
    hint = f"Put rows in it ({WELL_FORMED[path.suffix.lower()]}), or point data.path at another file."
    if not empty:
        size = path.stat().st_size
        what = "empty (0 bytes)" if size == 0 else "blank: it holds only white space"
        raise DataError(f"{shown(path)} is {what}, so it has no rows", where="data.path", hint=hint)
    if path.suffix.lower() == ".csv" and len(empty) == 1:
        raise DataError(f"{shown(path)} has a header line ({empty[0][:60]}) but no rows",
                        where="data.path", hint=hint)
    if path.suffix.lower() == ".json" and empty[0].strip() in ("[]", "{}"):
        raise DataError(f"{shown(path)} holds no rows ({empty[0].strip()})", where="data.path",
                        hint=hint)


@contextmanager
def _quiet_readers() -> Iterator[None]:
    """Silence datasets' file readers, which log a file they cannot read before raising.

    The error that follows says what is wrong, once, in loraforge's words.
    """
    readers = logging.getLogger("datasets.packaged_modules")
    level = readers.level
    readers.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        readers.setLevel(level)


# what a well-formed file of each type looks like, for the error about one that is not
WELL_FORMED = {
    ".jsonl": "one JSON object per line",
    ".json": "a JSON list of objects, or one JSON object per line",
    ".csv": "a header line, then one line per row with as many fields, separated by commas; "
            "a field holding commas, quotes or line breaks in double quotes, its quotes doubled",
    ".parquet": "a whole Parquet file, as written by pandas, pyarrow or datasets",
    ".txt": "UTF-8 text, one row per line",
}


def _raise_unreadable(path: Path, problem: tuple[int, int, str] | None,
                      exc: Exception | None = None) -> None:
    suffix = path.suffix.lower()
    if problem is not None:
        row, line, what = problem
        hint = "Fix or remove that line."
        if suffix in textfiles.LINE_FORMATS:
            hint += ' With data.on_bad_rows = "skip" such rows are dropped and counted.'
        which = "the header" if row == 0 else f"row {row}"
        raise DataError(f"{which} (line {line}) is {what}", where=shown(path), hint=hint)
    reason = str(exc.__cause__ or exc).strip().splitlines() if exc else []
    raise DataError(
        f"could not read {shown(path)}: {reason[0] if reason else type(exc).__name__}",
        where="data.path",
        hint=f"Check that the file is well-formed: {WELL_FORMED[suffix]}.",
    )


def _hub_rows(data: DataSection, split: str, where: str) -> Rows:
    """A split of a hub dataset; an unreachable or unknown id is a DataError."""
    import datasets
    from datasets.fingerprint import Hasher

    shown_id = data.path + (f" ({data.name})" if data.name else "")
    try:
        dataset = datasets.load_dataset(data.path, data.name, split=split, revision=data.revision)
    except Exception as exc:
        raise _hub_error(data, split, where, shown_id, exc) from exc
    if not isinstance(dataset, datasets.Dataset):
        raise DataError(
            f"{shown_id} split {split!r} is not a table of rows", where=where,
            hint="Name one split, e.g. train.",
        )
    rows = dataset.add_column(
        ROW, list(range(len(dataset))), new_fingerprint=Hasher.hash([dataset._fingerprint, ROW])
    )
    return Rows(rows, [(f"{shown_id} split {split}", 0)])


def _hub_error(data: DataSection, split: str, where: str, shown_id: str, exc: Exception) -> DataError:
    from datasets.exceptions import DatasetNotFoundError

    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    local = (
        'Or save it once where the hub is reachable and point data.path at the file: python -c '
        f'"from datasets import load_dataset; load_dataset({data.path!r}, split={split!r})'
        f'.to_json(\'data/{data.path.rsplit("/", 1)[-1]}.jsonl\')"'
    )
    if isinstance(exc, ConnectionError) or "offline" in first.lower():
        offline = " (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set)" if _offline() else ""
        return DataError(
            f"cannot reach the Hugging Face hub for the dataset {shown_id}{offline}: {first}",
            where="data.path",
            hint="If data.path is meant to be a local file, check the path (it is relative to "
            f"the recipe). {local}",
        )
    if isinstance(exc, (DatasetNotFoundError, FileNotFoundError)):
        return DataError(
            f"no dataset {shown_id} on the Hugging Face hub (or it is private or gated): {first}",
            where="data.path",
            hint="Check the id and data.revision, and log in (hf auth login) for a gated "
            f"dataset. {local}",
        )
    if isinstance(exc, ValueError) and ("split" in first.lower()):
        return DataError(f"{shown_id}: {first}", where=where, hint="Use one of its splits.")
    if isinstance(exc, ValueError) and ("config" in first.lower()):
        return DataError(f"{shown_id}: {first}", where="data.name",
                         hint="Set data.name to one of its configurations.")
    return DataError(f"cannot load {shown_id} from the hub: {first}", where="data.path", hint=local)


def _offline() -> bool:
    return any(os.environ.get(v, "").upper() in {"1", "ON", "YES", "TRUE"}
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _select(train: Rows, evaluate: Rows | None, data: DataSection) -> Splits:
    """Shuffle, cut to ``max_samples``, and hold out ``eval_fraction`` of the training rows."""
    for rows in (train, evaluate):
        if rows is None:
            continue
        if data.shuffle:
            rows.dataset = rows.dataset.shuffle(seed=data.seed)
        if data.max_samples is not None and len(rows.dataset) > data.max_samples:
            rows.dataset = rows.dataset.select(range(data.max_samples))
    if data.eval_fraction is not None:
        if len(train.dataset) < 2:
            raise DataError(
                f"{train.name} has {len(train.dataset)} row(s): too few to hold some out",
                where="data.eval_fraction", hint="Remove eval_fraction, or use more rows.",
            )
        held = math.ceil(len(train.dataset) * data.eval_fraction)  # as datasets counts them
        if held >= len(train.dataset):
            raise DataError(
                f"data.eval_fraction = {data.eval_fraction:g} of the {len(train.dataset)} rows of "
                f"{train.name} holds out {held}, which leaves no row to train on",
                where="data.eval_fraction",
                hint="Hold out a smaller fraction, such as 0.1.",
            )
        # already shuffled (or kept in order on purpose): take the held-out rows from the end
        # the seed splits nothing (no shuffle) but fixes the parts' fingerprints: without it they
        # are random in each process, and the tokenizing that follows is never served from cache
        parts = train.dataset.train_test_split(test_size=data.eval_fraction, shuffle=False,
                                               seed=data.seed)
        evaluate = Rows(parts["test"], train.files)
        train.dataset = parts["train"]
    return Splits(train, evaluate)

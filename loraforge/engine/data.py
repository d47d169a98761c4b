"""Rows → formatted samples → token ids and labels, through ``datasets``.

Each sample is tokenized segment by segment, so a prompt's tokens are
masked exactly (label -100) while the completion's are trained, and the
completion is split into tokens as the model will write it after the
prompt. The tokens the tokenizer puts before any text (BOS) come first, as
when the model is prompted. EOS ends every sample and is always kept in
the labels: padding is masked by the collator's ``label_pad_token_id``,
never by comparing ids with the pad token, so a tokenizer whose pad token
is its EOS still learns to stop.

A sample longer than ``max_length`` is cut to it, still ending in a trained
EOS; but one whose cut leaves nothing of its completion (the cut falls in
the prompt) is dropped and counted: it would teach only to stop, mid-prompt.

A row the formatter cannot use is an error naming its file, row and column
(the first such row in the file, however the rows were shuffled), or, with
``on_bad_rows = "skip"``, dropped and counted. The map over the
rows is cached by datasets' fingerprint (the rows, the formatter and its
options, the tokenizer, the settings), so the same recipe tokenizes once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loraforge.components import DatasetFormatter, RowError, Sample, Segment
from loraforge.engine.labels import IGNORE_INDEX, LENGTH
from loraforge.engine.sources import ROW, Rows, bad_row
from loraforge.engine.stats import DataStats, kept
from loraforge.errors import DataError
from loraforge.registry import component_errors, formatter_columns, wrong_return

if TYPE_CHECKING:
    from loraforge.recipe import DataSection

_BOOKKEEPING = ("trained", "truncated", "cut_off", "problem", ROW)


def check_columns(dataset, formatter: DatasetFormatter, source: str) -> None:
    columns = [c for c in dataset.column_names if c != ROW]
    wanted = formatter_columns(formatter)
    missing = sorted(wanted - set(columns))
    if missing:
        raise DataError(
            f"{source} has no column {', '.join(repr(m) for m in missing)} "
            f"(its columns: {', '.join(columns)})",
            where="data.formatter",
            hint="Rename the column in the formatter's options to one the data has.",
        )


def special_prefix(tokenizer) -> list[int]:
    """The ids the tokenizer puts before a text (BOS for LLaMA; nothing for many others)."""
    plain = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a")
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return full[:start]
    return []


def sample_tokens(sample: Sample, tokenizer, prefix: list[int],
                  train_on_prompt: bool = False) -> tuple[list[int], list[int], int]:
    """Ids and labels of a whole sample, before truncation and EOS, and where its completion starts.

    The completion is the first token of a trained segment (the length of
    the ids when there is none), whether or not ``train_on_prompt`` trains the
    prompt as well.
    """
    input_ids: list[int] = []
    labels: list[int] = []
    completion = None
    for segment in sample.segments:
        ids = tokenizer.encode(segment.text, add_special_tokens=False)
        if segment.trained and ids and completion is None:
            completion = len(input_ids)
        input_ids.extend(ids)
        labels.extend(ids if segment.trained or train_on_prompt else [IGNORE_INDEX] * len(ids))
    completion = len(input_ids) if completion is None else completion
    # a chat template may write BOS itself; a second one would be a token the model never sees
    if prefix and input_ids[: len(prefix)] != prefix:
        input_ids = prefix + input_ids
        labels = [IGNORE_INDEX] * len(prefix) + labels
        completion += len(prefix)
    return input_ids, labels, completion


def end_with_eos(input_ids: list[int], labels: list[int], eos: int,
                 max_length: int) -> tuple[list[int], list[int], bool]:
    """Cut to ``max_length`` and end in a trained EOS; also whether anything was cut."""
    if input_ids and input_ids[-1] == eos and labels[-1] == eos:
        if len(input_ids) <= max_length:
            return input_ids, labels, False  # the template already ends in a trained EOS
        input_ids, labels = input_ids[:-1], labels[:-1]
    truncated = len(input_ids) + 1 > max_length
    # keep room for EOS: a truncated sample still ends in a trained EOS
    input_ids = input_ids[: max_length - 1] + [eos]
    labels = labels[: max_length - 1] + [eos]
    return input_ids, labels, truncated


def encode_sample(sample: Sample, tokenizer, max_length: int, *, prefix: list[int] | None = None,
                  train_on_prompt: bool = False) -> dict[str, list[int]]:
    """Token ids and labels for one sample: what the tokenizer puts first, segments, EOS."""
    prefix = special_prefix(tokenizer) if prefix is None else prefix
    ids, labels, _ = sample_tokens(sample, tokenizer, prefix, train_on_prompt)
    ids, labels, _ = end_with_eos(ids, labels, tokenizer.eos_token_id, max_length)
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def format_row(formatter: DatasetFormatter, row: dict[str, Any]) -> Sample:
    """The formatter's sample for a row; RowError if it has nothing to train on.

    Anything but a :class:`Sample` is the plugin's bug, whatever the row: a
    PluginError naming it, not a bad row.
    """
    with component_errors(formatter, "format"):
        sample = formatter.format(row)
    if not isinstance(sample, Sample) or not all(
            isinstance(s, Segment) and isinstance(s.text, str) for s in sample.segments):
        raise wrong_return(formatter, "format", sample,
                           "a loraforge.components.Sample (Sample.of_text(text) or "
                           "Sample.of_prompt(prompt, completion)) of text segments")
    if not any(s.trained and s.text.strip() for s in sample.segments):
        raise RowError("nothing to train on: the completion is empty")
    return sample


def cut_off(completion: int, input_ids: list[int], truncated: bool) -> bool:
    """Whether truncation left none of a completion that starts at ``completion``.

    Of a truncated sample, all but the final EOS is what was kept.
    """
    return truncated and completion >= len(input_ids) - 1


class _BadRowFound(Exception):
    """Stops the map at a bad row: which one to report is chosen after it."""

    def __init__(self, number: int):
        super().__init__(number)
        self.number = number


def _bad_row_error(rows: Rows, number: int, exc: RowError) -> DataError:
    bad = bad_row(rows.files, number, exc.column, str(exc))
    return DataError(
        f"row {bad.row}{f', column {bad.column!r}' if bad.column else ''}: {exc}",
        where=bad.file,
        hint='Fix or remove the row, change the formatter\'s options, or set '
        'data.on_bad_rows = "skip" to drop such rows and count them.',
    )


def _first_bad_row(rows: Rows, formatter: DatasetFormatter, found: int) -> DataError:
    """The error for the first bad row in file order, up to the row ``found`` bad in shuffled order."""
    numbers = rows.dataset[ROW]
    earlier = sorted((n, i) for i, n in enumerate(numbers) if n <= found)
    for row in rows.dataset.select([i for _, i in earlier]):
        try:
            format_row(formatter, {k: v for k, v in row.items() if k != ROW})
        except RowError as exc:
            return _bad_row_error(rows, row[ROW], exc)
    raise RuntimeError(f"row number {found} failed to format, then did not")  # a formatter with state


@dataclass
class Tokenized:
    """A split's samples, ready to batch, and what became of its rows."""

    dataset: Any
    stats: DataStats


def module_code(name: str) -> str:
    """The source of an imported module ('' when it has none on disk)."""
    import inspect
    import sys

    try:
        return inspect.getsource(sys.modules[name])
    except (OSError, TypeError, KeyError):
        return ""


def tokenize_fingerprint(dataset: Any, encode: Any, formatter: DatasetFormatter) -> str:
    """The cache key of tokenized rows.

    datasets hashes ``encode`` with the formatter pickled by reference (its
    class's name), so an edited ``format`` would be served the old samples;
    the code of the formatter's module and of this one, and loraforge's
    version, go into the key too.
    """
    from datasets.fingerprint import Hasher

    from loraforge import __version__

    return Hasher.hash([dataset._fingerprint, Hasher.hash(encode),
                        module_code(type(formatter).__module__), module_code(__name__), __version__])


class RowCounter:
    """Calls ``report(done, total)`` as rows are tokenized: at most every ``every`` rows and 1%."""

    def __init__(self, total: int, report: Callable[[int, int], None], every: int = 500) -> None:
        self.total = total
        self.report = report
        self.step = max(every, total // 100)
        self.done = 0

    def __call__(self, encode: Callable[[dict[str, Any]], dict[str, Any]]):
        def counted(row: dict[str, Any]) -> dict[str, Any]:
            encoded = encode(row)
            self.done += 1
            if self.done % self.step == 0 or self.done == self.total:
                self.report(self.done, self.total)
            return encoded

        return counted


def tokenize(rows: Rows, formatter: DatasetFormatter, tokenizer, data: DataSection,
             progress: Callable[[int, int], None] | None = None) -> Tokenized:
    """Format and tokenize every row with ``datasets.map``; bad and long rows as ``data`` says.

    ``progress(done, total)`` is told how many rows are done as they are
    (not at all when the tokenized rows come from the cache).
    """
    if tokenizer.eos_token_id is None:
        raise DataError("the tokenizer has no EOS token", where="model.path",
                        hint="Use a tokenizer that defines eos_token.")
    check_columns(rows.dataset, formatter, rows.name)
    with component_errors(formatter, "set_tokenizer"):
        formatter.set_tokenizer(tokenizer)
    skip, files = data.on_bad_rows == "skip", rows.files
    max_length, train_on_prompt = data.max_length, data.train_on_prompt
    prefix, eos = special_prefix(tokenizer), tokenizer.eos_token_id

    def encode(row: dict[str, Any]) -> dict[str, Any]:
        number = row[ROW]
        try:
            sample = format_row(formatter, {k: v for k, v in row.items() if k != ROW})
        except RowError as exc:
            if not skip:
                raise _BadRowFound(number) from None
            return {"input_ids": [], "attention_mask": [], "labels": [], LENGTH: 0,
                    "trained": 0, "truncated": False, "cut_off": False,
                    "problem": str(bad_row(files, number, exc.column, str(exc))), ROW: number}
        ids, labels, completion = sample_tokens(sample, tokenizer, prefix, train_on_prompt)
        ids, labels, truncated = end_with_eos(ids, labels, eos, max_length)
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels,
                LENGTH: len(ids), "trained": sum(1 for x in labels if x != IGNORE_INDEX),
                "truncated": truncated, "cut_off": cut_off(completion, ids, truncated),
                "problem": None, ROW: number}

    # the cache key is that of the rows and the code, never of whoever watches the progress
    fingerprint = tokenize_fingerprint(rows.dataset, encode, formatter)
    function = RowCounter(len(rows.dataset), progress)(encode) if progress else encode
    try:
        encoded = rows.dataset.map(function, remove_columns=rows.dataset.column_names,
                                   desc="Tokenizing", new_fingerprint=fingerprint)
    except _BadRowFound as found:
        # the rows may be shuffled: the first bad one met is not the first in the file
        raise _first_bad_row(rows, formatter, found.number) from None
    stats = DataStats.count(encoded, rows.bad, data, rows.files)
    if stats.samples == 0:
        first = stats.bad_examples[0] if stats.bad_examples else (
            f"every sample was longer than max_length ({max_length} tokens)"
            + (" and lost its whole completion to it" if stats.cut_off_rows else ""))
        raise DataError(
            f"no usable rows in {rows.name} ({stats.rows} read); the first problem: {first}",
            where="data.path", hint="Check the formatter's options against the data.",
        )
    if stats.samples < stats.rows - len(rows.bad):
        encoded = encoded.filter(kept, input_columns=["problem", "truncated", "cut_off"],
                                 fn_kwargs={"drop_long": data.on_long_rows == "drop"})
    return Tokenized(encoded.remove_columns(list(_BOOKKEEPING)), stats)

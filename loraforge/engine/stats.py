"""What became of a split's rows: how many were used, bad or too long, and their tokens.

The run logs these numbers and records them in ``run.json``; ``loraforge
preview`` shows them as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loraforge.engine.sources import ROW

if TYPE_CHECKING:
    from loraforge.engine.sources import BadRow
    from loraforge.recipe import DataSection

# bad rows named in the log and in run.json; the rest are only counted
EXAMPLES = 5


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, plural unless it is one: "1 sample", "1,024 samples"."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def kept(problem: str | None, truncated: bool, cut_off: bool, drop_long: bool) -> bool:
    """Whether a tokenized row is a sample to train on.

    Not if it is bad, nor if truncating it cut off its whole completion, nor
    if it is long and long rows are dropped.
    """
    return problem is None and not cut_off and not (drop_long and truncated)


@dataclass
class DataStats:
    """Counts over one split: rows read, bad rows, long rows, samples kept and their tokens.

    ``long_rows`` counts the samples longer than ``max_length``, truncated or
    dropped as ``long_action`` says; of those truncated, ``cut_off_rows`` lost
    their whole completion to the cut and were dropped instead.
    """

    rows: int
    samples: int
    bad_rows: int
    long_rows: int
    long_action: str
    max_length: int
    trained_tokens: int
    tokens: int
    cut_off_rows: int = 0
    bad_examples: list[str] = field(default_factory=list)
    """The first bad rows in file order."""
    lengths: list[int] = field(default_factory=list, repr=False)
    """Tokens of each sample kept, EOS included."""

    @classmethod
    def count(cls, encoded: Any, read_bad: list[BadRow], data: DataSection,
              files: list[tuple[str, int]]) -> DataStats:
        """Count over a tokenized split that still has its bookkeeping columns.

        ``read_bad`` are the rows dropped while reading the ``files`` (name and
        first row number of each, as :class:`~loraforge.engine.sources.Rows`
        has them).
        """
        problems = list(encoded["problem"])
        truncated = list(encoded["truncated"])
        cut_off = list(encoded["cut_off"])
        drop_long = data.on_long_rows == "drop"
        keep = [kept(p, t, c, drop_long) for p, t, c in zip(problems, truncated, cut_off)]
        lengths = [n for n, k in zip(encoded["length"], keep) if k]
        # in file order, however the rows were shuffled: by the number each row has in its split
        starts = dict(files)
        bad = sorted([(starts[b.file] + b.row - 1, str(b)) for b in read_bad]
                     + [(n, p) for n, p in zip(encoded[ROW], problems) if p is not None])
        return cls(
            rows=len(problems) + len(read_bad),
            samples=len(lengths),
            bad_rows=len(bad),
            long_rows=sum(1 for p, t in zip(problems, truncated) if p is None and t),
            long_action="dropped" if drop_long else "truncated",
            max_length=data.max_length,
            trained_tokens=sum(n for n, k in zip(encoded["trained"], keep) if k),
            tokens=sum(lengths),
            cut_off_rows=0 if drop_long else sum(
                1 for p, c in zip(problems, cut_off) if p is None and c),
            bad_examples=[text for _, text in bad[:EXAMPLES]],
            lengths=lengths,
        )

    @property
    def masked_tokens(self) -> int:
        return self.tokens - self.trained_tokens

    def spread(self) -> dict[str, int]:
        """Tokens per sample: min, median, 95th percentile, max."""
        if not self.lengths:
            return {"min": 0, "median": 0, "p95": 0, "max": 0}
        ordered = sorted(self.lengths)

        def at(fraction: float) -> int:
            return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

        return {"min": ordered[0], "median": at(0.5), "p95": at(0.95), "max": ordered[-1]}

    def record(self) -> dict[str, Any]:
        """The counts as ``run.json`` keeps them."""
        return {
            "rows": self.rows,
            "samples": self.samples,
            "bad_rows": self.bad_rows,
            "bad_row_examples": self.bad_examples,
            "long_rows": self.long_rows,
            "long_rows_action": self.long_action,
            "long_rows_cut_off": self.cut_off_rows,
            "max_length": self.max_length,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "tokens_per_sample": self.spread(),
        }

    def log_lines(self, name: str) -> list[str]:
        """What the run says about the split, one line each."""
        lines = [
            f"{counted(self.samples, 'sample')} from {name}: {self.tokens:,} tokens, "
            f"{self.trained_tokens:,} of them trained"
        ]
        if self.bad_rows:
            more = f" (and {self.bad_rows - len(self.bad_examples):,} more)" if (
                self.bad_rows > len(self.bad_examples)) else ""
            lines.append(f"skipped {counted(self.bad_rows, 'bad row')}: "
                         f"{'; '.join(self.bad_examples)}{more}")
        if self.long_rows:
            longer = (f"{counted(self.long_rows, 'sample')} {_was(self.long_rows)} longer than "
                      f"max_length ({self.max_length} tokens)")
            if self.cut_off_rows:
                cut, truncated = self.cut_off_rows, self.long_rows - self.cut_off_rows
                whose = "its whole completion was" if cut == 1 else "their whole completions were"
                lines.append(f"{longer}: {truncated:,} {_was(truncated)} truncated, {cut:,} "
                             f"{_was(cut)} dropped because {whose} cut off")
            else:
                lines.append(f"{longer} and {_was(self.long_rows)} {self.long_action}")
        return lines

    def long_summary(self) -> str:
        """What became of the long samples, in a few words: "3 truncated", "2: 1 truncated, 1 dropped (…)"."""
        if not self.cut_off_rows:
            return f"{self.long_rows:,} {self.long_action}"
        return (f"{self.long_rows:,}: {self.long_rows - self.cut_off_rows:,} truncated, "
                f"{self.cut_off_rows:,} dropped (completion cut off)")


def _was(number: int) -> str:
    return "was" if number == 1 else "were"

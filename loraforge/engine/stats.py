"""What became of a split's rows: how many were used, bad or too long, and their tokens.

The run logs these numbers and records them in ``run.json``; ``loraforge
preview`` shows them as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loraforge.engine.sources import BadRow
    from loraforge.recipe import DataSection

# bad rows named in the log and in run.json; the rest are only counted
EXAMPLES = 5


@dataclass
class DataStats:
    """Counts over one split: rows read, bad rows, long rows, samples kept and their tokens."""

    rows: int
    samples: int
    bad_rows: int
    long_rows: int
    long_action: str
    max_length: int
    trained_tokens: int
    tokens: int
    bad_examples: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list, repr=False)
    """Tokens of each sample kept, EOS included."""

    @classmethod
    def count(cls, encoded: Any, read_bad: list[BadRow], data: DataSection) -> DataStats:
        """Count over a tokenized split that still has its bookkeeping columns."""
        problems = encoded["problem"]
        truncated = encoded["truncated"]
        drop_long = data.on_long_rows == "drop"
        keep = [p is None and not (drop_long and t) for p, t in zip(problems, truncated)]
        lengths = [n for n, k in zip(encoded["length"], keep) if k]
        bad = [str(b) for b in read_bad] + [p for p in problems if p is not None]
        return cls(
            rows=len(problems) + len(read_bad),
            samples=len(lengths),
            bad_rows=len(bad),
            long_rows=sum(1 for p, t in zip(problems, truncated) if p is None and t),
            long_action="dropped" if drop_long else "truncated",
            max_length=data.max_length,
            trained_tokens=sum(n for n, k in zip(encoded["trained"], keep) if k),
            tokens=sum(lengths),
            bad_examples=bad[:EXAMPLES],
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
            "max_length": self.max_length,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "tokens_per_sample": self.spread(),
        }

    def log_lines(self, name: str) -> list[str]:
        """What the run says about the split, one line each."""
        lines = [
            f"{self.samples:,} samples from {name}: {self.tokens:,} tokens, "
            f"{self.trained_tokens:,} of them trained"
        ]
        if self.bad_rows:
            more = f" (and {self.bad_rows - len(self.bad_examples)} more)" if (
                self.bad_rows > len(self.bad_examples)) else ""
            lines.append(f"skipped {self.bad_rows:,} bad rows: {'; '.join(self.bad_examples)}{more}")
        if self.long_rows:
            lines.append(f"{self.long_rows:,} samples were longer than max_length "
                         f"({self.max_length} tokens) and were {self.long_action}")
        return lines

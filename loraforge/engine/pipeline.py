"""The datasets the Trainer gets: each split tokenized (:mod:`.data`), then packed if asked (:mod:`.batches`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loraforge.components import DatasetFormatter
from loraforge.engine.batches import pack, pad_id
from loraforge.engine.data import tokenize
from loraforge.engine.sources import Splits
from loraforge.engine.stats import DataStats, counted

if TYPE_CHECKING:
    from loraforge.recipe import DataSection


@dataclass
class PreparedData:
    """The datasets the Trainer gets (packed if the recipe asks), and what became of the rows."""

    train: Any
    stats: DataStats
    eval: Any = None
    eval_stats: DataStats | None = None

    @property
    def packed_blocks(self) -> int | None:
        return len(self.train) if "position_ids" in self.train.column_names else None

    def record(self) -> dict[str, Any]:
        """What ``run.json`` keeps about the data."""
        record = {"train": self.stats.record()}
        if self.eval_stats is not None:
            record["eval"] = self.eval_stats.record()
        if self.packed_blocks is not None:
            record["packed_blocks"] = self.packed_blocks
        return record

    def log_lines(self, name: str) -> list[str]:
        """What the run says about its data, one line each."""
        lines = self.stats.log_lines(name)
        if self.eval_stats is not None:
            lines += [f"to evaluate: {line}" for line in self.eval_stats.log_lines(name)]
        if self.packed_blocks is not None:
            lines.append(f"packed into {counted(self.packed_blocks, 'block')} "
                         f"of {self.stats.max_length} tokens")
        return lines


def prepare(splits: Splits, formatter: DatasetFormatter, tokenizer, data: DataSection,
            progress: Callable[[str, int, int], None] | None = None) -> PreparedData:
    """Tokenize the training (and evaluation) rows, then pack them if ``data.packing``.

    ``progress(split, done, total)`` is told how far tokenizing each split has got.
    """
    def told(split: str) -> Callable[[int, int], None] | None:
        return None if progress is None else lambda done, total: progress(split, done, total)

    train = tokenize(splits.train, formatter, tokenizer, data, told("train"))
    evaluate = (tokenize(splits.eval, formatter, tokenizer, data, told("eval"))
                if splits.eval else None)
    prepared = PreparedData(train.dataset, train.stats,
                            evaluate and evaluate.dataset, evaluate and evaluate.stats)
    if data.packing:
        prepared.train = pack(prepared.train, data.max_length, pad_id(tokenizer))
        if prepared.eval is not None:
            prepared.eval = pack(prepared.eval, data.max_length, pad_id(tokenizer))
    return prepared

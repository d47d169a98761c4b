"""What the model will see: samples with trained and masked tokens told apart, and the numbers.

Only the tokenizer is loaded, never the weights. The samples go through the
same cached pipeline as a run (a preview's tokenizing is reused by the run
that follows). ``loraforge preview`` prints the renderables made here; the
wizard's dataset step shows the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loraforge.engine.data import IGNORE_INDEX, tokenize
from loraforge.engine.stats import DataStats, counted
from loraforge.plan import Plan
from loraforge.registry import component_errors

TRAINED = "bold green"
MASKED = "grey50"
BARS = "▁▂▃▄▅▆▇█"


@dataclass
class Preview:
    """The first samples of the training split, and the numbers over all of it."""

    name: str
    samples: list[dict[str, list[int]]]
    stats: DataStats
    tokenizer: Any
    packed_blocks: int | None = None


def build_preview(plan: Plan, count: int, tokenizer: Any = None,
                  progress: Callable[[int, int], None] | None = None) -> Preview:
    """Load the tokenizer (unless given) and the data, and tokenize as a run would.

    ``progress(done, total)`` is told how many rows are tokenized, as they are.
    """
    import datasets

    from loraforge.engine.batches import pack, pad_id
    from loraforge.engine.model import model_spec
    from loraforge.engine.sources import load_splits

    datasets.disable_progress_bars()  # the preview is the output; no bars around it
    data = plan.recipe.data
    splits = load_splits(plan.recipe)
    if tokenizer is None:
        with component_errors(plan.loader, "load_tokenizer"):
            tokenizer = plan.loader.load_tokenizer(model_spec(plan))
    tokenized = tokenize(splits.train, plan.formatter, tokenizer, data, progress)
    first = tokenized.dataset.select(range(min(count, len(tokenized.dataset))))
    samples = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in first]
    blocks = None
    if data.packing:
        blocks = len(pack(tokenized.dataset, data.max_length, pad_id(tokenizer)))
    return Preview(splits.train.name, samples, tokenized.stats, tokenizer, blocks)


def runs(input_ids: list[int], labels: list[int]) -> list[tuple[list[int], bool]]:
    """The sample's ids in runs of trained or masked tokens, in order."""
    found: list[tuple[list[int], bool]] = []
    for token, label in zip(input_ids, labels):
        trained = label != IGNORE_INDEX
        if found and found[-1][1] == trained:
            found[-1][0].append(token)
        else:
            found.append(([token], trained))
    return found


def sample_text(sample: dict[str, list[int]], tokenizer: Any, *, marks: bool = False):
    """A rich ``Text`` of the sample: trained tokens in one style, masked in another.

    Each run is decoded whole, so characters split over tokens come out
    right. ``marks`` also wraps trained runs in ⟦ ⟧, for output without colour.
    """
    from rich.text import Text

    text = Text()
    for ids, trained in runs(sample["input_ids"], sample["labels"]):
        piece = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if trained and marks:
            piece = f"⟦{piece}⟧"
        text.append(piece, style=TRAINED if trained else MASKED)
    return text


def histogram(lengths: list[int], bins: int = 16) -> str:
    """A one-line histogram of ``lengths`` from the shortest to the longest."""
    if not lengths:
        return ""
    low, high = min(lengths), max(lengths)
    width = max(1, high - low + 1)
    counts = [0] * min(bins, width)
    for n in lengths:
        counts[(n - low) * len(counts) // width] += 1
    top = max(counts)
    return "".join(BARS[0] if c == 0 else BARS[max(1, round(c / top * (len(BARS) - 1)))]
                   for c in counts)


def stats_table(preview: Preview):
    """The numbers over the whole training split, as a rich ``Table``."""
    from rich.table import Table

    stats = preview.stats
    spread = stats.spread()
    table = Table(title=f"{preview.name}", title_justify="left", show_header=False, box=None,
                  padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    bad = f", {stats.bad_rows:,} bad (skipped)" if stats.bad_rows else ""
    table.add_row("rows", f"{stats.rows:,} read{bad}; {counted(stats.samples, 'sample')}")
    table.add_row(
        "tokens per sample",
        f"min {spread['min']} · median {spread['median']} · p95 {spread['p95']} · max {spread['max']}",
    )
    table.add_row("", f"{histogram(stats.lengths)}  ({spread['min']}–{spread['max']})")
    table.add_row(f"longer than {stats.max_length}", stats.long_summary())
    total = max(1, stats.tokens)
    table.add_row(
        "tokens",
        f"{stats.tokens:,}: [{TRAINED}]{stats.trained_tokens:,} trained "
        f"({100 * stats.trained_tokens / total:.0f}%)[/] · [{MASKED}]{stats.masked_tokens:,} "
        f"masked ({100 * stats.masked_tokens / total:.0f}%)[/]",
    )
    if preview.packed_blocks is not None:
        table.add_row("packing", f"{counted(stats.samples, 'sample')} in "
                                 f"{counted(preview.packed_blocks, 'block')} of {stats.max_length} tokens")
    if stats.bad_examples:
        table.add_row("first bad rows", "\n".join(stats.bad_examples))
    return table

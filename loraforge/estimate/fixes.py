"""The cheapest changes that make a recipe fit a card, each with its new estimate.

The candidates, cheapest first: gradient checkpointing (more compute, the
same result), batch 1 with more accumulation (the same effective batch,
slower), 8-bit then 4-bit weights (less memory, a little quality), a
shorter ``max_length`` (changes what is trained on). Each is tried alone;
when none is enough, they are combined in that order until the recipe fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loraforge.estimate.memory import Estimate
from loraforge.recipe import Recipe

MIN_LENGTH = 128


@dataclass
class Fix:
    """A change to the recipe, in words and as fields, and the estimate with it."""

    label: str
    changes: dict[tuple[str, str], Any]
    estimate: Estimate

    @property
    def overrides(self) -> list[str]:
        """The change as ``--set`` arguments."""
        import json

        return [f"{a}.{b}={json.dumps(v)}" for (a, b), v in self.changes.items()]


def candidates(recipe: Recipe) -> list[tuple[str, dict[tuple[str, str], Any]]]:
    """Single changes that lower the peak, cheapest first."""
    train, found = recipe.train, []
    if not train.gradient_checkpointing:
        found.append(("gradient checkpointing on", {("train", "gradient_checkpointing"): True}))
    if train.batch_size > 1:
        found.append((f"batch 1 with accumulation {train.batch_size * train.grad_accum} (the "
                      "same effective batch)", {("train", "batch_size"): 1,
                                                 ("train", "grad_accum"): train.batch_size
                                                 * train.grad_accum}))
    if recipe.model.quantization == "none":
        found.append(("8-bit base weights", {("model", "quantization"): "8bit"}))
    if recipe.model.quantization != "4bit":
        found.append(("4-bit base weights (NF4)", {("model", "quantization"): "4bit"}))
    if recipe.data.max_length > MIN_LENGTH:
        shorter = max(MIN_LENGTH, recipe.data.max_length // 2)
        found.append((f"max_length {shorter}", {("data", "max_length"): shorter}))
    return found


def changed(recipe: Recipe, changes: dict[tuple[str, str], Any]) -> Recipe:
    """A copy of ``recipe`` with ``changes`` (section, field) → value."""
    copy = recipe.model_copy(deep=True)
    copy._source = recipe.source
    for (section, key), value in changes.items():
        setattr(getattr(copy, section), key, value)
    return copy


def fixes(recipe: Recipe, memory: int, *, plugins: Any = None, limit: int = 4) -> list[Fix]:
    """Up to ``limit`` changes after which the recipe fits ``memory`` bytes, cheapest first."""
    from loraforge.estimate.estimator import estimate

    options = candidates(recipe)
    found = []
    for label, change in options:
        alone = estimate(changed(recipe, change), plugins=plugins)
        if alone.total <= memory:
            found.append(Fix(label, change, alone))
    if found:
        return found[:limit]
    # nothing alone is enough: the changes together, cheapest first, until it fits
    together: dict[tuple[str, str], Any] = {}
    for number, (_, change) in enumerate(options, start=1):
        together.update(change)
        result = estimate(changed(recipe, together), plugins=plugins)
        if result.total <= memory:
            label = " + ".join(label for label, _ in options[:number])
            return [Fix(label, dict(together), result)]
    return []

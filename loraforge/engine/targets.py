"""Checking a selection of target modules against the model (:mod:`loraforge.modules` lists them).

peft matches a list of target names against full module names: a name
matches a module when it is the full dotted name or its last components
(``q_proj`` matches ``model.layers.0.self_attn.q_proj``). peft silently skips
a name that matches nothing as long as another name matches, so a misspelt
target would train less than asked; the selection is checked here first and
the user is shown the names that would work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loraforge.errors import ModelError
from loraforge.modules import leaf_name, linear_module_names, matches, output_head


def check_targets(model: Any, names: Sequence[str]) -> list[str]:
    """Return ``names`` without duplicates, or raise if one matches no linear module."""
    unique = list(dict.fromkeys(names))
    linear = linear_module_names(model)
    leaves = ", ".join(sorted({leaf_name(n) for n in linear})) or "none"
    if not unique:
        raise ModelError(
            "no target modules were selected",
            where="lora.targets",
            hint=f"Name at least one module; the model's linear modules are: {leaves}.",
        )
    unmatched = [name for name in unique if not any(matches(name, full) for full in linear)]
    if not unmatched:
        return unique

    problems = _describe_unmatched(model, unmatched)
    raise ModelError(
        f"{'; '.join(problems)}; its linear modules are: {leaves}",
        where="lora.targets",
        hint='Use names from that list in lora.targets, or a selector that adapts to the model: '
        '"auto" (the family\'s usual targets) or "all-linear".',
    )


def _describe_unmatched(model: Any, unmatched: list[str]) -> list[str]:
    """One phrase per kind of miss, so the user knows whether a name is misspelt or misplaced."""
    head = output_head(model)
    head_names = [name for name, module in model.named_modules() if name and module is head]
    present = [name for name, _ in model.named_modules() if name]
    groups: dict[str, list[str]] = {}
    for name in unmatched:
        if any(matches(name, full) for full in head_names):
            kind = "the output head, which is not adapted"
        elif any(matches(name, full) for full in present):
            kind = "not a Linear or Conv1D layer"
        else:
            kind = "missing"
        groups.setdefault(kind, []).append(name)
    return [
        f"the model has no module named {_quoted(group)}" if kind == "missing"
        else f"{_quoted(group)} {'is' if len(group) == 1 else 'are'} {kind}"
        for kind, group in groups.items()
    ]


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)

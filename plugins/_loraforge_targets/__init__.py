"""The built-in target selectors: where LoRA layers go.

A recipe's ``lora.targets`` names one of these (``"auto"``, ``"qv"``,
``"attention"``, ``"all-linear"``, ``"regex"``) or lists module names, which
become the ``modules`` selector. Every selection is checked against the model
by the engine before peft applies it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loraforge.components import TargetSelector
from loraforge.errors import ModelError
from loraforge.hookspecs import hookimpl
from loraforge.modules import leaf_name, linear_module_names


class Auto(TargetSelector):
    """The model family's usual targets, as its loader declares them."""

    name = "auto"
    description = "The model family's usual targets (q_proj and v_proj for LLaMA)."

    def select(self, model: Any, defaults: Sequence[str]) -> list[str]:
        return list(defaults)


class QueryValue(TargetSelector):
    """The query and value projections, as in the LoRA paper."""

    name = "qv"
    description = "The attention query and value projections (q_proj, v_proj)."

    def select(self, model: Any, defaults: Sequence[str]) -> list[str]:
        return ["q_proj", "v_proj"]


class Attention(TargetSelector):
    """All four attention projections, by their LLaMA-style names."""

    name = "attention"
    description = "All attention projections (q_proj, k_proj, v_proj, o_proj)."

    def select(self, model: Any, defaults: Sequence[str]) -> list[str]:
        return ["q_proj", "k_proj", "v_proj", "o_proj"]


class AllLinear(TargetSelector):
    """Every linear layer but the output head: more capacity, more memory."""

    name = "all-linear"
    description = "Every linear layer except the output head (attention and MLP)."

    def select(self, model: Any, defaults: Sequence[str]) -> list[str]:
        return sorted({leaf_name(full) for full in linear_module_names(model)})


class ModulesOptions(BaseModel):
    """Options of the ``modules`` selector."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(
        min_length=1, title="Module names",
        description='Module names: leaf names such as "q_proj" match that module in every '
        'layer; full dotted names such as "model.layers.0.self_attn.q_proj" match one.',
    )

    @field_validator("names")
    @classmethod
    def _not_blank(cls, names: list[str]) -> list[str]:
        names = [n.strip() for n in names]
        if not all(names):
            raise ValueError("a module name is empty")
        return names


class Modules(TargetSelector):
    """Modules named explicitly (what a list in ``lora.targets`` becomes)."""

    name = "modules"
    description = "Modules named explicitly, by leaf or full dotted name."
    Options = ModulesOptions

    def select(self, model: Any, defaults: Sequence[str]) -> list[str]:
        return list(self.options.names)


class RegexOptions(BaseModel):
    """Options of the ``regex`` selector."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(
        title="Pattern",
        description="A Python regular expression that must match a module's whole dotted "
        r'name, e.g. "model\.layers\.(2[4-9]|3[01])\.self_attn\.(q|v)_proj" for the last '
        "eight layers' q and v.",
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return pattern


class Regex(TargetSelector):
    """Linear modules whose full dotted name matches a pattern, as peft matches a string."""

    name = "regex"
    description = "Linear modules whose full dotted name matches a regular expression."
    Options = RegexOptions

    def select(self, model: Any, defaults: Sequence[str]) -> list[str]:
        pattern = re.compile(self.options.pattern)
        linear = linear_module_names(model)
        chosen = [full for full in linear if pattern.fullmatch(full)]
        if not chosen:
            examples = ", ".join(linear[:3])
            raise ModelError(
                f"the pattern {self.options.pattern!r} matches no linear module",
                where="lora.targets.pattern",
                hint=f"The pattern must match a whole dotted name, such as: {examples}.",
            )
        return chosen


@hookimpl
def register_target_selectors(register):
    for selector in (Auto, QueryValue, Attention, AllLinear, Modules, Regex):
        register(selector)

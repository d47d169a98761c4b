"""The ``template`` formatter: a Python format string over the row's columns.

``template = "Review: {text} Label: {label}"`` trains on the whole filled-in
text. With ``completion`` as well, ``template`` is the prompt (seen but not
trained on) and ``completion`` is what the model learns to write after it::

    template = "Review: {text}\\nSentiment:"
    completion = " {label}"
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loraforge.components import DatasetFormatter, RowError, Sample
from loraforge_formatters import rows

_CONVERSIONS = {None, "r", "s", "a"}


@functools.lru_cache(maxsize=64)  # called for every row with the same few templates
def template_columns(template: str) -> tuple[str, ...]:
    """The columns a template names, in order; ValueError for a template loraforge cannot fill."""
    found: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"{exc} in {template!r} (write {{{{ and }}}} for literal braces)"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise ValueError(
                f"{template!r} has a positional field {{{field}}}; name the column instead, "
                "e.g. {text}"
            )
        if any(c in field for c in ".[]"):
            raise ValueError(
                f"{template!r} has the field {{{field}}}; only plain column names are supported"
            )
        if conversion not in _CONVERSIONS:
            raise ValueError(f"{template!r} has the unknown conversion !{conversion}")
        found.append(field)
        if spec:  # a spec may itself hold fields, as in {text:>{width}}
            found.extend(template_columns(spec))
    return tuple(dict.fromkeys(found))


def _check(template: str) -> str:
    if not template_columns(template):
        raise ValueError(f"{template!r} names no column; use e.g. {{text}} to insert a column")
    return template


class TemplateOptions(BaseModel):
    """Options of the ``template`` formatter."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(
        title="Template",
        description='A Python format string over the row\'s columns, e.g. '
        '"Review: {text} Label: {label}". Write {{ and }} for literal braces.',
    )
    completion: str | None = Field(
        None, title="Completion template",
        description="If set, a second format string the model learns to write; the template "
        "is then the prompt, shown but left out of the loss. It follows the prompt "
        'directly, so start it with a space or newline if one is wanted, e.g. " {label}".',
    )

    @field_validator("template")
    @classmethod
    def _check_template(cls, value: str) -> str:
        return _check(value)

    @field_validator("completion")
    @classmethod
    def _check_completion(cls, value: str | None) -> str | None:
        return None if value is None else _check(value)


def _fill(template: str, row: Mapping[str, Any]) -> str:
    values = {name: rows.scalar(row, name) for name in template_columns(template)}
    try:
        return template.format_map(values)
    except (ValueError, TypeError) as exc:  # a format spec that does not fit the value's type
        raise RowError(f"cannot fill {template!r}: {exc}") from None


class Template(DatasetFormatter):
    """Fills a format string with each row's columns; optionally a prompt and a completion."""

    name = "template"
    description = 'Fill a format string with the columns, e.g. "Review: {text} Label: {label}".'
    Options = TemplateOptions

    def columns(self) -> set[str]:
        names = set(template_columns(self.options.template))
        if self.options.completion is not None:
            names.update(template_columns(self.options.completion))
        return names

    def format(self, row: Mapping[str, Any]) -> Sample:
        prompt = _fill(self.options.template, row)
        if self.options.completion is None:
            return Sample.of_text(prompt)
        return Sample.of_prompt(prompt, _fill(self.options.completion, row))

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
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from _loraforge_formatters import rows
from loraforge.components import DatasetFormatter, RowError, Sample, Segment

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

    def prompt(self, row: Mapping[str, Any]) -> Sample:
        """The filled ``template`` when there is a ``completion``; else the template up to an answer.

        A template trained whole (``"Review: {text} Label: {label}"``) is cut
        before the first field whose column the row lacks, or before its last
        field when the row has them all: the model is asked for what it
        learned to write there (`` positive``).
        """
        if self.options.completion is not None:
            return Sample((Segment(_fill(self.options.template, row), False),))
        return Sample((Segment(_fill(_cut_before_answer(self.options.template, row), row), False),))

    def input_row(self, text: str, history: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """``text`` in the template's first column (``{text}`` in ``"Review: {text}"``)."""
        return {template_columns(self.options.template)[0]: text}


def _cut_before_answer(template: str, row: Mapping[str, Any]) -> str:
    """The part of ``template`` before its first field missing from ``row``, or before its last.

    Spaces before the answer stay with it: a tokenizer writes `` positive`` as
    one token, which the prompt must not have begun. A template with one field,
    which the row has, is all prompt: the model continues the text.
    """
    pieces = list(string.Formatter().parse(template))
    fields = [i for i, (_, field, _, _) in enumerate(pieces) if field is not None]
    missing = [i for i in fields if pieces[i][1] not in row]
    if not missing and len(fields) == 1:
        return template
    answer = missing[0] if missing else fields[-1]
    if answer == fields[0]:
        raise RowError(f"the prompt needs column {pieces[answer][1]!r}", column=pieces[answer][1])
    kept = []
    for literal, field, spec, conversion in pieces[:answer]:
        kept.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is not None:
            kept.append("{" + field + (f"!{conversion}" if conversion else "")
                        + (f":{spec}" if spec else "") + "}")
    kept.append(pieces[answer][0].rstrip(" ").replace("{", "{{").replace("}", "}}"))
    return "".join(kept)

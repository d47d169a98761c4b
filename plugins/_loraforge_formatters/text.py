"""The ``text`` formatter: one column holds the whole training text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from _loraforge_formatters import rows
from loraforge.components import DatasetFormatter, Sample, Segment


class TextOptions(BaseModel):
    """Options of the ``text`` formatter."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        "text", min_length=1, title="Text column", description="The column holding the text to train on."
    )


class Text(DatasetFormatter):
    """Trains on one column's text as it is, every token in the loss."""

    name = "text"
    description = "Train on one column's text as it is."
    Options = TextOptions

    def columns(self) -> set[str]:
        return {self.options.column}

    def format(self, row: Mapping[str, Any]) -> Sample:
        return Sample.of_text(rows.text(row, self.options.column))

    def prompt(self, row: Mapping[str, Any]) -> Sample:
        """The row's text, for the model to continue: every token was trained, none is an answer."""
        return Sample((Segment(rows.text(row, self.options.column), False),))

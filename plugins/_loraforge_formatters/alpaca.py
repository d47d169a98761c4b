"""The ``alpaca`` formatter: instruction, optional input, and the output the model learns.

Rows are written into the prompt of Stanford Alpaca (with or without the
input paragraph, as the row has one or not); the output is the completion,
the only part in the loss unless ``data.train_on_prompt`` is set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from _loraforge_formatters import rows
from loraforge.components import DatasetFormatter, Sample, Segment

PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
PROMPT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
)


class AlpacaOptions(BaseModel):
    """Options of the ``alpaca`` formatter: which columns hold each part."""

    model_config = ConfigDict(extra="forbid")

    instruction: str = Field("instruction", min_length=1, title="Instruction column",
                             description="The column with the instruction.")
    input: str = Field(
        "input", min_length=1, title="Input column",
        description="The column with the input the instruction refers to; a row without it "
        "(or with it empty) gets the prompt without an input.",
    )
    output: str = Field("output", min_length=1, title="Output column",
                        description="The column with the response to learn.")


class Alpaca(DatasetFormatter):
    """Alpaca-style instruction data: the prompt is masked, the output is trained."""

    name = "alpaca"
    description = "Instruction/input/output rows in the Alpaca prompt; the output is trained."
    Options = AlpacaOptions

    def columns(self) -> set[str]:
        return {self.options.instruction, self.options.output}

    def format(self, row: Mapping[str, Any]) -> Sample:
        return Sample.of_prompt(self._prompt(row), rows.filled(row, self.options.output))

    def prompt(self, row: Mapping[str, Any]) -> Sample:
        return Sample((Segment(self._prompt(row), False),))

    def input_row(self, text: str, history: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        return {self.options.instruction: text}

    def _prompt(self, row: Mapping[str, Any]) -> str:
        instruction = rows.filled(row, self.options.instruction)
        extra = rows.optional_text(row, self.options.input)
        if extra.strip():
            return PROMPT_WITH_INPUT.format(instruction=instruction, input=extra)
        return PROMPT.format(instruction=instruction)

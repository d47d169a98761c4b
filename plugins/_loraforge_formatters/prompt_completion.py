"""The ``prompt_completion`` formatter: a prompt column and a completion column.

The completion follows the prompt as it is (put a space or newline at the
start of either if one is wanted) and only it is trained, unless
``data.train_on_prompt`` is set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from _loraforge_formatters import rows
from loraforge.components import DatasetFormatter, Sample, Segment


class PromptCompletionOptions(BaseModel):
    """Options of the ``prompt_completion`` formatter."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("prompt", min_length=1, title="Prompt column",
                        description="The column with the prompt (masked).")
    completion: str = Field(
        "completion", min_length=1, title="Completion column",
        description="The column with the completion (trained)."
    )


class PromptCompletion(DatasetFormatter):
    """A prompt the model is shown and a completion it learns to write."""

    name = "prompt_completion"
    description = "A prompt column (masked) followed by a completion column (trained)."
    Options = PromptCompletionOptions

    def columns(self) -> set[str]:
        return {self.options.prompt, self.options.completion}

    def format(self, row: Mapping[str, Any]) -> Sample:
        prompt = rows.text(row, self.options.prompt)
        return Sample.of_prompt(prompt, rows.filled(row, self.options.completion))

    def prompt(self, row: Mapping[str, Any]) -> Sample:
        return Sample((Segment(rows.text(row, self.options.prompt), False),))

    def input_row(self, text: str, history: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        return {self.options.prompt: text}

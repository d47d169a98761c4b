"""The ``chat`` formatter: conversations rendered with a chat template; assistant turns trained.

A row holds a list of turns, each ``{"role": ..., "content": ...}`` with the
role ``system``, ``user`` or ``assistant`` (or that list as a JSON string,
as a .csv file holds it). The conversation is rendered with the tokenizer's
own chat template, or with a named one for tokenizers that have none.

Which text is the assistant's is found by rendering the conversation up to
each assistant turn twice: once with the generation prompt (what the model
is shown before it answers) and once with the turn (what it writes). The
difference is the answer, trained; the rest is masked. This works with any
template, unlike ``return_assistant_tokens_mask``, which needs templates
written with ``{% generation %}`` markers (LLaMA-2's, Baichuan's and most
others have none), and it splits the answer into tokens exactly as the
model will produce it after the prompt. It needs a template that renders
earlier turns the same whether or not later turns follow; each row is
checked, and a template that does not is reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from _loraforge_formatters import rows
from _loraforge_formatters.chat_templates import TEMPLATES
from loraforge.components import DatasetFormatter, RowError, Sample, Segment
from loraforge.errors import DataError

ROLES = ("system", "user", "assistant")


class ChatOptions(BaseModel):
    """Options of the ``chat`` formatter."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        "messages", min_length=1, title="Messages column",
        description="The column with the conversation: a list of {role, content} turns.",
    )
    template: Literal["tokenizer", "llama-2", "baichuan", "baichuan2"] = Field(
        "tokenizer", title="Chat template",
        description="The chat template: the tokenizer's own, or a named one for a tokenizer "
        "without one: llama-2 ([INST] ... [/INST]), baichuan (Baichuan-13B-Chat) or "
        "baichuan2 (Baichuan2-Chat).",
    )


def turns_of(row: Mapping[str, Any], column: str) -> list[dict[str, str]]:
    """The row's turns, checked."""
    value = rows.value(row, column)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise RowError(f"column {column!r} holds text that is not JSON ({exc})",
                           column=column) from None
    if not isinstance(value, list):
        raise RowError(f"column {column!r} holds {type(value).__name__}, not a list of turns",
                       column=column)
    turns = []
    for number, turn in enumerate(value, start=1):
        if not isinstance(turn, Mapping) or not isinstance(turn.get("content"), str):
            raise RowError(f"turn {number} of column {column!r} is not a {{role, content}} "
                           "table with text content", column=column)
        if turn.get("role") not in ROLES:
            raise RowError(f"turn {number} of column {column!r} has the role {turn.get('role')!r} "
                           f"(roles: {', '.join(ROLES)})", column=column)
        if turn["role"] == "assistant" and not turn["content"].strip():
            raise RowError(f"turn {number} of column {column!r} is an empty assistant turn",
                           column=column)
        turns.append({"role": turn["role"], "content": turn["content"]})
    return turns


def conversation(row: Mapping[str, Any], column: str) -> list[dict[str, str]]:
    """The row's turns up to the last assistant turn, checked."""
    turns = turns_of(row, column)
    last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=None)
    if last is None:
        raise RowError(f"column {column!r} has no assistant turn: nothing to train on",
                       column=column)
    # turns after the last answer teach nothing: no answer follows them
    return turns[: last + 1]


class Chat(DatasetFormatter):
    """Conversations in a chat template; only the assistant's turns are trained."""

    name = "chat"
    description = "A messages column rendered with a chat template; assistant turns are trained."
    Options = ChatOptions

    tokenizer: Any = None

    def columns(self) -> set[str]:
        return {self.options.column}

    def set_tokenizer(self, tokenizer: Any) -> None:
        if self.options.template == "tokenizer" and not getattr(tokenizer, "chat_template", None):
            raise DataError(
                "the tokenizer has no chat template", where="data.formatter.template",
                hint=f"Name one: template = {' | '.join(repr(n) for n in TEMPLATES)}.",
            )
        self.tokenizer = tokenizer

    def render(self, turns: list[dict[str, str]], answer_next: bool) -> str:
        template = None if self.options.template == "tokenizer" else TEMPLATES[self.options.template]
        try:
            return self.tokenizer.apply_chat_template(
                turns, chat_template=template, tokenize=False, add_generation_prompt=answer_next
            )
        except Exception as exc:  # jinja raises its own errors, and templates raise_exception()
            raise RowError(f"the chat template cannot render it: {exc}",
                           column=self.options.column) from None

    def format(self, row: Mapping[str, Any]) -> Sample:
        segments = self.segments(conversation(row, self.options.column))
        # what the template writes after the final answer (a newline) is not worth learning;
        # the sample ends at the answer's end of turn, and the engine adds EOS if it is not there
        segments[-1] = Segment(segments[-1].text.rstrip(), True)
        return Sample(tuple(s for s in segments if s.text))

    def prompt(self, row: Mapping[str, Any]) -> Sample:
        """The conversation up to its last user turn, ending in the template's generation prompt.

        A row that ends with an answer (a held-out conversation) is prompted for
        that answer: it is left out. The earlier turns are the segments ``format``
        makes of them, so they are tokenized as in training.
        """
        turns = turns_of(row, self.options.column)
        if turns and turns[-1]["role"] == "assistant":
            turns = turns[:-1]
        if not turns or turns[-1]["role"] == "assistant":
            raise RowError(f"column {self.options.column!r} has no turn to answer",
                           column=self.options.column)
        # a stand-in answer, cut off again: the prompt before it does not depend on it
        segments = self.segments([*turns, {"role": "assistant", "content": "…"}])[:-1]
        return Sample(tuple(s for s in segments if s.text))

    def input_row(self, text: str, history: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        turns = []
        for message, answer in history:
            turns += [{"role": "user", "content": message},
                      {"role": "assistant", "content": answer}]
        return {self.options.column: [*turns, {"role": "user", "content": text}]}

    def segments(self, turns: list[dict[str, str]]) -> list[Segment]:
        """Prompt and answer segments of turns that end with an assistant turn."""
        if self.tokenizer is None:
            raise RuntimeError("the chat formatter renders with a tokenizer: call set_tokenizer first")
        segments: list[Segment] = []
        done = ""
        for index, turn in enumerate(turns):
            if turn["role"] != "assistant":
                continue
            prompt = self.render(turns[:index], answer_next=True)
            whole = self.render(turns[: index + 1], answer_next=False)
            if not (prompt.startswith(done) and whole.startswith(prompt)):
                raise RowError(
                    "the chat template renders earlier turns differently once later turns "
                    "follow, so the assistant's part cannot be told apart",
                    column=self.options.column,
                )
            segments += [Segment(prompt[len(done):], False), Segment(whole[len(prompt):], True)]
            done = whole
        return segments

"""Prompts are rendered by the run's formatter and tokenized exactly as its training samples were."""

from __future__ import annotations

from pathlib import Path

import pytest

from loraforge.after.prompts import expected_answer, message_row, read_rows, render
from loraforge.components import DatasetFormatter, RowError, Sample, Segment
from loraforge.engine.data import IGNORE_INDEX, tokenize
from loraforge.engine.sources import ROW, load_splits
from loraforge.errors import DataError
from loraforge.plan import bind
from loraforge.plugins import Plugins
from loraforge.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
# (recipe, formatter overrides): the shipped recipes, and a template trained whole
CASES = {
    "template with completion": ("quickstart.toml", []),
    "template trained whole": ("quickstart.toml", [
        'data.formatter={name="template", template="Review: {text} Label: {label}"}']),
    "alpaca": ("tiny-instructions.toml", []),
    "chat": ("tiny-chat.toml", ["data.packing=false"]),
}


@pytest.fixture(scope="module")
def plugins():
    loaded = Plugins()
    loaded.load_entry_points(["llama", "targets", "formatters", "callbacks"])
    return loaded


@pytest.fixture(scope="module")
def tokenizer(plugins):
    from loraforge.recipe import ModelSection

    loader = plugins.registry.create("loader", "tiny-llama", {}, where="model.loader")
    return loader.load_tokenizer(ModelSection())


def training_samples(case: str, plugins, tokenizer):
    """The formatter, the rows and their tokenized training samples, by the engine's path."""
    name, overrides = CASES[case]
    plan = bind(load_recipe(RECIPES / name, overrides), plugins)
    rows = load_splits(plan.recipe).train
    samples = tokenize(rows, plan.formatter, tokenizer, plan.recipe.data).dataset
    assert len(samples) == len(rows.dataset)  # nothing dropped, so row i is sample i
    table = [{k: v for k, v in row.items() if k != ROW} for row in rows.dataset.select(range(40))]
    return plan.formatter, table, samples.select(range(40))


def last_answer_start(labels: list[int]) -> int:
    """Where the last run of trained labels begins (the row's last completion)."""
    end = max(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    start = end
    while start > 0 and labels[start - 1] != IGNORE_INDEX:
        start -= 1
    return start


@pytest.mark.parametrize("case", list(CASES))
def test_a_rows_prompt_is_the_start_of_its_training_sample_token_for_token(case, plugins, tokenizer):
    formatter, rows, samples = training_samples(case, plugins, tokenizer)
    for row, sample in zip(rows, samples):
        prompt = render(formatter, row, tokenizer)
        ids = sample["input_ids"]
        if case == "template trained whole":
            # every token is trained: the prompt is the text before the label, cut at a field
            assert ids[: len(prompt.ids)] == prompt.ids
            assert tokenizer.decode(ids[len(prompt.ids):], skip_special_tokens=True) == (
                " " + row["label"])
            continue
        start = last_answer_start(sample["labels"])
        assert prompt.ids == ids[:start]
        assert prompt.ids[0] == tokenizer.bos_token_id
        answer = tokenizer.encode(expected_answer(formatter, row, prompt.text),
                                  add_special_tokens=False)
        if answer[-1] != tokenizer.eos_token_id:  # a chat template writes EOS itself
            answer.append(tokenizer.eos_token_id)
        assert answer == ids[start:]


@pytest.mark.parametrize("case", list(CASES))
def test_a_row_without_its_completion_gets_the_same_prompt(case, plugins, tokenizer):
    formatter, rows, _ = training_samples(case, plugins, tokenizer)
    completion = {"template with completion": "label", "template trained whole": "label",
                  "alpaca": "output"}
    for row in rows[:10]:
        whole = render(formatter, row, tokenizer)
        if case == "chat":
            row = {"messages": row["messages"][:-1]}  # up to the last user turn
        else:
            row = {k: v for k, v in row.items() if k != completion[case]}
        assert render(formatter, row, tokenizer) == whole


def test_a_typed_message_fills_the_formatters_main_column(plugins, tokenizer):
    formatter, rows, _ = training_samples("template with completion", plugins, tokenizer)
    typed = render(formatter, message_row(formatter, rows[0]["text"]), tokenizer)
    assert typed == render(formatter, rows[0], tokenizer)
    assert typed.text == f"Review: {rows[0]['text']}\nSentiment:"

    alpaca, _, _ = training_samples("alpaca", plugins, tokenizer)
    assert message_row(alpaca, "Add 2 and 3.") == {"instruction": "Add 2 and 3."}


def test_a_chat_message_continues_the_conversation(plugins, tokenizer):
    formatter, _, _ = training_samples("chat", plugins, tokenizer)
    history = [("What is 2 plus 2?", "2 plus 2 is 4.")]
    row = message_row(formatter, "And 3 plus 3?", history)
    prompt = render(formatter, row, tokenizer)
    assert prompt.text == ("<s>user: What is 2 plus 2?\nassistant: 2 plus 2 is 4.</s>\n"
                           "user: And 3 plus 3?\nassistant: ")
    # the earlier answer is tokenized as its own segment, as in the training sample
    whole = formatter.format({"messages": [*row["messages"],
                                            {"role": "assistant", "content": "6."}]})
    assert prompt.text == "".join(s.text for s in whole.segments[:-1])


def test_a_prompt_missing_a_column_it_needs_is_a_data_error(plugins, tokenizer):
    formatter, _, _ = training_samples("template with completion", plugins, tokenizer)
    with pytest.raises(DataError) as error:
        render(formatter, {"label": "positive"}, tokenizer)
    assert "column 'text'" in error.value.message and "--file" in error.value.hint


def test_a_prompts_file_names_the_line_that_is_not_a_json_object(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"text": "fine"}\n\n["a list"]\n')
    rows = read_rows(path)
    assert next(rows) == (1, {"text": "fine"})
    with pytest.raises(DataError, match="line 3 is list"):
        next(rows)


class QuestionAnswer(DatasetFormatter):
    """A third party's formatter that relies on the default prompt() and input_row()."""

    name = "qa"

    def columns(self):
        return {"question", "answer"}

    def format(self, row):
        return Sample((Segment("Q: ", False), Segment(row["question"], False),
                       Segment("\nA:", False), Segment(" " + row["answer"], True)))


class Echo(QuestionAnswer):
    name = "echo"

    def columns(self):
        return {"question"}

    def format(self, row):
        return Sample((Segment("Say: ", False), Segment(row["question"], True)))


def test_the_default_prompt_keeps_the_segments_before_the_answer(tokenizer):
    formatter = QuestionAnswer()
    prompt = formatter.prompt({"question": "Why?"})
    assert prompt.segments == (Segment("Q: ", False), Segment("Why?", False),
                               Segment("\nA:", False))
    # tokenized segment by segment, as the training sample is
    assert render(formatter, {"question": "Why?"}, tokenizer).ids == [tokenizer.bos_token_id] + [
        i for text in ("Q: ", "Why?", "\nA:") for i in tokenizer.encode(text, add_special_tokens=False)]
    with pytest.raises(RowError, match="'question'"):
        formatter.prompt({"answer": "Because."})
    with pytest.raises(DataError, match="cannot tell which of the columns 'answer', 'question'"):
        message_row(formatter, "Why?")


def test_the_default_input_row_fills_a_formatters_only_column():
    assert Echo().input_row("hello") == {"question": "hello"}
    assert Echo().prompt({"question": "hello"}).text == "Say: "


class Plain(QuestionAnswer):
    """A formatter whose methods return text where a Sample is due."""

    name = "plain"

    def format(self, row):
        return f"Q: {row['question']}\nA: {row['answer']}"

    def prompt(self, row):
        return f"Q: {row['question']}\nA:"


def test_a_formatter_returning_text_for_a_sample_is_named_as_the_plugins_bug(tokenizer):
    from loraforge.errors import PluginError

    formatter = Plain()
    with pytest.raises(PluginError, match=r"returned str from prompt\(\)"):
        render(formatter, {"question": "Why?"}, tokenizer)
    with pytest.raises(PluginError, match=r"returned str from format\(\)"):
        expected_answer(formatter, {"question": "Why?", "answer": "Because."}, "Q: Why?\nA:")

"""The alpaca and prompt_completion formatters: prompt masked, completion trained, bad rows named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _loraforge_formatters.alpaca import PROMPT, PROMPT_WITH_INPUT
from loraforge.components import RowError, Segment
from loraforge.plugins import Plugins
from loraforge.registry import OptionsError

INSTRUCTIONS = Path(__file__).resolve().parents[2] / "recipes" / "data" / "instructions.jsonl"


@pytest.fixture(scope="module")
def registry():
    plugins = Plugins()
    plugins.load_entry_points(["formatters"])
    return plugins.registry


def formatter(registry, name, **options):
    return registry.create("formatter", name, options, where="data.formatter")


def test_alpaca_puts_the_input_in_the_prompt_and_trains_the_output(registry):
    alpaca = formatter(registry, "alpaca")
    assert alpaca.columns() == {"instruction", "output"}
    sample = alpaca.format({"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"})
    assert sample.segments == (
        Segment(PROMPT_WITH_INPUT.format(instruction="Add the numbers.", input="2 and 3"), False),
        Segment("5", True),
    )
    assert sample.text.endswith("### Input:\n2 and 3\n\n### Response:\n5")


@pytest.mark.parametrize("row", [
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
    {"instruction": "Name a colour.", "input": None, "output": "Blue."},
    {"instruction": "Name a colour.", "output": "Blue."},
])
def test_alpaca_without_input_uses_the_shorter_prompt(registry, row):
    sample = formatter(registry, "alpaca").format(row)
    assert sample.segments[0] == Segment(PROMPT.format(instruction="Name a colour."), False)
    assert "### Input" not in sample.text


def test_alpaca_column_names_are_options(registry):
    alpaca = formatter(registry, "alpaca", instruction="question", input="context",
                       output="answer")
    assert alpaca.columns() == {"question", "answer"}
    sample = alpaca.format({"question": "Q?", "context": "C.", "answer": "A."})
    assert "### Instruction:\nQ?" in sample.text and "### Input:\nC." in sample.text
    assert problems(registry, "alpaca", output="") == [
        "data.formatter.output: String should have at least 1 character"]


@pytest.mark.parametrize(("row", "column", "message"), [
    ({"instruction": "Do it.", "output": ""}, "output", "column 'output' is empty"),
    ({"instruction": " ", "output": "Done."}, "instruction", "column 'instruction' is empty"),
    ({"output": "Done."}, "instruction", "missing column 'instruction'"),
    ({"instruction": "Do it.", "input": [3], "output": "x"}, "input", "column 'input' holds list"),
    ({"instruction": "Do it.", "input": "x", "output": None}, "output",
     "column 'output' is missing or empty (null)"),
])
def test_alpaca_names_the_column_of_a_bad_row(registry, row, column, message):
    with pytest.raises(RowError) as info:
        formatter(registry, "alpaca").format(row)
    assert info.value.column == column and str(info.value).startswith(message)


def test_numbers_and_bools_are_text_as_a_csv_file_holds_them(registry):
    # pandas reads a column of numbers as numbers; nothing in the file can say otherwise
    alpaca = formatter(registry, "alpaca").format({"instruction": 12, "input": 2.5, "output": 0})
    assert alpaca.segments == (
        Segment(PROMPT_WITH_INPUT.format(instruction="12", input="2.5"), False), Segment("0", True))
    pc = formatter(registry, "prompt_completion").format({"prompt": "Is it? ", "completion": False})
    assert pc.segments == (Segment("Is it? ", False), Segment("False", True))


def test_prompt_completion_masks_the_prompt(registry):
    pc = formatter(registry, "prompt_completion")
    assert pc.columns() == {"prompt", "completion"}
    sample = pc.format({"prompt": "Q: 2+2?\nA:", "completion": " 4"})
    assert sample.segments == (Segment("Q: 2+2?\nA:", False), Segment(" 4", True))
    renamed = formatter(registry, "prompt_completion", prompt="question", completion="answer")
    assert renamed.format({"question": "Hi?", "answer": "Hello."}).text == "Hi?Hello."
    with pytest.raises(RowError) as info:
        pc.format({"prompt": "Q?", "completion": ""})
    assert info.value.column == "completion"


def problems(registry, name, **options):
    with pytest.raises(OptionsError) as info:
        formatter(registry, name, **options)
    return info.value.problems


def test_the_shipped_instruction_data_fits_the_alpaca_formatter(registry):
    alpaca = formatter(registry, "alpaca")
    rows = [json.loads(line) for line in INSTRUCTIONS.read_text(encoding="utf-8").splitlines()]
    assert 250 <= len(rows) <= 400
    assert len({(r["instruction"], r["input"]) for r in rows}) == len(rows)
    with_input = sum(1 for r in rows if r["input"])
    assert 0 < with_input < len(rows)  # both prompts are exercised
    for row in rows:
        assert alpaca.format(row).segments[1].text == row["output"]

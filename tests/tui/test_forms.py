"""What a field shows and what is read back from it: text kept as typed, numbers parsed."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from pydantic import BaseModel

from loraforge.recipe import Recipe
from loraforge.tui.forms import FieldSpec, ParseError, field_specs, parse, shown


def spec_of(section: str, key: str):
    model = Recipe.model_fields[section].annotation
    return next(spec for spec in field_specs(model) if spec.key == key)


@pytest.mark.parametrize("text", [" {label}", "Review: {text}\nSentiment:", "a\tb", "C:\\x\\n",
                                  "  two leading spaces", "trailing "])
def test_text_comes_back_exactly_as_it_was_shown(text):
    spec = spec_of("data", "path")
    assert "\n" not in shown(spec, text)  # an input has one line
    assert parse(spec, shown(spec, text)) == text


def test_a_newline_is_typed_as_backslash_n():
    spec = spec_of("data", "path")
    assert shown(spec, "Review: {text}\nSentiment:") == "Review: {text}\\nSentiment:"
    assert parse(spec, "a\\nb") == "a\nb" and parse(spec, "a\\qb") == "a\\qb"


def test_numbers_are_read_as_numbers_or_refused_in_words():
    assert parse(spec_of("lora", "r"), " 16 ") == 16
    assert parse(spec_of("train", "learning_rate"), "2e-4") == pytest.approx(2e-4)
    with pytest.raises(ParseError, match="whole number"):
        parse(spec_of("lora", "r"), "sixteen")
    with pytest.raises(ParseError, match="finite"):
        parse(spec_of("train", "learning_rate"), "inf")


class Pooling(enum.Enum):
    MEAN = "mean"
    SUM = "sum"


class Choosy(BaseModel):
    every: Literal[1, 2, 4] = 2
    pooling: Pooling = Pooling.MEAN


def test_choices_that_are_not_text_keep_their_own_values():
    every, pooling = field_specs(Choosy)
    assert (every.kind, every.choices, every.values, every.default) == (
        "choice", ("1", "2", "4"), (1, 2, 4), 2)
    assert (pooling.kind, pooling.choices, pooling.values, pooling.default) == (
        "choice", ("mean", "sum"), ("mean", "sum"), "mean")


async def test_a_choice_puts_its_own_value_in_the_recipe_not_its_label():
    from textual.app import App
    from textual.widgets import Select

    from loraforge.tui.widgets.field_row import FieldRow

    every = field_specs(Choosy)[0]
    posted = []

    class Host(App):
        def compose(self):
            yield FieldRow(every, ("options", "every"), None)

        def on_field_row_changed(self, event: FieldRow.Changed) -> None:
            posted.append(event.value)

    async with Host().run_test() as pilot:
        await pilot.pause()
        select = pilot.app.query_one(Select)
        assert select.value == 2  # the default, shown as "2"
        select.focus()
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
    assert posted == [4]
    assert Choosy.model_validate({"every": posted[0]}).every == 4


def test_a_field_cleared_goes_back_to_its_default_and_a_required_one_says_so():
    rank = spec_of("lora", "r")
    assert rank.default == 8 and parse(rank, "  ") is None  # None: the default applies
    with pytest.raises(ParseError, match="required"):
        parse(FieldSpec(key="n", title="N", help="", kind="integer", required=True), "")


class Weighted(BaseModel):
    weights: dict[str, float] = {}
    stages: list[dict[str, int]] = []


def test_a_table_option_is_typed_as_a_toml_inline_value():
    weights, stages = field_specs(Weighted)
    assert weights.kind == stages.kind == "toml"
    value = {"positive": 2.0, "very bad": 0.5}
    assert shown(weights, value) == '{positive = 2.0, "very bad" = 0.5}'
    assert parse(weights, shown(weights, value)) == value
    assert parse(stages, "[{steps = 10}, {steps = 20}]") == [{"steps": 10}, {"steps": 20}]
    assert Weighted.model_validate({"weights": parse(weights, "{a = 1}")}).weights == {"a": 1.0}
    with pytest.raises(ParseError, match="a TOML value"):
        parse(weights, "positive: 2")

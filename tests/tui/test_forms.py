"""What a field shows and what is read back from it: text kept as typed, numbers parsed."""

from __future__ import annotations

import pytest

from loraforge.recipe import Recipe
from loraforge.tui.forms import ParseError, field_specs, parse, shown


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

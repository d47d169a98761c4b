"""The built-in dataset formatters: text, and templates with or without a masked prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loraforge.components import RowError, Sample, Segment
from loraforge.plugins import Plugins
from loraforge.registry import OptionsError

REVIEWS = Path(__file__).resolve().parents[2] / "recipes" / "data" / "reviews.jsonl"


@pytest.fixture(scope="module")
def registry():
    plugins = Plugins()
    plugins.load_entry_points(["formatters"])
    assert plugins.failures == {}
    return plugins.registry


def formatter(registry, name, **options):
    return registry.create("formatter", name, options, where="data.formatter")


def problems(registry, name, **options):
    with pytest.raises(OptionsError) as info:
        formatter(registry, name, **options)
    return info.value.problems


def test_the_package_registers_its_formatters_with_documented_options(registry):
    assert registry.names("formatter") == ["alpaca", "chat", "prompt_completion", "template", "text"]
    for name in registry.names("formatter"):
        cls = registry.get("formatter", name).cls
        assert cls.description and "\n" not in cls.description
        assert all(f.description for f in cls.Options.model_fields.values())


def test_text_trains_on_the_whole_column(registry):
    assert formatter(registry, "text").format({"text": "hello"}) == Sample.of_text("hello")
    body = formatter(registry, "text", column="body")
    assert body.columns() == {"body"}
    assert body.format({"body": "hi", "text": "no"}).text == "hi"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"body": "x"}, "missing column 'text'"),
        ({"text": None}, "column 'text' is missing or empty (null)"),
        ({"text": ["a", "b"]}, "column 'text' holds list, not text"),
    ],
)
def test_text_rejects_a_row_without_usable_text(registry, row, message):
    with pytest.raises(RowError) as info:
        formatter(registry, "text").format(row)
    assert str(info.value) == message
    assert info.value.column == "text"


def test_template_fills_columns_and_trains_on_all_of_it(registry):
    review = formatter(registry, "template", template="Review: {text} Label: {label}")
    assert review.columns() == {"text", "label"}
    sample = review.format({"text": "Great fun.", "label": "positive", "id": 3})
    assert sample == Sample.of_text("Review: Great fun. Label: positive")


def test_template_with_completion_masks_the_prompt(registry):
    review = formatter(registry, "template", template="Review: {text}\nSentiment:",
                       completion=" {label}")
    sample = review.format({"text": "Dull.", "label": "negative"})
    assert sample.segments == (Segment("Review: Dull.\nSentiment:", trained=False),
                               Segment(" negative", trained=True))
    assert review.columns() == {"text", "label"}


def test_template_formats_numbers_and_keeps_literal_braces(registry):
    scored = formatter(registry, "template", template="{{score}} {score:.1f} {name!r}")
    assert scored.format({"score": 4, "name": "x"}).text == "{score} 4.0 'x'"


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ({"text": "ok"}, "label", "missing column 'label'"),
        ({"text": "ok", "label": None}, "label", "column 'label' is missing or empty (null)"),
        ({"text": {"a": 1}, "label": "x"}, "text", "column 'text' holds dict"),
    ],
)
def test_template_rejects_a_row_it_cannot_fill(registry, row, column, message):
    review = formatter(registry, "template", template="Review: {text} Label: {label}")
    with pytest.raises(RowError) as info:
        review.format(row)
    assert str(info.value).startswith(message)
    assert info.value.column == column


def test_template_spec_that_does_not_fit_the_value_is_a_row_error(registry):
    with pytest.raises(RowError, match="cannot fill"):
        formatter(registry, "template", template="{score:.2f}").format({"score": "high"})


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"template": "Review: {} Label: {label}"}, "positional field {}"),
        ({"template": "Review: {0}"}, "positional field {0}"),
        ({"template": "no fields at all"}, "names no column"),
        ({"template": "Review: {text"}, "expected '}' before end of string"),
        ({"template": "a } b {text}"}, "write {{ and }} for literal braces"),
        ({"template": "{row.text}"}, "only plain column names"),
        ({"template": "{text}", "completion": "{label"}, "data.formatter.completion:"),
        ({"template": "{text}", "prompt": "x"}, "data.formatter.prompt: unknown key"),
    ],
)
def test_template_options_are_checked_before_any_row(registry, options, fragment):
    lines = problems(registry, "template", **options)
    assert len(lines) == 1 and fragment in lines[0]


def test_template_is_required(registry):
    assert problems(registry, "template") == ["data.formatter.template: required, but missing"]


def test_bundled_reviews_fit_the_quickstart_template(registry):
    review = formatter(registry, "template", template="Review: {text}\nSentiment:",
                       completion=" {label}")
    lines = REVIEWS.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert 250 <= len(rows) <= 400
    labels = [row["label"] for row in rows]
    assert labels.count("positive") == labels.count("negative")
    assert len({row["text"] for row in rows}) == len(rows)
    assert all(review.format(row).segments[1].text in {" positive", " negative"} for row in rows)


def test_a_template_with_a_completion_prompts_with_its_filled_template(registry):
    template = formatter(registry, "template", template="Review: {text}\nSentiment:",
                         completion=" {label}")
    assert template.prompt({"text": "Fine."}) == Sample((Segment("Review: Fine.\nSentiment:", False),))
    assert template.input_row("Fine.") == {"text": "Fine."}


@pytest.mark.parametrize(("row", "prompt"), [
    ({"text": "Fine."}, "Review: Fine. Label:"),  # cut before the first missing field
    ({"text": "Fine.", "label": "positive"}, "Review: Fine. Label:"),  # or before the last
])
def test_a_template_trained_whole_prompts_up_to_its_answer(registry, row, prompt):
    template = formatter(registry, "template", template="Review: {text} Label: {label}")
    assert template.prompt(row).text == prompt


def test_a_template_prompt_keeps_literal_braces_and_format_specs(registry):
    template = formatter(registry, "template", template="{{x}} {n:>3} = {result}")
    assert template.prompt({"n": 7}).text == "{x}   7 ="


def test_a_template_with_one_field_is_continued(registry):
    assert formatter(registry, "template", template="Story: {text}").prompt(
        {"text": "Once"}).text == "Story: Once"


def test_a_template_prompt_missing_its_first_column_names_it(registry):
    template = formatter(registry, "template", template="Review: {text} Label: {label}")
    with pytest.raises(RowError) as error:
        template.prompt({"label": "positive"})
    assert error.value.column == "text"


def test_text_and_prompt_completion_prompts(registry):
    assert formatter(registry, "text").prompt({"text": "Once upon"}).text == "Once upon"
    pair = formatter(registry, "prompt_completion")
    assert pair.prompt({"prompt": "2+2="}).text == "2+2="
    assert pair.input_row("2+2=") == {"prompt": "2+2="}

"""Form-ready schemas: every recipe field and built-in option has a title, a plain description and
its choices, since the wizard builds its forms from them."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from loraforge.recipe import Recipe
from loraforge.testing import builtin_plugins

MARKUP = re.compile(r"`|\*\*|:\w+:`|\[[^\]]+\]\(|^#|<[a-z]+>")


def section_models():
    for name, field in Recipe.model_fields.items():
        yield name, field.annotation


def recipe_fields():
    for section, model in section_models():
        for name, field in model.model_fields.items():
            yield f"{section}.{name}", field


def component_fields():
    plugins = builtin_plugins(("llama", "baichuan", "targets", "formatters", "callbacks"))
    for kind, names in plugins.registry.components.items():
        for name, entry in names.items():
            for option, field in entry.cls.Options.model_fields.items():
                yield f"{kind} {name}.{option}", field


FIELDS = list(recipe_fields()) + list(component_fields())


@pytest.mark.parametrize("where, field", FIELDS, ids=[where for where, _ in FIELDS])
def test_every_field_has_a_short_title_and_a_plain_description(where, field):
    assert field.title, f"{where} has no title"
    assert len(field.title) <= 32 and not field.title.endswith("."), where
    assert field.description, f"{where} has no description"
    assert not MARKUP.search(field.description), f"{where}: markup in {field.description!r}"


def test_every_section_has_a_title_and_description():
    for name, field in Recipe.model_fields.items():
        assert field.title and field.description, name


def test_choices_are_enumerated_in_the_schema():
    schema = Recipe.model_json_schema()
    quantization = schema["$defs"]["ModelSection"]["properties"]["quantization"]
    assert quantization["enum"] == ["none", "8bit", "4bit"]
    assert quantization["title"] == "Quantization"


def test_every_builtin_component_has_a_plain_one_line_description():
    plugins = builtin_plugins(("llama", "baichuan", "targets", "formatters", "callbacks"))
    for kind, names in plugins.registry.components.items():
        for name, entry in names.items():
            description = entry.cls.description
            assert description and "\n" not in description, f"{kind} {name}"
            assert not MARKUP.search(description), f"{kind} {name}: {description!r}"
            assert issubclass(entry.cls.Options, BaseModel)


def test_plugins_json_names_the_options_a_form_would_miss():
    from pydantic import Field

    from loraforge.registry import form_problems

    class Options(BaseModel):
        good: int = Field(1, title="Good", description="Has both.")
        bare: int = 2
        marked: str = Field("x", title="Marked", description="Uses `markup`.")

    assert form_problems(Options) == [
        "option 'bare' has no title and no description",
        "option 'marked': its description holds markup; write plain text",
    ]

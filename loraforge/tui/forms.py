"""What a form shows for a pydantic model: one :class:`FieldSpec` per field, read from its schema.

The wizard's forms, for the recipe's own sections and for every component's
options (a third-party plugin's included), are built from these: the title
is the label, the description the help, choices become a select, booleans a
switch, numbers an input that accepts only numbers. Turning what a person
typed into a value (:func:`parse`) and a value into text (:func:`shown`) is
here too, so that it is tested without a terminal. Nothing here imports
textual.
"""

from __future__ import annotations

import enum
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from loraforge.recipe import ComponentRef

Kind = Literal["text", "integer", "number", "bool", "choice", "list", "component",
               "components", "toml"]
"""``toml``: a table or a nested model, typed as a TOML inline value (``{lr = 1e-4}``)."""


@dataclass(frozen=True)
class FieldSpec:
    """One field of a form."""

    key: str
    title: str
    help: str
    kind: Kind
    default: Any = None
    choices: tuple[str, ...] = ()
    """How each choice is shown."""
    values: tuple[Any, ...] = ()
    """What each choice puts in the recipe (a Literal's own values, an Enum's values)."""
    required: bool = False
    optional: bool = False
    """The field may be left empty (its value is then None)."""
    bounds: tuple[float | None, float | None] = (None, None)


class ParseError(ValueError):
    """What a person typed is not a value of the field's kind."""


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``| None``, and whether None was allowed."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(args[0])
    return annotation, False


def _kind(annotation: Any) -> tuple[Kind, tuple[Any, ...]]:
    """The kind of field, and the values of its choices (for a choice)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin is Literal:
        return "choice", typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice", tuple(member.value for member in annotation)
    if annotation is ComponentRef or (origin in (typing.Union, types.UnionType)
                                      and ComponentRef in typing.get_args(annotation)):
        return "component", ()
    if origin is list:
        (item,) = typing.get_args(annotation) or (str,)
        if item is ComponentRef:
            return "components", ()
        return ("list" if item in (str, int, float) else "toml"), ()
    if origin is dict or annotation is dict or (
            isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "toml", ()
    if annotation is bool:
        return "bool", ()
    if annotation is int:
        return "integer", ()
    if annotation is float:
        return "number", ()
    return "text", ()


def _bounds(field: Any) -> tuple[float | None, float | None]:
    low = high = None
    for item in field.metadata:
        for name in ("ge", "gt"):
            if getattr(item, name, None) is not None:
                low = getattr(item, name)
        for name in ("le", "lt"):
            if getattr(item, name, None) is not None:
                high = getattr(item, name)
    return low, high


def field_specs(model: type[BaseModel]) -> list[FieldSpec]:
    """The form of ``model``: its fields in order, each with what a form needs to show it."""
    specs = []
    for key, field in model.model_fields.items():
        annotation, optional = _unwrap(field.annotation)
        kind, values = _kind(annotation)
        default = field.get_default(call_default_factory=True)
        if default is PydanticUndefined:
            default = None
        if isinstance(default, enum.Enum):
            default = default.value
        if isinstance(default, ComponentRef):
            default = default.to_toml()
        elif isinstance(default, list):
            default = [d.to_toml() if isinstance(d, ComponentRef) else d for d in default]
        specs.append(FieldSpec(
            key=key, title=field.title or key.replace("_", " ").capitalize(),
            help=field.description or "", kind=kind, default=default,
            choices=tuple(str(value) for value in values), values=values,
            required=field.is_required(), optional=optional or default is None,
            bounds=_bounds(field),
        ))
    return specs


def parse(spec: FieldSpec, text: str) -> Any:
    """The value of what was typed into ``spec``'s field; None for an empty optional one.

    Text is kept as typed — a completion template's leading space matters —
    with ``\\n``, ``\\t`` and ``\\\\`` read as a newline, a tab and a backslash, as
    :func:`shown` writes them (an input has one line).
    """
    if spec.kind == "text" and text.strip():
        return unescape(text)
    text = text.strip()
    if not text:
        if spec.optional or not spec.required:
            return None  # cleared: the default applies
        if spec.kind in ("text",):
            return ""
        raise ParseError("required")
    if spec.kind == "integer":
        try:
            return int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise ParseError("a whole number, such as 8") from None
    if spec.kind == "number":
        try:
            value = float(text.replace("_", ""))
        except ValueError:
            raise ParseError("a number, such as 2e-4 or 0.05") from None
        if not math.isfinite(value):
            raise ParseError("a finite number")
        return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
            else value
    if spec.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if spec.kind == "toml":
        try:
            return tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            raise ParseError('a TOML value, such as {name = "x", weight = 0.5} or '
                             '["a", "b"]') from None
    return text


def shown(spec: FieldSpec, value: Any) -> str:
    """``value`` as the field's input shows it."""
    if value is None:
        return ""
    if spec.kind == "list" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if spec.kind == "toml":
        return inline_toml(value)
    if isinstance(value, float):
        return f"{value:g}"
    if spec.kind == "text" and isinstance(value, str):
        return escape(value)
    return str(value)


def inline_toml(value: Any) -> str:
    """``value`` as a TOML inline value, on one line: what a ``toml`` field shows."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        items = ", ".join(f"{_key(key)} = {inline_toml(item)}" for key, item in value.items())
        return "{" + items + "}" if items else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(inline_toml(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a basic string: JSON's escapes are TOML's


def _key(key: Any) -> str:
    text = str(key)
    return text if text and all(c.isascii() and (c.isalnum() or c in "_-") for c in text) \
        else json.dumps(text, ensure_ascii=False)


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def escape(text: str) -> str:
    """Text on one line: newlines, tabs and backslashes written as TOML writes them."""
    return "".join(_ESCAPES.get(char, char) for char in text)


def unescape(text: str) -> str:
    """The text :func:`escape` wrote (a backslash before anything else stays as it is)."""
    out, chars = [], iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_UNESCAPES.get(following, "\\" + following))
    return "".join(out)

"""Reading a row's columns, with the errors every formatter should give.

A formatter looks values up through :func:`value` or :func:`text` so that a
missing or empty column is reported the same way everywhere: as a
:class:`~loraforge.components.RowError` naming the column, which the engine
turns into a message with the file and row number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loraforge.components import RowError


def value(row: Mapping[str, Any], column: str) -> Any:
    """The row's value in ``column``; missing or null is a :class:`RowError`."""
    if column not in row:
        raise RowError(f"missing column {column!r}", column=column)
    found = row[column]
    # datasets gives a key that some rows of a file lack to the others as null
    if found is None:
        raise RowError(f"column {column!r} is missing or empty (null)", column=column)
    return found


def text(row: Mapping[str, Any], column: str) -> str:
    """The row's value in ``column`` as text: a string, or a number or bool written out.

    A .csv file cannot say that a column of numbers is text; pandas reads it
    as numbers, and it is used as the digits it holds.
    """
    found = value(row, column)
    if isinstance(found, (int, float, bool)):
        return str(found)
    if not isinstance(found, str):
        raise RowError(
            f"column {column!r} holds {type(found).__name__}, not text", column=column
        )
    return found


def scalar(row: Mapping[str, Any], column: str) -> Any:
    """The row's value in ``column``: text, a number or a bool, not a list or a table."""
    found = value(row, column)
    if not isinstance(found, (str, int, float, bool)):
        raise RowError(
            f"column {column!r} holds {type(found).__name__}, not text or a number",
            column=column,
        )
    return found


def filled(row: Mapping[str, Any], column: str) -> str:
    """The row's text in ``column``, which must hold more than white space."""
    found = text(row, column)
    if not found.strip():
        raise RowError(f"column {column!r} is empty", column=column)
    return found


def optional_text(row: Mapping[str, Any], column: str | None) -> str:
    """The row's text in ``column``, or "" when there is no such column or it is null."""
    if column is None or row.get(column) is None:
        return ""
    return text(row, column)

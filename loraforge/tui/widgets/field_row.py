"""One field of a form: its title, the control that fits its kind, and its problem, if any.

Text and numbers get an input (numbers only where a number is meant),
choices a select (with a line on the one chosen, where the form gives
one), booleans a checkbox. What the person types is parsed at once
(:func:`loraforge.tui.forms.parse`); a value that parses is posted as
:class:`FieldRow.Changed`, one that does not is shown as a problem beside
the field. The form's owner checks the whole recipe and hands each row its
problem back with :meth:`FieldRow.show_problem`.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from loraforge.tui.forms import FieldSpec, ParseError, parse, shown
from loraforge.tui.widgets.form_select import FormSelect

FieldPath = tuple[str, ...]


class FieldRow(Vertical):
    """A labelled control for one field at ``path`` of the recipe."""

    DEFAULT_CLASSES = "field-row"

    class Changed(Message):
        """The person gave the field a value (None: cleared, the default applies)."""

        def __init__(self, row: FieldRow, path: FieldPath, value: Any) -> None:
            super().__init__()
            self.row, self.path, self.value = row, path, value

        @property
        def control(self) -> FieldRow:
            return self.row

    class Focused(Message):
        """A field's control got the focus: its help can be shown.

        ``row`` is the field: a FieldRow, or a component's or the callbacks' field,
        each with the ``spec`` its title and help come from.
        """

        def __init__(self, row: Widget) -> None:
            super().__init__()
            self.row = row

    def __init__(self, spec: FieldSpec, path: FieldPath, value: Any, *,
                 descriptions: dict[str, str] | None = None, placeholder: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec, self.path = spec, path
        self.value = value
        self.descriptions = descriptions
        """A line for each choice, shown under the select for the one chosen."""
        self.placeholder = placeholder
        self.parse_problem: str | None = None

    @property
    def field_id(self) -> str:
        """The field's recipe path as problems name it: ``data.formatter.template``."""
        return ".".join(self.path)

    def compose(self) -> ComposeResult:
        spec, value = self.spec, self.value
        shown_default = "" if spec.default in (None, "") else f"default {shown(spec, spec.default)}"
        with Horizontal(classes="field-line"):
            yield Label(spec.title + ("" if not spec.required else " *"), classes="field-title")
            if spec.kind == "bool":
                on = bool(spec.default if value is None else value)
                box = Checkbox("yes" if on else "no", value=on, classes="field-control")
                box.compact = True
                yield box
            elif spec.kind == "choice":
                options = list(zip(spec.choices, spec.values, strict=True))
                current = spec.default if value is None else value
                chosen = current if current in spec.values else Select.NULL
                yield FormSelect(options, value=chosen, allow_blank=spec.optional,
                                 classes="field-control", compact=True)
            else:
                kind = {"integer": "integer", "number": "number"}.get(spec.kind, "text")
                yield Input(shown(spec, value),
                            placeholder=self.placeholder or shown_default or
                            ("required" if spec.required else ""),
                            type=kind if kind == "integer" else "text",
                            classes="field-control", compact=True)
        if self.descriptions:
            yield Static(self._description(), classes="component-description")
        yield Static("", classes="field-problem")

    def on_mount(self) -> None:
        self.show_problem(getattr(self, "problem", None))

    # --- what the person does ---------------------------------------------------------------

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            value = parse(self.spec, event.value)
        except ParseError as exc:
            self.parse_problem = str(exc)
            self.show_problem(None)
            return
        self.parse_problem = None
        self._post(value)

    @on(Select.Changed)
    def _chosen(self, event: Select.Changed) -> None:
        event.stop()
        self._post(None if event.value is Select.NULL else event.value)

    @on(Checkbox.Changed)
    def _ticked(self, event: Checkbox.Changed) -> None:
        event.stop()
        event.checkbox.label = "yes" if event.value else "no"  # readable without colour too
        self._post(event.value)

    def _description(self) -> str:
        current = self.spec.default if self.value is None else self.value
        return (self.descriptions or {}).get(str(current), "")

    def on_descendant_focus(self) -> None:
        self.post_message(self.Focused(self))

    def _post(self, value: Any) -> None:
        shown_now = self.spec.default if self.value is None else self.value
        if value == shown_now:
            return  # the control showing what it was given (its first event): nothing changed
        self.value = value
        if self.descriptions:
            self.query_one(".component-description", Static).update(self._description())
        self.post_message(self.Changed(self, self.path, value))

    # --- what the form tells it ---------------------------------------------------------------

    def show_problem(self, problem: str | None) -> None:
        """Show the recipe's problem with this field (kept until the field is on screen)."""
        self.problem = problem
        lines = self.query(".field-problem")
        text = getattr(self, "parse_problem", None) or problem
        if not lines or getattr(self, "_shown", False) == (text,):
            return  # restyling a form costs: only when its problem changed
        self._shown = (text,)
        line = lines.first(Static)
        line.update(f"✗ {text}" if text else "")
        line.display = bool(text)
        self.set_class(bool(text), "has-problem")

    def focus_control(self) -> None:
        self.query_one(".field-control").focus()

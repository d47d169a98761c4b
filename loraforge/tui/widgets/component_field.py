"""A component field: which loader, selector or formatter, and a form of its own options.

The choices are every component of the kind that the installed plugins
provide (a third-party plugin's as well); the options form is built from
the chosen component's ``Options`` schema, so a plugin's form appears with
no change to loraforge. Choosing another component posts
:class:`ComponentField.Chosen`; the owner updates the recipe and calls
:meth:`ComponentField.show_options` with the new values.
"""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Label, Select, Static

from loraforge.tui.forms import FieldSpec, field_specs
from loraforge.tui.widgets.field_row import FieldPath, FieldRow
from loraforge.tui.widgets.form_select import FormSelect

AUTO = "__auto__"


class ComponentField(Vertical):
    """Choose a component of ``kind`` at ``path``, and set its options."""

    DEFAULT_CLASSES = "component-field"

    class Chosen(Message):
        """Another component was chosen (None: the default, such as the detected loader)."""

        def __init__(self, field: ComponentField, path: FieldPath, name: str | None) -> None:
            super().__init__()
            self.field, self.path, self.name = field, path, name

    def __init__(self, spec: FieldSpec, path: FieldPath, kind: str, registry: Any,
                 value: Any, *, auto_label: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec, self.path, self.kind, self.registry = spec, path, kind, registry
        self.value = value
        self.auto_label = auto_label

    @property
    def field_id(self) -> str:
        return ".".join(self.path)

    @property
    def name_chosen(self) -> str | None:
        value = self.value
        if isinstance(value, dict):
            return value.get("name")
        if isinstance(value, list):
            return "modules"
        return value if isinstance(value, str) else None

    def compose(self) -> ComposeResult:
        options, current = self._options()
        with Horizontal(classes="field-line"):
            yield Label(self.spec.title, classes="field-title")
            yield FormSelect(options, value=current if current is not None else Select.NULL,
                             allow_blank=False, classes="field-control", compact=True)
        yield Static("", classes="component-description")
        yield Static("", classes="field-problem")
        yield Vertical(classes="component-options")

    def _options(self) -> tuple[list[tuple[str, str]], str | None]:
        """The select's choices, and the one chosen (None: no registry yet, the name alone)."""
        registry = self.registry
        names = registry.choices(self.kind) if registry is not None else []
        options = [(f"{name}  ({registry.get(self.kind, name).plugin})", name) for name in names]
        if self.auto_label:
            options.insert(0, (self.auto_label, AUTO))
        current = self.name_chosen or (AUTO if self.auto_label else self.spec.default)
        if current is not None and current not in [v for _, v in options]:
            # a component no installed plugin gives: kept, and the recipe's problem says so
            gone = "  (not installed)" if registry is not None else ""
            options.append((f"{current}{gone}", current))
        return options, current

    def on_mount(self) -> None:
        self.show_problem(getattr(self, "problem", None))
        self.show_options(self.value)

    def set_registry(self, registry: Any) -> None:
        """The plugins are loaded: offer their components, and the chosen one's options."""
        if registry is self.registry:
            return
        self.registry = registry
        options, current = self._options()
        select = self.query_one(".field-line Select", Select)
        with select.prevent(Select.Changed):
            select.set_options(options)
            select.value = current if current is not None else Select.NULL
        self.show_options(self.value)

    @on(Select.Changed)
    def _chosen(self, event: Select.Changed) -> None:
        if event.select.parent is not self.query_one(".field-line"):
            return  # a select of the options form below
        event.stop()
        name = None if event.value in (AUTO, Select.NULL) else event.value
        if name == self.name_chosen:
            return
        self.post_message(self.Chosen(self, self.path, name))

    def show_options(self, value: Any) -> None:
        """Show the chosen component's description and a form of its options, at ``value``."""
        self.value = value
        name = self.name_chosen
        box = self.query_one(".component-options", Vertical)
        box.remove_children()
        description = self.query_one(".component-description", Static)
        if name is None:
            description.update(self.spec.help)
            return
        if self.registry is None:  # the plugins are not loaded yet: set_registry comes back
            description.update("")
            return
        if not self.registry.has(self.kind, name):
            description.update(f"no such {self.kind}: {name}")
            return
        cls = self.registry.get(self.kind, name).cls
        description.update(cls.description or "")
        options = value if isinstance(value, dict) else (
            {"names": value} if isinstance(value, list) else {})
        rows = [FieldRow(spec, (*self.path, spec.key), options.get(spec.key))
                for spec in field_specs(cls.Options)]
        if rows:
            box.mount(*rows)

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

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if event.widget.parent is self.query_one(".field-line"):  # not a row of its options
            self.post_message(FieldRow.Focused(self))

    def focus_control(self) -> None:
        self.query_one(".field-line Select").focus()

"""What every step of the wizard is: a title, a line on what it is for, and forms of recipe fields.

A step names the recipe fields it shows, the main ones first and the rest
under "More settings"; each field's widget is built from the recipe schema
(:mod:`loraforge.tui.forms`), components' from their plugins' schemas. A
step may add live panels (what the model is, how many parameters train,
what the model will see) and refreshes them in :meth:`Step.draft_changed`,
with the slow work in a thread so that the screen never waits.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.lazy import Lazy
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from loraforge.recipe import Recipe
from loraforge.tui.draft import Draft
from loraforge.tui.forms import FieldSpec, field_specs
from loraforge.tui.widgets.callbacks_field import CallbacksField
from loraforge.tui.widgets.component_field import ComponentField
from loraforge.tui.widgets.field_row import FieldRow

# recipe field → the kind of component it names
COMPONENT_KINDS = {("model", "loader"): "loader", ("lora", "targets"): "selector",
                   ("data", "formatter"): "formatter"}


def section_specs(section: str) -> dict[str, FieldSpec]:
    """The form fields of a recipe section, by key."""
    model = Recipe.model_fields[section].annotation
    return {spec.key: spec for spec in field_specs(model)}


class Step(VerticalScroll):
    """One step of the wizard."""

    NAME: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    INTRO: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[tuple[str, str], ...]] = ()
    """The recipe fields shown first."""
    MORE: ClassVar[tuple[tuple[str, str], ...]] = ()
    """The recipe fields under "More settings"."""
    DESCRIPTIONS: ClassVar[dict[tuple[str, str], dict[str, str]]] = {}
    """A line for each choice of a field, shown for the one chosen."""
    PANELS_AFTER: ClassVar[int | None] = None
    """Show the live panels after this many of the main fields (None: after all of them)."""
    PLACEHOLDERS: ClassVar[dict[tuple[str, str], str]] = {}
    """What an empty input shows, where an example says more than the default."""

    def __init__(self, draft: Draft, plugins: Any, **kwargs: Any) -> None:
        super().__init__(id=f"step-{self.NAME}", classes="step", **kwargs)
        self.draft = draft
        self.plugins = plugins
        self.visited = False

    def compose(self) -> ComposeResult:
        yield Static(self.TITLE, classes="step-title")
        yield Static(self.INTRO, classes="step-intro")
        split = len(self.FIELDS) if self.PANELS_AFTER is None else self.PANELS_AFTER
        for section, key in self.FIELDS[:split]:
            yield self.field_widget(section, key)
        yield from self.compose_panels()
        for section, key in self.FIELDS[split:]:
            yield self.field_widget(section, key)
        if self.MORE:
            # folded away at first: mounted after the step is painted, so that it comes sooner
            with Lazy(Collapsible(title="More settings", classes="more-settings")):
                for section, key in self.MORE:
                    yield self.field_widget(section, key)

    def compose_panels(self) -> ComposeResult:
        """The step's live panels, after its main fields."""
        return iter(())

    def field_widget(self, section: str, key: str) -> Widget:
        spec = section_specs(section)[key]
        path = (section, key)
        value = self.draft.get(path)
        registry = self.plugins.registry if self.plugins is not None else None  # not loaded yet
        if path in COMPONENT_KINDS:
            auto = "detect it from the checkpoint" if path == ("model", "loader") else None
            return ComponentField(spec, path, COMPONENT_KINDS[path], registry, value,
                                  auto_label=auto, id=f"field-{section}-{key}")
        if spec.kind == "components":
            return CallbacksField(spec, path, registry, value, id=f"field-{section}-{key}")
        return FieldRow(spec, path, value, descriptions=self.DESCRIPTIONS.get(path),
                        placeholder=self.PLACEHOLDERS.get(path), id=f"field-{section}-{key}")

    def fields(self) -> list[tuple[str, str]]:
        return [*self.FIELDS, *self.MORE]

    def problems(self) -> list[tuple[str, str]]:
        """The recipe's problems with this step's fields."""
        found = []
        for section, key in self.fields():
            found += self.draft.problems_at(f"{section}.{key}")
        return found

    def refresh_problems(self) -> None:
        """Show each field's problem beside it (the first one, for a component's subfields too)."""
        for widget in self.query("FieldRow, ComponentField, CallbacksField"):
            mine = [m for f, m in self.draft.problems if f == widget.field_id]
            if isinstance(widget, CallbacksField) and not mine:
                # a callback's options are named by position (train.callbacks[1].every)
                mine = [f"{f.removeprefix(widget.field_id)}: {m}"
                        for f, m in self.draft.problems_at(widget.field_id)]
            widget.show_problem(mine[0] if mine else None)

    def draft_changed(self) -> None:
        """The recipe changed: bring the live panels up to date."""

    def focus_first(self) -> None:
        """Put the focus on the step's first field, as a person starts there."""
        widgets = self.query("FieldRow, ComponentField, CallbacksField")
        if widgets:
            widgets.first().focus_control()
        else:
            self.focus()

    def focus_field(self, field: str) -> bool:
        """Put the focus on the field a problem names (``data.formatter.template``)."""
        widgets = list(self.query("FieldRow, ComponentField, CallbacksField"))
        exact = [w for w in widgets if w.field_id == field]
        within = [w for w in widgets if field.startswith((w.field_id + ".", w.field_id + "["))]
        found = exact[:1] or within[-1:]
        if not found:
            return False
        widget = found[0]
        for collapsible in (a for a in widget.ancestors if isinstance(a, Collapsible)):
            collapsible.collapsed = False
        self.scroll_to_widget(widget)
        widget.focus_control()
        return True

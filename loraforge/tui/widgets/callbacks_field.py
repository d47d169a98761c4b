"""The training callbacks: which of the installed ones run, and each one's options.

A list to tick, in the order the plugins register them, and below it a form
for each ticked callback that has options. The whole list is posted as one
:class:`~loraforge.tui.widgets.field_row.FieldRow.Changed` for
``train.callbacks``, in the recipe's short form (a name, or a table when
options are set).
"""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, SelectionList, Static

from loraforge.tui.forms import FieldSpec, field_specs
from loraforge.tui.widgets.field_row import FieldPath, FieldRow


def _name(entry: Any) -> str:
    return entry["name"] if isinstance(entry, dict) else str(entry)


class CallbacksField(Vertical):
    """Tick the callbacks a run uses at ``path`` (``train.callbacks``) and set their options."""

    DEFAULT_CLASSES = "callbacks-field"

    def __init__(self, spec: FieldSpec, path: FieldPath, registry: Any, value: list | None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec, self.path, self.registry = spec, path, registry
        self.entries: list[Any] = list(spec.default if value is None else value)

    @property
    def field_id(self) -> str:
        return ".".join(self.path)

    def compose(self) -> ComposeResult:
        chosen = {_name(entry) for entry in self.entries}
        yield Label(self.spec.title, classes="field-title")
        yield SelectionList(*[
            (f"{name}: {self.registry.get('callback', name).cls.description}", name,
             name in chosen) for name in self.registry.choices("callback")
        ], classes="field-control")
        yield Static("", classes="field-problem")
        yield Vertical(classes="component-options")

    def on_mount(self) -> None:
        self.show_problem(getattr(self, "problem", None))
        self._show_options()

    @on(SelectionList.SelectedChanged)
    def _ticked(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        selected = event.selection_list.selected
        kept = {_name(entry): entry for entry in self.entries}
        entries = [kept.get(name, name) for name in self.registry.choices("callback")
                   if name in selected]
        # callbacks the registry does not know stay, so that the recipe says what is wrong
        entries += [entry for entry in self.entries
                    if _name(entry) not in self.registry.components["callback"]]
        self._changed(entries)
        self._show_options()

    @on(FieldRow.Changed)
    def _option(self, event: FieldRow.Changed) -> None:
        if len(event.path) != len(self.path) + 2:
            return
        event.stop()
        name, key = event.path[-2], event.path[-1]
        entries = []
        for entry in self.entries:
            if _name(entry) == name:
                table = dict(entry) if isinstance(entry, dict) else {"name": name}
                if event.value is None:
                    table.pop(key, None)
                else:
                    table[key] = event.value
                entry = table if len(table) > 1 else name
            entries.append(entry)
        self._changed(entries)

    def _changed(self, entries: list[Any]) -> None:
        self.entries = entries
        self.post_message(FieldRow.Changed(self, self.path, list(entries)))  # type: ignore[arg-type]

    def _show_options(self) -> None:
        box = self.query_one(".component-options", Vertical)
        box.remove_children()
        rows = []
        for entry in self.entries:
            name = _name(entry)
            if not self.registry.has("callback", name):
                continue
            options = entry if isinstance(entry, dict) else {}
            for spec in field_specs(self.registry.get("callback", name).cls.Options):
                titled = FieldSpec(**{**spec.__dict__, "title": f"{name}: {spec.title}"})
                rows.append(FieldRow(titled, (*self.path, name, spec.key), options.get(spec.key)))
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
        if isinstance(event.widget, SelectionList):  # not a row of a callback's options
            self.post_message(FieldRow.Focused(self))

    def focus_control(self) -> None:
        self.query_one(SelectionList).focus()

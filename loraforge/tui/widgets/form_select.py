"""A select that survives being mounted while the app is busy.

Textual's :class:`~textual.widgets.Select` shows its value as it mounts,
through a label its own child composes; when the app is slow (a form
mounted as the plugins load, or as the wizard quits), the child may not
have composed that label yet and the select raises ``NoMatches``, which
ends the app with a traceback (textual#6581). :class:`FormSelect` keeps the
value until its label exists and shows it then; otherwise it is a Select.
"""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.widgets import Select, Static
from textual.widgets._select import NoSelection, SelectCurrent, SelectOverlay


class FormSelectCurrent(SelectCurrent):
    """The line showing the value, which keeps it until its label is composed."""

    def update(self, label: RenderableType | NoSelection) -> None:
        self.label = label
        self.has_value = label is not Select.NULL
        try:
            shown = self.query_one("#label", Static)
        except NoMatches:
            return  # not composed yet: on_mount shows it
        shown.update(self.placeholder if isinstance(label, NoSelection) else label)

    def on_mount(self) -> None:
        self.update(self.label)


class FormSelect(Select):
    """A Select whose value line waits for its label (see the module's note)."""

    def compose(self) -> ComposeResult:
        yield FormSelectCurrent(self.prompt)
        yield SelectOverlay(type_to_search=self._type_to_search).data_bind(
            compact=Select.compact)

"""The sidebar: the wizard's steps, each with its state, reachable in any order."""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.widgets import Label, ListItem, ListView

MARKS = {"untouched": "○", "done": "●", "problems": "✗", "current": "▸"}


class StepList(ListView):
    """One line per step: ○ not visited yet, ● done, ✗ has problems."""

    class Picked(Message):
        """A step was chosen in the sidebar."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, steps: list[tuple[str, str]], **kwargs: Any) -> None:
        self.steps = steps
        super().__init__(*[ListItem(Label(f"○ {title}", classes="step-label"), name=name,
                                    id=f"step-item-{name}")
                           for name, title in steps], **kwargs)

    def show_states(self, states: dict[str, str]) -> None:
        for name, title in self.steps:
            item = self.query_one(f"#step-item-{name}", ListItem)
            state = states.get(name, "untouched")
            item.query_one(Label).update(f"{MARKS[state]} {title}")
            for other in MARKS:
                item.set_class(other == state, f"step-{other}")

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        if event.item is not None and event.item.name:
            self.post_message(self.Picked(event.item.name))

    def point_at(self, name: str) -> None:
        """Highlight ``name`` without choosing it (the wizard moved there)."""
        names = [n for n, _ in self.steps]
        if name in names:
            self.index = names.index(name)

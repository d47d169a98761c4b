"""The sidebar: the wizard's steps, each with its state, reachable in any order.

One :class:`~textual.widgets.OptionList` rather than a widget per step: it
moves with the arrow keys, picks with Enter or a click, and costs the first
screen one widget instead of thirteen.
"""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

MARKS = {"untouched": "○", "done": "●", "problems": "✗", "current": "▸"}
STYLES = {"problems": "$error", "current": "bold"}  # as the problems beside the fields


def label(title: str, state: str) -> Content:
    """A step's line: its mark (readable without colour), and a style for the state."""
    text = Content(f"{MARKS[state]} {title}")
    return text.stylize(STYLES[state]) if state in STYLES else text


class StepList(OptionList):
    """One line per step: ○ not visited yet, ● done, ✗ has problems, ▸ on screen."""

    # tab opens the highlighted step at its first field, as enter does (the wizard's tab
    # binding does it, before any widget sees the key): without it, tab went to the step's
    # scrolling frame, where typing and enter do nothing

    class Picked(Message):
        """A step was chosen in the sidebar."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, steps: list[tuple[str, str]], **kwargs: Any) -> None:
        self.steps = steps
        self.states = {name: "untouched" for name, _ in steps}
        super().__init__(*[Option(label(title, "untouched"), id=name) for name, title in steps],
                         **kwargs)

    @property
    def marks(self) -> list[str]:
        """Each step's line as text: ``✗ Training``."""
        return [f"{MARKS[self.states[name]]} {title}" for name, title in self.steps]

    def show_states(self, states: dict[str, str]) -> None:
        for index, (name, title) in enumerate(self.steps):
            state = states.get(name, "untouched")
            if state != self.states[name]:
                self.states[name] = state
                self.replace_option_prompt_at_index(index, label(title, state))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Picked(event.option.id))

    def point_at(self, name: str) -> None:
        """Highlight ``name`` without choosing it (the wizard moved there)."""
        names = [n for n, _ in self.steps]
        if name in names:
            self.highlighted = names.index(name)

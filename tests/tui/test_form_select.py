"""A select mounted while the app is busy shows its value instead of ending the app."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Select, Static

from loraforge.tui.widgets.form_select import FormSelect, FormSelectCurrent


async def test_a_value_given_before_the_label_is_composed_is_shown_once_it_is():
    current = FormSelectCurrent("pick one")
    # what a Select does as it mounts on a busy app, before this child has composed
    current.update("8bit")

    class Host(App):
        def compose(self):
            yield current

    async with Host().run_test() as pilot:
        await pilot.pause()
        assert str(current.query_one("#label", Static).content) == "8bit"
        assert current.has_class("-has-value")
        current.update(Select.NULL)
        assert str(current.query_one("#label", Static).content) == "pick one"


async def test_a_form_select_is_a_select_to_its_owner():
    select = FormSelect([("none", "none"), ("8-bit", "8bit")], value="8bit", allow_blank=False)
    changes = []

    class Host(App):
        def compose(self):
            yield select

        def on_select_changed(self, event: Select.Changed) -> None:
            changes.append(event.value)

    async with Host().run_test() as pilot:
        await pilot.pause()
        assert isinstance(select, Select) and select.value == "8bit"
        assert str(select.query_one("#label", Static).content) == "8-bit"
        select.focus()
        await pilot.press("enter", "up", "enter")
        await pilot.pause()
        assert select.value == "none" and changes[-1] == "none"

"""``loraforge watch RUN_DIR``: the run view alone, on any run's ``events.jsonl``."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from loraforge.tui.run_screen import RunScreen


class WatchApp(App):
    """Follow one run from its events file until the view is closed."""

    CSS_PATH = "styles/wizard.tcss"  # the dialogs' looks, shared with the wizard
    TITLE = "loraforge watch"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "leave", "Quit", id="watch.quit", priority=True)]

    def __init__(self, events: str | Path, *, poll_seconds: float = 0.3) -> None:
        super().__init__()
        self.events = Path(events)
        self.poll_seconds = poll_seconds
        self.outcome = None

    def on_mount(self) -> None:
        self.push_screen(RunScreen(events=self.events, poll_seconds=self.poll_seconds),
                         self.exit)

    def on_run_screen_ended(self, message: RunScreen.Ended) -> None:
        self.outcome = message.outcome

    def action_leave(self) -> None:
        screen = self.screen
        if isinstance(screen, RunScreen):
            screen.leave_run_view()
        else:
            self.exit()

"""How loraforge shows events as log lines on standard error: the default reporter.

The command line uses it, and so does a run in a notebook or a script that
sets no reporter of its own.

Messages and phase lines get a ``›``, warnings a ``warning:`` (plugins that
did not load, and stop requests, a ``loraforge:`` as the command's own
voice). Steps, evaluations and checkpoints are the ``console`` callback's to
show (a progress bar on a terminal, plain lines elsewhere), so they are not
repeated here. Rich handles colour, and plain text where there is none.
"""

from __future__ import annotations

import sys
from typing import Any

from loraforge.events import Event, Message, PhaseFinished, PhaseStarted, RunWarning
from loraforge.reporting import Reporter

# warnings spoken in the command's own voice, as one line each
OWN_VOICE = {"plugin_not_loaded", "name_clash", "plugin_name_taken", "hook_not_marked", "stop"}


class ConsoleReporter(Reporter):
    """Renders events as lines on standard error (or ``file``)."""

    def __init__(self, file: Any = None) -> None:
        self.file = file
        self._console: Any = None

    @property
    def console(self) -> Any:
        from rich.console import Console

        stream = self.file if self.file is not None else sys.stderr
        if self._console is None or self._console.file is not stream:
            # soft wrap: a line in a log file stays one line, whatever the width
            self._console = Console(file=stream, highlight=False, soft_wrap=True)
        return self._console

    def report(self, event: Event) -> None:
        line = self.line(event)
        if line is not None:
            self.console.print(*line)

    def line(self, event: Event) -> tuple[str, ...] | None:
        """What to print for ``event`` (rich markup, and plain text kept from markup), or None."""
        from rich.markup import escape

        if isinstance(event, Message):
            if event.level == "trace":
                return (escape(event.text),)
            return (f"[bold cyan]›[/] {escape(event.text)}",)
        if isinstance(event, (PhaseStarted, PhaseFinished)) and event.message:
            return (f"[bold cyan]›[/] {escape(event.message)}",)
        if isinstance(event, RunWarning):
            if event.code == "stop":
                return (f"\nloraforge: {escape(event.message)}",)
            if event.code in OWN_VOICE:
                return (f"loraforge: {escape(event.message)}",)
            where = f"{event.where}: " if event.where and event.code != "remote_code" else ""
            text = f"[bold yellow]warning:[/] {escape(where + event.message)}"
            if event.hint and event.code != "remote_code":
                text += f" [italic]{escape(event.hint)}[/]"
            return (text,)
        return None


def duration(seconds: float, *, compact: bool = False) -> str:
    """A span of time as people read it: ``45s``, ``2m 05s``, ``1h 07m`` (``2m05s`` compact)."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    gap = "" if compact else " "
    if hours:
        return f"{hours}h{gap}{minutes:02d}m"
    return f"{minutes}m{gap}{secs:02d}s" if minutes else f"{secs}s"

"""What an after-training command (``loraforge eval``, ``report``, ``merge``) prints, shown live.

The command runs as a child process, like the run itself, so that loading a
model never blocks or takes down the view; its lines are read in a thread
and written here as they come.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import RichLog


def loraforge_command(*words: str) -> list[str]:
    """``loraforge WORDS...`` as this Python runs it."""
    return [sys.executable, "-m", "loraforge", *words]


class CommandOutput(RichLog):
    """The output of one command at a time."""

    class Done(Message):
        """The command ended with ``code``."""

        def __init__(self, words: list[str], code: int) -> None:
            super().__init__()
            self.words, self.code = words, code

    def __init__(self, **kwargs) -> None:
        super().__init__(wrap=True, markup=False, highlight=False, **kwargs)
        self.running = False
        self.words: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self, *words: str) -> None:
        """Run ``loraforge WORDS...`` and show what it prints, as wide as the screen."""
        self.running, self.words = True, list(words)
        self.clear()
        self.write(Text(f"$ {self.command}", style="bold"))
        # this log may be hidden still, without a width of its own: the screen's is the one
        self._run(list(words), max(self.screen.size.width - 4, 40))

    @work(thread=True, exclusive=True, group="command")
    def _run(self, words: list[str], width: int) -> None:
        env = {**os.environ, "COLUMNS": str(width), "TERM": "dumb"}
        try:
            process = subprocess.Popen(loraforge_command(*words), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, text=True, errors="replace")
        except OSError as exc:
            self._tell(self._finish, words, -1, f"could not start it: {exc}")
            return
        self.process = process
        assert process.stdout is not None
        for line in process.stdout:
            self._tell(self.write, Text.from_ansi(line.rstrip("\n")))
        self._tell(self._finish, words, process.wait(), "")

    def _tell(self, callback, *args) -> None:
        """Call back in the app's thread, unless the app has gone meanwhile."""
        try:
            self.app.call_from_thread(callback, *args)
        except RuntimeError:
            pass  # the app closed: nobody is left to show it to

    @property
    def command(self) -> str:
        """The command running (or run last), as a person would type it."""
        return shlex.join(["loraforge", *self.words])

    def stop(self) -> None:
        """Interrupt the command as ctrl+c would: a merge removes its unfinished folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def on_unmount(self) -> None:
        self.stop()  # an eval or merge nobody waits for any more

    def _finish(self, words: list[str], code: int, problem: str) -> None:
        self.running = False
        if problem:
            self.write(Text(problem, style="bold"))
        self.write(Text("done" if code == 0 else f"ended with exit code {code}", style="dim"))
        self.post_message(self.Done(words, code))

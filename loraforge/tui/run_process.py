"""The process of a run the view follows: is it alive, how did it end, stop it.

The wizard's own run is a child process (``subprocess.Popen``): its exit
code says how it ended. A run started elsewhere (``loraforge watch``) is
known only by the ``pid`` of its ``run_started`` event; it is alive while
that process is, and stopping it is the same SIGINT that Ctrl-C sends,
after which the run saves a checkpoint at the next step and ends
``interrupted``. Nothing here imports textual.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


class RunProcess:
    """A run's process, by its ``Popen`` or by pid; ``None`` for neither (nothing to watch)."""

    def __init__(self, process: subprocess.Popen | None = None, pid: int | None = None) -> None:
        self.process = process
        self.pid = process.pid if process is not None else pid

    @property
    def known(self) -> bool:
        return self.pid is not None

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        if self.pid is None:
            return False
        return pid_alive(self.pid)

    def how_it_ended(self) -> str:
        """A few words on how a process that is no longer alive ended."""
        code = self.process.poll() if self.process is not None else None
        if code is None:
            return f"the process {self.pid} is gone"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the process was killed by {name}"
        return f"the process exited with code {code}"

    def interrupt(self) -> bool:
        """Send SIGINT, as Ctrl-C would; False if there is no live process to send it to."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, signal.SIGINT)  # type: ignore[arg-type]
        except (ProcessLookupError, PermissionError):
            return False
        return True


def pid_alive(pid: int) -> bool:
    """Whether a process of that id runs (a zombie, dead but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: kill's answer is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def log_tail(path: str | Path | None, lines: int = 12) -> list[str]:
    """The last lines of a log file, or none if there is none."""
    if path is None:
        return []
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(0, size - 16384))
            text = stream.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.replace("\r", "\n").splitlines() if line.strip()][-lines:]

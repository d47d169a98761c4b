"""One run at a time in an output folder: an OS lock held for the whole run.

The lock is ``fcntl.flock`` on ``<output>/.loraforge.lock``, taken without
waiting. The kernel releases it when the process ends, however it ends
(``kill -9`` and a power cut included), so a stale lock never blocks a
resume, and no timestamp or pid has to be trusted to tell a dead run from a
live one. The file also says who holds it (process, command, start time),
for the message a second run gets. A file lock library would add nothing
here: the same call is what it uses on Linux. Under ``torchrun`` only
process 0 locks; the others follow it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from loraforge.engine.outputs import LOCK_FILE, now
from loraforge.errors import OutputError

try:
    import fcntl
except ImportError:  # not a POSIX system: runs are not locked there
    fcntl = None  # type: ignore[assignment]


class FolderLock:
    """The lock on one output folder; :meth:`acquire` it before writing anything there."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise :class:`OutputError` naming the process that holds it."""
        if fcntl is None or self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputError(
                f"{self.folder} is in use by another run: {holder}", where="output.dir",
                hint="Wait for that run to end, stop it (kill with SIGTERM saves a checkpoint "
                "first), or choose another output.dir (--set output.dir=runs/other).",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": now(),
                  "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    """Who holds the lock, as its file says."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        record = {}
    if not record.get("pid"):
        return "a process that has not said which (it is starting)"
    where = "" if record.get("host") == socket.gethostname() else f" on {record.get('host')}"
    return (f"process {record['pid']}{where} ({record.get('command') or 'loraforge'}), "
            f"running since {record.get('since')}")

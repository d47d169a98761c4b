"""Following a run's events file (JSON lines, docs/events.md) as it grows.

The file may not exist yet (the run has not started), its last line may be
half written (the run is writing it), and it may be replaced (a run started
over with ``--overwrite`` removes its folder's ``events.jsonl`` and begins a
new one): :meth:`EventsFile.read_new` copes with each. Nothing here imports
textual, so ``loraforge watch`` and tests can use it alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class EventsFile:
    """The events of one file, read a little at a time from where the last read stopped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.partial = b""
        self.identity: tuple[int, int] | None = None
        self.restarted = False
        """Set by :meth:`read_new` when the file was replaced or cut: start the view afresh."""
        self.skipped = 0
        """How many whole lines so far were not events (damage), and were skipped."""

    def read_new(self) -> list[dict[str, Any]]:
        """The events written since the last call; none while the file does not exist.

        A line that does not end in a newline yet is kept for the next call;
        a line that is not a JSON object (damage from a crash) is skipped.
        """
        self.restarted = False
        try:
            stat = os.stat(self.path)
        except OSError:
            return []
        identity = (stat.st_dev, stat.st_ino)
        if self.identity is not None and (identity != self.identity or stat.st_size < self.offset):
            self.offset, self.partial, self.restarted, self.skipped = 0, b"", True, 0
        self.identity = identity
        if stat.st_size == self.offset:
            return []
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self.offset)
                chunk = stream.read()
        except OSError:
            return []
        self.offset += len(chunk)
        data = self.partial + chunk
        complete, _, self.partial = data.rpartition(b"\n")
        events = []
        for line in complete.split(b"\n") if complete else []:
            event = _event(line)
            if event is not None:
                events.append(event)
            elif line.strip():
                self.skipped += 1
        return events


def _event(line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None

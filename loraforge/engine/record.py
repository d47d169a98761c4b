"""run.json: one record per run, owned by the run from its first phase to its last.

The record is written when the run has claimed its output directory
(``status = "running"``), updated as phases finish, and closed exactly once
whichever way the run ends: ``finished``, ``interrupted`` or ``failed``
with the error. Only process 0 writes it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from loraforge.engine.outputs import now, write_run
from loraforge.events import error_fields

STATUSES = ("running", "finished", "interrupted", "failed")
RESERVE = ".loraforge-reserve"
RESERVE_BYTES = 256 * 1024
"""Space set aside while the run lasts, so that a full disk cannot keep run.json from saying why."""


class RunRecord:
    """The fields of run.json and the folder it lives in."""

    def __init__(self, output_dir: Path, fields: dict[str, Any], *, write: bool = True) -> None:
        self.output_dir = Path(output_dir)
        self.fields: dict[str, Any] = {"status": "running", **fields}
        self.write_enabled = write
        self.closed = False
        self.started = time.time()

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def update(self, **fields: Any) -> None:
        self.fields.update(fields)

    def save(self) -> None:
        """Write run.json as it stands (raises OSError when it cannot)."""
        if not self.write_enabled:
            return
        write_run(self.output_dir, self.fields)
        reserve = self.output_dir / RESERVE
        if not reserve.exists():
            try:
                with open(reserve, "wb") as file:
                    file.write(b"\0" * RESERVE_BYTES)
                    os.fsync(file.fileno())
            except OSError:
                reserve.unlink(missing_ok=True)  # no room even for this: the run will say so

    def note_problem(self, key: str, entry: dict[str, Any]) -> None:
        """Append ``entry`` to the list ``key`` (e.g. a callback that was switched off)."""
        self.fields.setdefault(key, []).append(entry)

    def close(self, status: str, *, error: BaseException | None = None,
              **fields: Any) -> OSError | None:
        """Give the record its final status and write it; returns the OSError if it could not.

        A full disk must not hide the error that ended the run, so a failed
        write is returned for the caller to mention, not raised.
        """
        if status not in STATUSES[1:]:
            raise ValueError(f"not a final status: {status}")
        self.closed = True
        self.fields.update(fields, status=status)
        self.fields.setdefault("runtime_s", round(time.time() - self.started, 2))
        if status == "finished":
            self.fields["finished_at"] = now()
            self.fields.pop("error", None)
        else:
            self.fields["stopped_at"] = now()
            self.fields["finished_at"] = None
        if error is not None:
            details = error_fields(error)
            self.fields["error"] = details["message"]
            self.fields["error_details"] = details
        reserve = self.output_dir / RESERVE
        try:
            try:
                self.save()
            except OSError:
                # the disk filled up: the space set aside makes room for the last word
                reserve.unlink(missing_ok=True)
                self.save()
        except OSError as exc:
            return exc
        finally:
            if self.write_enabled:
                reserve.unlink(missing_ok=True)
        return None

"""``loraforge`` on a pseudo-terminal, as a person's terminal runs it (POSIX only).

Textual draws on a real terminal and reads keys from it; a test of what a
person sees (the wizard coming up, a plugin's failure told once it ends)
runs the real command on one::

    with Terminal(["new", "recipe.toml"], cwd=tmp_path) as terminal:
        terminal.wait_for(b"Model path")  # the first screen is drawn
        terminal.type(b"\\x11")          # ctrl+q
        assert terminal.wait() == 0
    assert "Traceback" not in terminal.text

The benchmark of the first screen times the same thing.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType


class Terminal:
    """``python -m loraforge ARGS`` started on a pseudo-terminal of ``size`` (columns, lines).

    ``environment`` is the command's whole environment (this process's by
    default); TERM is set to a 256-colour xterm.
    """

    def __init__(self, args: Sequence[str], *, cwd: str | Path,
                 environment: Mapping[str, str] | None = None,
                 size: tuple[int, int] = (80, 24)) -> None:
        columns, lines = size
        self.output = b""
        """Everything the command wrote to its terminal so far."""
        self.code: int | None = None
        self.began = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: the command, on the terminal's other end
            try:
                os.chdir(cwd)
                os.execve(sys.executable, [sys.executable, "-m", "loraforge", *args],
                          dict(environment if environment is not None else os.environ,
                               TERM="xterm-256color", COLUMNS=str(columns), LINES=str(lines)))
            finally:
                os._exit(127)  # execve failed: never run the caller's code in the child
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def _read(self, seconds: float) -> bool:
        """Read what is there within ``seconds``; False once the terminal has closed."""
        if select.select([self.fd], [], [], max(seconds, 0))[0]:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:  # the command ended and its terminal closed
                return False
            if not chunk:
                return False
            self.output += chunk
        return True

    def wait_for(self, marker: bytes, timeout: float = 60) -> float:
        """Read until ``marker`` has been written; the seconds since the command started.

        TimeoutError, or EOFError if the command ends first, each with the
        last of what it wrote.
        """
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {marker!r} in {timeout:.0f} s; the terminal shows: "
                                   f"{self.output[-500:]!r}")
            if not self._read(min(left, 1)):
                raise EOFError(f"the command ended before writing {marker!r}: "
                               f"{self.output[-500:]!r}")
        return time.perf_counter() - self.began

    def type(self, keys: bytes) -> None:
        """Type ``keys`` on the terminal, as a person would."""
        os.write(self.fd, keys)

    def wait(self, timeout: float = 60) -> int:
        """Read until the command ends; its exit code (killed after ``timeout``: -9)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(min(deadline - time.monotonic(), 1)):
            pass
        return self._reap(deadline)

    def close(self) -> int:
        """End the command now if it still runs, and close the terminal; its exit code."""
        return self._reap(time.monotonic())

    def _reap(self, deadline: float) -> int:
        if self.code is None:
            while True:
                finished, status = os.waitpid(self.pid, os.WNOHANG)
                if finished:
                    break
                if time.monotonic() >= deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    _, status = os.waitpid(self.pid, 0)
                    break
                time.sleep(0.05)
            self.code = os.waitstatus_to_exitcode(status)
            os.close(self.fd)
        return self.code

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

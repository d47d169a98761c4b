"""How long `loraforge new` takes to show its first screen, against importing peft (which a run needs).

Each side is a fresh process, timed from its start. The wizard is the real
command, ``loraforge new FILE``, in a pseudo-terminal of 80×24 as a person
at a terminal runs it; it is timed until the Model step's fields are drawn
on that terminal. ``python -c "import peft"`` is timed until its import is
done. The ratio is the one to watch: the first screen must not pay for
torch, transformers, peft or datasets. Target: ratio <= 0.1.

The plugins load right after the first screen is drawn; the time until they
are loaded and the new recipe is checked (its first problem shown) is given
too, for information.

Both sides run as Python runs by default, caching bytecode: the warm-up
round writes loraforge's ``.pyc`` files as a first start does (pip wrote
peft's when it installed it). ``PYTHONDONTWRITEBYTECODE`` is left out of
their environment, for with it every start compiles loraforge's own
modules from source again (``--no-bytecode`` measures that).

    .venv/bin/python benchmarks/first_screen.py --rounds 7
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time

FIRST_SCREEN = b"Model path"  # a field of the Model step: the step is on the terminal
CHECKED = b"names neither a checkpoint"  # the new recipe's first problem: plugins loaded
PEFT = "import peft\nprint('ready', flush=True)"
ENVIRONMENT = dict(os.environ)


def wizard(timeout: float = 30.0) -> tuple[float, float]:
    """Seconds from starting ``loraforge new`` to its first screen, and to its recipe checked."""
    folder = tempfile.mkdtemp()
    began = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on the terminal's other end
        os.chdir(folder)
        environment = dict(ENVIRONMENT, TERM="xterm-256color", COLUMNS="80", LINES="24")
        os.execve(sys.executable, [sys.executable, "-m", "loraforge", "new", "recipe.toml"],
                  environment)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen, first = b"", None
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise SystemExit(f"loraforge new showed no first screen in {timeout:.0f} s; "
                                 f"it wrote: {seen[-500:]!r}")
            try:
                seen += os.read(fd, 1 << 16)
            except OSError:  # the command ended
                raise SystemExit(f"loraforge new ended before its first screen: {seen[-500:]!r}") from None
            if first is None and FIRST_SCREEN in seen:
                first = time.perf_counter() - began
            if first is not None and CHECKED in seen:
                return first, time.perf_counter() - began
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def peft() -> float:
    """Seconds from starting a fresh interpreter to ``import peft`` done."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", PEFT], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, cwd=tempfile.gettempdir(),
                               env=ENVIRONMENT)
    line = process.stdout.readline()
    elapsed = time.perf_counter() - began
    process.kill()
    process.wait()
    if line.strip() != "ready":
        raise SystemExit(f"python -c 'import peft' failed: {line!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="set PYTHONDONTWRITEBYTECODE=1: compile from source at every start")
    args = parser.parse_args()
    rounds = args.rounds
    if args.no_bytecode:
        ENVIRONMENT["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        ENVIRONMENT.pop("PYTHONDONTWRITEBYTECODE", None)
    peft()  # warm the file cache for both sides alike
    wizard()
    first, checked, imported = [], [], []
    for _ in range(rounds):  # alternating, so that a busy moment falls on both
        shown, ready = wizard()
        first.append(shown)
        checked.append(ready)
        imported.append(peft())
    w, r, p = (statistics.median(x) for x in (first, checked, imported))
    print(f"loraforge new: first screen      {w:6.2f} s")
    print(f"loraforge new: plugins loaded    {r:6.2f} s  (the recipe checked)")
    print(f"python -c 'import peft'          {p:6.2f} s")
    print(f"ratio (first screen / import peft): {w / p:.3f} (target <= 0.1)")


if __name__ == "__main__":
    main()

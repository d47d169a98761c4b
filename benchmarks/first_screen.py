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
import os
import statistics
import subprocess
import sys
import tempfile
import time

from loraforge.testing.terminal import Terminal

FIRST_SCREEN = b"Model path"  # a field of the Model step: the step is on the terminal
CHECKED = b"names neither a checkpoint"  # the new recipe's first problem: plugins loaded
PEFT = "import peft\nprint('ready', flush=True)"
ENVIRONMENT = dict(os.environ)


def wizard(timeout: float = 30.0) -> tuple[float, float]:
    """Seconds from starting ``loraforge new`` to its first screen, and to its recipe checked."""
    with Terminal(["new", "recipe.toml"], cwd=tempfile.mkdtemp(),
                  environment=ENVIRONMENT) as terminal:
        try:
            return terminal.wait_for(FIRST_SCREEN, timeout), terminal.wait_for(CHECKED, timeout)
        except (TimeoutError, EOFError) as exc:
            raise SystemExit(f"loraforge new: {exc}") from None


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

"""How long the wizard takes to show its first screen, against importing peft (which a run needs).

Each side is a fresh process, timed from its start to the point of interest:
the wizard's first screen painted (its app mounted and idle under Textual's
headless driver), or ``import peft`` done. The ratio is the one to watch:
the wizard's first screen must not pay for torch, transformers, peft or
datasets. Target: ratio <= 0.1.

    .venv/bin/python benchmarks/first_screen.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

FIRST_SCREEN = """
import asyncio, sys, tempfile
from pathlib import Path
from loraforge.tui.app import Wizard
from loraforge.tui.draft import Draft

async def main():
    app = Wizard(Draft.new(Path(tempfile.mkdtemp()) / "recipe.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print("ready", flush=True)
asyncio.run(main())
"""
PEFT = "import peft\nprint('ready', flush=True)"


def timed(code: str) -> float:
    """Seconds from starting a fresh interpreter to its "ready" line (what follows is not counted)."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, cwd=tempfile.gettempdir())
    line = process.stdout.readline()
    elapsed = time.perf_counter() - began
    process.kill()
    process.wait()
    if line.strip() != "ready":
        raise SystemExit(f"the timed process failed: {line!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    timed(PEFT)  # warm the file cache for both sides alike
    wizard, peft = [], []
    for _ in range(rounds):  # alternating, so that a busy moment falls on both
        wizard.append(timed(FIRST_SCREEN))
        peft.append(timed(PEFT))
    w, p = statistics.median(wizard), statistics.median(peft)
    print(f"first screen of the wizard  {w:6.2f} s")
    print(f"python -c 'import peft'     {p:6.2f} s")
    print(f"ratio (wizard / import peft): {w / p:.3f} (target <= 0.1)")


if __name__ == "__main__":
    main()

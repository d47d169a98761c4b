"""Starting a saved recipe's run from the wizard: ask about the folder, then a child process.

The run is ``loraforge run FILE --events EVENTS``, started in a session of
its own so that it can outlive the wizard, its log in a file beside the
events (both under loraforge's cache, never in the run's folder, which must
be empty or a run's). If the output folder holds an unfinished run, the
wizard offers to resume it; a finished one, to replace it. The run view
follows the events; when a run fails, the wizard goes to the field the
error names.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loraforge.cache import cache_dir
from loraforge.tui.choice import Choice


@dataclass
class Launched:
    """A run the wizard started: its process and the files it writes."""

    process: subprocess.Popen
    events: Path
    log: Path
    recipe: Path


class StartRun(Choice):
    """Resume, start over, or cancel, for a folder that already holds a run."""

    def __init__(self, question: str, choices: list[tuple[str, str]]) -> None:
        super().__init__(question, [(answer, label, "primary" if answer == "resume" else "default")
                                    for answer, label in choices], prefix="start-")


def offer_to_start(app: Any) -> None:
    """Check the recipe's output folder, ask what to do with a run in it, and start the run."""
    from loraforge.engine.resume import folder_state

    recipe = app.draft.recipe
    state = folder_state(recipe)
    if state.kind in ("busy", "refused"):
        app.notify(state.message, title="Cannot start the run", severity="error", timeout=15)
        app.go_to_field("output.dir")
        return
    if state.kind == "new":
        start(app, [])
        return
    if state.kind == "unfinished":
        question = (f"{recipe.output.dir} holds {state.message}. Resume it, or start over "
                    "(its checkpoints are deleted)?")
        choices = [("resume", f"Resume from step {state.step}"), ("overwrite", "Start over")]
    else:
        question = (f"{recipe.output.dir} holds a run that {state.message}. Replace it? (Or "
                    "choose another output folder in the Training step.)")
        choices = [("overwrite", "Replace it")]

    def answered(answer: str | None) -> None:
        if answer is not None:
            start(app, [f"--{answer}"])

    app.push_screen(StartRun(question, choices), answered)


def start(app: Any, flags: list[str]) -> Launched:
    """Start ``loraforge run`` on the saved recipe and show its run view."""
    from loraforge.tui.run_screen import RunScreen

    folder = cache_dir() / "wizard"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    events, log = folder / f"{stamp}-{os.getpid()}.events.jsonl", folder / f"{stamp}-{os.getpid()}.log"
    command = [sys.executable, "-m", "loraforge", "run", str(app.draft.path), "--events",
               str(events), *flags]
    with open(log, "w", encoding="utf-8") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    launched = Launched(process, events, log, app.draft.path)
    app.run_started = launched

    def closed(result: Any) -> None:
        app.run_closed(result)

    app.push_screen(RunScreen(events=events, process=process, recipe_path=app.draft.path,
                              log=log), closed)
    return launched

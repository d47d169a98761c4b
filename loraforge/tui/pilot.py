"""Driving the wizard from code, as the tests and the docs' screenshots do.

:func:`settle` waits until the step on screen has its live facts (the model
summary, the trainable count, the data preview, the estimate), which come
from worker threads and, for the preview, after the fields have been still
for a moment; :func:`wait_for` waits for anything else that comes a little
later (a notification, a run's end). :data:`EXAMPLE_RECIPE` is the quickstart's shape on the tiny
model, the recipe the pictures show.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.widgets import Input
from textual.worker import WorkerCancelled

from loraforge.tui.steps.data import SETTLE_SECONDS

EXAMPLE_RECIPE = """\
# A tiny model taught to label reviews.
[model]
loader = "tiny-llama"

[data]
path = "reviews.jsonl"

[data.formatter]
name = "template"
template = "Review: {text} Label:"
completion = " {label}"
"""
"""Saved beside a copy of ``recipes/data/reviews.jsonl``."""


async def settle(pilot: Any) -> None:
    """Wait until the step is shown and its live panels are filled; stop the cursors blinking."""
    for _ in range(3):
        await pilot.pause(SETTLE_SECONDS + 0.05)  # the data preview waits for the fields
        for worker in list(pilot.app.workers):
            try:
                await worker.wait()
            except WorkerCancelled:
                pass  # superseded by a newer one of its group, which is waited for next
    for field in pilot.app.query(Input):
        field.cursor_blink = False  # a picture does not depend on when it was taken
    await pilot.pause()


async def wait_for(pilot: Any, condition: Callable[[], object], *, seconds: float = 120,
                   what: str = "") -> None:
    """Let the app run until ``condition()`` is true; an AssertionError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or condition}")
        await pilot.pause(0.2)

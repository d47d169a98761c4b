"""The built-in training callbacks: progress on the console, a metrics file, and a comparison
of the base with the adapter once a run has finished."""

from __future__ import annotations

from loraforge.hookspecs import hookimpl
from loraforge_callbacks.compare import CompareAfterTraining
from loraforge_callbacks.console import ConsoleProgress
from loraforge_callbacks.metrics import MetricsFile


@hookimpl
def register_callbacks(register):
    register(ConsoleProgress)
    register(MetricsFile)
    register(CompareAfterTraining)

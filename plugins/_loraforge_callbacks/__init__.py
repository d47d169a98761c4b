"""The built-in training callbacks: progress on the console, a metrics file, and a comparison
of the base with the adapter once a run has finished."""

from __future__ import annotations

from _loraforge_callbacks.compare import CompareAfterTraining
from _loraforge_callbacks.console import ConsoleProgress
from _loraforge_callbacks.metrics import MetricsFile
from loraforge.hookspecs import hookimpl


@hookimpl
def register_callbacks(register):
    register(ConsoleProgress)
    register(MetricsFile)
    register(CompareAfterTraining)

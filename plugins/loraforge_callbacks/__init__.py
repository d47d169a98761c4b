"""The built-in training callbacks: progress on the console and a metrics file."""

from __future__ import annotations

from loraforge.hookspecs import hookimpl
from loraforge_callbacks.console import ConsoleProgress
from loraforge_callbacks.metrics import MetricsFile


@hookimpl
def register_callbacks(register):
    register(ConsoleProgress)
    register(MetricsFile)

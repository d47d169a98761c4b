"""Where a run's events go: reporters, and the one a piece of code should talk to now.

Library code (the engine, plugin loading, a plugin's loader) never prints:
it calls :func:`note`, :func:`warn` or :func:`progress`, which send an
event to the current reporter. A run makes its reporter current for its
own thread while it runs; outside a run the process-wide reporter set with
:func:`set_process_reporter` gets them (the CLI sets its console reporter
there), and with none set they are dropped.

A reporter that fails (a closed pipe, a full disk) is switched off by
:class:`Reporters` and never stops the run.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import IO

from loraforge.events import Event, Message, Progress, RunWarning


class Reporter:
    """Receives a run's events; subclasses override :meth:`report`."""

    def report(self, event: Event) -> None:
        """Called with each event, in order, from the thread the run runs in."""

    def close(self) -> None:
        """The reporter will get no more events."""


class CollectingReporter(Reporter):
    """Keeps every event in ``events``: for tests and notebooks."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def report(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


class JsonLinesReporter(Reporter):
    """Writes each event as one JSON object per line, flushed, to ``stream``."""

    def __init__(self, stream: IO[str], *, close: bool = False) -> None:
        self.stream = stream
        self._close = close

    def report(self, event: Event) -> None:
        self.stream.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._close:
            self.stream.close()


class Reporters(Reporter):
    """Sends each event to several reporters; one that raises is switched off and named once."""

    def __init__(self, reporters: Iterable[Reporter] = ()) -> None:
        self.reporters = [r for r in reporters if r is not None]
        self.failed: list[tuple[Reporter, BaseException]] = []
        # a stop request is announced from another thread than the run's
        self._lock = threading.RLock()

    def add(self, reporter: Reporter) -> None:
        self.reporters.append(reporter)

    def report(self, event: Event) -> None:
        with self._lock:
            for reporter in list(self.reporters):
                try:
                    reporter.report(event)
                except Exception as exc:  # a broken log must not stop training
                    self._switch_off(reporter, exc)

    def _switch_off(self, reporter: Reporter, exc: BaseException) -> None:
        self.reporters.remove(reporter)
        self.failed.append((reporter, exc))
        notice = RunWarning(
            f"{type(reporter).__name__} stopped writing ({type(exc).__name__}: {exc}); "
            "the run goes on, and its files in the output directory are still written",
            code="console_closed",
        )
        for other in list(self.reporters):
            try:
                other.report(notice)
            except Exception as again:
                self._switch_off(other, again)

    def close(self) -> None:
        for reporter in self.reporters:
            try:
                reporter.close()
            except Exception:
                pass


_current: ContextVar[Reporter | None] = ContextVar("loraforge_reporter", default=None)
_process: Reporter | None = None
_lock = threading.Lock()


def current_reporter() -> Reporter:
    """The reporter of the run in progress in this thread, else the process's.

    Until one is set, that is a :class:`~loraforge.console.ConsoleReporter`:
    log lines on standard error, as the command line shows them.
    """
    global _process
    found = _current.get() or _process
    if found is None:
        from loraforge.console import ConsoleReporter

        with _lock:
            _process = found = _process or ConsoleReporter()
    return found


def set_process_reporter(reporter: Reporter | None) -> Reporter | None:
    """Make ``reporter`` the one code outside a run reports to (None: the default); returns the previous."""
    global _process
    with _lock:
        previous, _process = _process, reporter
    return previous


@contextlib.contextmanager
def reporting_to(reporter: Reporter) -> Iterator[Reporter]:
    """Make ``reporter`` current in this thread for the ``with`` block."""
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)


def note(text: str, *, phase: str | None = None, level: str = "info") -> None:
    """Tell the person watching something worth a log line (e.g. a conversion starting).

    ``level = "trace"`` is for lines asked for by a debugging switch such as
    ``LORAFORGE_TRACE_PLUGINS``.
    """
    current_reporter().report(Message(text, phase=phase, level=level))


def warn(message: str, *, code: str = "other", where: str | None = None,
         hint: str | None = None) -> None:
    """Warn the person watching; the run goes on."""
    current_reporter().report(RunWarning(message, code=code, where=where, hint=hint))


def progress(phase: str, done: int, total: int | None, unit: str = "") -> None:
    """Say how far a long step has got (rows tokenized, shards converted...)."""
    current_reporter().report(Progress(phase, done, total, unit))

"""What a run says while it runs: typed events, the same for every front end.

A run sends each event to its reporter (:mod:`loraforge.reporting`): the
CLI renders them as log lines, ``loraforge run --events FILE`` writes them
as JSON lines (:meth:`Event.to_dict`), and the wizard draws them. Every run
also appends them to ``events.jsonl`` in its output directory, which is what
``loraforge watch`` reads. docs/events.md documents each kind and its fields;
a test keeps that page and this module in step.

Nothing here imports anything heavy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

EVENTS_VERSION = 1
"""The version of the JSON-lines format: it grows when a field changes meaning or goes away.
New kinds of event and new fields may appear within a version; readers skip what they do not know."""

RUN_EVENTS_FILE = "events.jsonl"
"""The file in a run's output directory that every run appends its events to."""

PHASES = ("output", "plugins", "data", "model", "lora", "tokenize", "train", "evaluate", "save")
"""The phases of a run, in order. ``evaluate`` happens only when the recipe holds out data."""


def plain(value: Any) -> Any:
    """A JSON-ready value: tensors and numpy values as numbers, NaN and infinity as null."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # a 0-d tensor or numpy scalar becomes a Python number
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN; readers such as jq would reject the line
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass(frozen=True)
class Event:
    """Something a run has to say. ``kind`` names it in the JSON lines."""

    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """One JSON object: ``v``, ``event``, ``time``, then the event's own fields."""
        record: dict[str, Any] = {"v": EVENTS_VERSION, "event": self.kind,
                                  "time": round(self.time, 3)}
        for item in fields(self):
            if item.name != "time":
                record[item.name] = plain(getattr(self, item.name))
        return record


@dataclass(frozen=True)
class RunStarted(Event):
    """The run has its output directory and begins."""

    kind: ClassVar[str] = "run_started"
    output_dir: str
    recipe: str | None
    resumed_from_step: int = 0
    pid: int = 0
    loraforge: str = ""


@dataclass(frozen=True)
class PhaseStarted(Event):
    """A phase (one of :data:`PHASES`) begins; ``message`` says what it does, or is empty."""

    kind: ClassVar[str] = "phase_started"
    phase: str
    message: str = ""


@dataclass(frozen=True)
class PhaseFinished(Event):
    """A phase is done: ``seconds`` it took, ``message`` (or empty), ``details`` its numbers."""

    kind: ClassVar[str] = "phase_finished"
    phase: str
    seconds: float
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress(Event):
    """How far a phase is: ``done`` of ``total`` (``unit``: "rows", "shards", ...)."""

    kind: ClassVar[str] = "progress"
    phase: str
    done: int
    total: int | None
    unit: str = ""


@dataclass(frozen=True)
class Message(Event):
    """A line of the run's log, for the person watching; ``level`` is ``info`` or ``trace``."""

    kind: ClassVar[str] = "message"
    text: str
    phase: str | None = None
    level: str = "info"


@dataclass(frozen=True)
class RunWarning(Event):
    """Something the user should know that does not stop the run.

    ``code`` tells warnings apart for programs: ``remote_code``, ``plugin_not_loaded``,
    ``name_clash``, ``plugin_name_taken``, ``hook_not_marked``, ``callback_disabled``, ``console_closed``, ``resume`` or ``other``.
    """

    kind: ClassVar[str] = "warning"
    message: str
    code: str = "other"
    where: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class TrainStarted(Event):
    """The training loop begins (as callbacks' ``on_begin``)."""

    kind: ClassVar[str] = "train_started"
    max_steps: int
    epochs: float
    trainable_parameters: int
    total_parameters: int
    resumed_from_step: int = 0
    samples: int = 0


@dataclass(frozen=True)
class StepLogged(Event):
    """A logged optimizer step: ``metrics`` holds loss, learning_rate, grad_norm, epoch..."""

    kind: ClassVar[str] = "step"
    step: int
    max_steps: int
    metrics: dict[str, Any]


@dataclass(frozen=True)
class Evaluated(Event):
    """Held-out metrics (``eval_loss``...) at ``step``."""

    kind: ClassVar[str] = "evaluated"
    step: int
    metrics: dict[str, Any]


@dataclass(frozen=True)
class CheckpointSaved(Event):
    """A complete checkpoint of ``step`` is in ``path``."""

    kind: ClassVar[str] = "checkpoint_saved"
    step: int
    path: str


@dataclass(frozen=True)
class RunEnded(Event):
    """The run is over: ``status`` is ``finished``, ``interrupted`` or ``failed``.

    ``error`` (failed runs) holds ``kind`` (the error's class), ``message``,
    ``where`` and ``hint``; ``phase`` is the phase the run ended in.
    """

    kind: ClassVar[str] = "run_ended"
    status: str
    phase: str | None = None
    global_step: int | None = None
    runtime_s: float | None = None
    output_dir: str | None = None
    train_loss: float | None = None
    epoch: float | None = None
    checkpoint: str | None = None
    error: dict[str, Any] | None = None
    signal: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (RunStarted, PhaseStarted, PhaseFinished, Progress, Message,
                RunWarning, TrainStarted, StepLogged, Evaluated, CheckpointSaved, RunEnded)
}
"""Every kind of event, by its name in the JSON lines."""


def error_fields(exc: BaseException) -> dict[str, Any]:
    """What a ``run_ended`` event says about the error that ended a run."""
    from loraforge.errors import LoraforgeError

    if isinstance(exc, LoraforgeError):
        return {"kind": type(exc).__name__, "title": exc.title, "message": exc.message,
                "where": exc.where, "hint": exc.hint}
    return {"kind": type(exc).__name__, "title": "Error",
            "message": f"{type(exc).__name__}: {exc}", "where": None, "hint": None}

"""What the run view shows, folded from a run's events: where it is, how fast, its losses.

:class:`RunState` takes the events one by one (:meth:`RunState.apply`) as
docs/events.md defines them, skipping kinds and keys it does not know. A
resumed run's file holds several segments, each from a ``run_started``: the
history goes on across them, and the steps a resumed run trains again
replace the ones logged before its checkpoint. A fresh start in the same
file (``resumed_from_step`` 0) begins the history anew. Nothing here imports
textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loraforge.events import PHASES


@dataclass
class LogLine:
    """A line of the run's log: ``level`` is ``info``, ``trace``, ``warning`` or ``error``."""

    text: str
    level: str = "info"


@dataclass
class RunState:
    """Everything the run view draws, from the events seen so far."""

    started: dict[str, Any] | None = None
    """The latest ``run_started`` event."""
    segments: int = 0
    phase: str | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    progress: dict[str, Any] | None = None
    """The latest ``progress`` event of the phase in progress."""
    max_steps: int | None = None
    step: int = 0
    epoch: float | None = None
    learning_rate: float | None = None
    train_loss: dict[int, float] = field(default_factory=dict)
    eval_loss: dict[int, float] = field(default_factory=dict)
    train_tokens: int | None = None
    checkpoint: str | None = None
    log: list[LogLine] = field(default_factory=list)
    ended: dict[str, Any] | None = None
    # (time, step, epoch) of the first and the latest logged step of this segment: the speed
    _first: tuple[float, int, float | None] | None = None
    _last: tuple[float, int, float | None] | None = None

    # --- reading events ---------------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{event.get('event')}", None)
        if handler is not None:
            handler(event)

    def _on_run_started(self, event: dict[str, Any]) -> None:
        resumed = _int(event.get("resumed_from_step")) or 0
        if resumed == 0:  # a fresh start (also in a file that held another run): a new history
            self.segments, self.max_steps, self.train_tokens, self.checkpoint = 0, None, None, None
            self.epoch = self.learning_rate = None
        self.started, self.ended = event, None
        self.segments += 1
        self.phase, self.phase_seconds, self.progress = None, {}, None
        self._first = self._last = None
        # what was logged after the checkpoint the run goes on from is trained again
        self.train_loss = {s: v for s, v in self.train_loss.items() if s <= resumed}
        self.eval_loss = {s: v for s, v in self.eval_loss.items() if s <= resumed}
        self.step = max(resumed, 0)
        if resumed:
            self.log.append(LogLine(f"resumed from step {resumed}"))

    def _on_phase_started(self, event: dict[str, Any]) -> None:
        self.phase, self.progress = event.get("phase"), None
        if event.get("message"):
            self.log.append(LogLine(str(event["message"])))

    def _on_phase_finished(self, event: dict[str, Any]) -> None:
        phase = event.get("phase")
        if isinstance(phase, str):
            self.phase_seconds[phase] = float(event.get("seconds") or 0)
        if event.get("message"):
            self.log.append(LogLine(str(event["message"])))
        details = event.get("details") or {}
        if phase == "tokenize":
            self.train_tokens = _int((details.get("train") or {}).get("tokens"))
        self.progress = None

    def _on_progress(self, event: dict[str, Any]) -> None:
        self.progress = event

    def _on_message(self, event: dict[str, Any]) -> None:
        self.log.append(LogLine(str(event.get("text", "")), str(event.get("level") or "info")))

    def _on_warning(self, event: dict[str, Any]) -> None:
        text = str(event.get("message", ""))
        if event.get("where"):
            text = f"{event['where']}: {text}"
        if event.get("hint"):
            text += f" ({event['hint']})"
        self.log.append(LogLine(text, "warning"))

    def _on_train_started(self, event: dict[str, Any]) -> None:
        self.phase = "train"
        self.max_steps = _int(event.get("max_steps"))

    def _on_step(self, event: dict[str, Any]) -> None:
        step = _int(event.get("step"))
        if step is None:
            return
        metrics = event.get("metrics") or {}
        self.step = step
        self.max_steps = _int(event.get("max_steps")) or self.max_steps
        self.epoch = _number(metrics.get("epoch"), self.epoch)
        self.learning_rate = _number(metrics.get("learning_rate"), self.learning_rate)
        loss = _number(metrics.get("loss"))
        if loss is not None:
            self.train_loss[step] = loss
        point = (float(event.get("time") or 0), step, self.epoch)
        self._first = self._first or point
        self._last = point

    def _on_evaluated(self, event: dict[str, Any]) -> None:
        step, loss = _int(event.get("step")), _number((event.get("metrics") or {}).get("eval_loss"))
        if step is not None and loss is not None:
            self.eval_loss[step] = loss

    def _on_checkpoint_saved(self, event: dict[str, Any]) -> None:
        self.checkpoint = event.get("path")
        self.log.append(LogLine(f"checkpoint of step {event.get('step')} saved in "
                                f"{event.get('path')}"))

    def _on_run_ended(self, event: dict[str, Any]) -> None:
        self.ended = event
        self.phase, self.progress = event.get("phase") or self.phase, None
        if event.get("global_step") is not None:
            self.step = _int(event["global_step"]) or self.step
        self.epoch = _number(event.get("epoch"), self.epoch)  # beyond the last logged step's
        self.checkpoint = event.get("checkpoint") or self.checkpoint
        error = event.get("error")
        if isinstance(error, dict):
            where = f"{error['where']}: " if error.get("where") else ""
            self.log.append(LogLine(f"{where}{error.get('message', '')}", "error"))

    def take_history(self, events: list[dict[str, Any]]) -> None:
        """Take the losses logged before this segment resumed from ``events``, the run's whole
        file (``events.jsonl`` in its folder), when the file followed holds this segment only."""
        resumed = _int((self.started or {}).get("resumed_from_step")) or 0
        earlier = RunState()
        for event in events:
            earlier.apply(event)
        for mine, theirs in ((self.train_loss, earlier.train_loss),
                             (self.eval_loss, earlier.eval_loss)):
            for step, loss in theirs.items():
                if step <= resumed:
                    mine.setdefault(step, loss)

    # --- what follows from them ---------------------------------------------------------------

    @property
    def status(self) -> str:
        """``waiting`` (no event yet), ``preparing``, ``training``, or how the run ended."""
        if self.ended is not None:
            return str(self.ended.get("status") or "failed")
        if self.started is None and self.phase is None:
            return "waiting"
        return "training" if self.phase == "train" else "preparing"

    @property
    def last_train_loss(self) -> float | None:
        return self.train_loss[max(self.train_loss)] if self.train_loss else None

    @property
    def last_eval_loss(self) -> float | None:
        return self.eval_loss[max(self.eval_loss)] if self.eval_loss else None

    @property
    def output_dir(self) -> str | None:
        for event in (self.ended, self.started):
            if event and event.get("output_dir"):
                return str(event["output_dir"])
        return None

    @property
    def pid(self) -> int | None:
        return _int((self.started or {}).get("pid")) or None

    @property
    def recipe(self) -> str | None:
        return (self.started or {}).get("recipe")

    def steps_per_second(self) -> float | None:
        if not (self._first and self._last) or self._last[0] <= self._first[0]:
            return None
        return (self._last[1] - self._first[1]) / (self._last[0] - self._first[0]) or None

    def eta_seconds(self) -> float | None:
        rate = self.steps_per_second()
        if rate is None or not self.max_steps or self.ended is not None:
            return None
        return max(self.max_steps - self.step, 0) / rate

    def tokens_per_second(self) -> float | None:
        """Training tokens a second: the tokens of an epoch times the epochs a second."""
        first, last = self._first, self._last
        if not (first and last and self.train_tokens) or last[0] <= first[0]:
            return None
        if first[2] is None or last[2] is None:
            return None
        return self.train_tokens * (last[2] - first[2]) / (last[0] - first[0]) or None

    def phases(self) -> list[tuple[str, str]]:
        """Each phase and its state: ``done``, ``current``, ``todo``, or where the run ended:
        ``failed`` or ``stopped``."""
        states = []
        for phase in PHASES:
            state = "done" if phase in self.phase_seconds else "todo"
            if phase == self.phase and state == "todo":
                if self.ended is None:
                    state = "current"
                else:
                    state = "failed" if self.ended.get("status") == "failed" else "stopped"
            states.append((phase, state))
        return states


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _number(value: Any, default: float | None = None) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


@dataclass
class RunOutcome:
    """How a run the view followed ended, for whoever opened the view.

    ``status`` is the run's own (``finished``, ``interrupted``, ``failed``),
    ``crashed`` for a process that died without saying how the run ended,
    or ``running`` for a run left going in the background.
    """

    status: str
    error: dict[str, Any] | None = None
    output_dir: str | None = None
    checkpoint: str | None = None
    detail: str = ""
    """How a crashed process ended (``the process was killed by SIGKILL``)."""

"""The ``metrics`` callback: one JSON object per run event in ``metrics.jsonl``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loraforge.components import RunInfo, TrainingCallback
from loraforge.events import plain


class MetricsOptions(BaseModel):
    """Options of the ``metrics`` callback."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        "metrics.jsonl", title="File name", description="The file, inside the run's output directory, to append to."
    )

    @field_validator("filename")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the file name is empty")
        return value


class MetricsFile(TrainingCallback):
    """Appends each run event to ``<output_dir>/metrics.jsonl``, one JSON object a line.

    Every line has ``event`` (``begin``, ``log``, ``evaluate``, ``save`` or
    ``end``) and ``time`` (Unix seconds); all but ``end`` lines also have
    ``step``. The other keys are the event's own: the Trainer's
    logs (``loss``, ``learning_rate``, ``grad_norm``, ``epoch``), evaluation
    metrics, the checkpoint ``path``, the run summary. NaN and infinite values
    are written as null. The file is opened for appending, so a resumed run
    continues it (its ``begin`` line has ``resumed_from_step``), and flushed
    after every line, so a crash loses nothing already written.
    """

    name = "metrics"
    description = "Append every logged metric to metrics.jsonl in the output directory."
    Options = MetricsOptions

    def __init__(self, options: BaseModel | None = None):
        super().__init__(options)
        self.path: Path | None = None
        self._file: IO[str] | None = None

    def on_begin(self, run: RunInfo) -> None:
        self.path = Path(run.output_dir) / self.options.filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._write("begin", {
            "step": run.resumed_from_step,
            "max_steps": run.max_steps,
            "epochs": run.epochs,
            "trainable_parameters": run.trainable_parameters,
            "total_parameters": run.total_parameters,
            "resumed_from_step": run.resumed_from_step,
        })

    def on_log(self, step: int, logs: dict[str, float]) -> None:
        self._write("log", {"step": step, **logs})

    def on_evaluate(self, step: int, metrics: dict[str, float]) -> None:
        self._write("evaluate", {"step": step, **metrics})

    def on_save(self, step: int, path: str) -> None:
        self._write("save", {"step": step, "path": str(path)})

    def on_end(self, summary: dict[str, Any]) -> None:
        self._write("end", summary)
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, event: str, fields: dict[str, Any]) -> None:
        if self._file is None:
            raise RuntimeError("the metrics callback was sent an event before on_begin")
        record: dict[str, Any] = {"event": event, "time": round(time.time(), 3)}
        for key, value in plain(fields).items():
            record.setdefault(key, value)  # a metric must not overwrite the event or time
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

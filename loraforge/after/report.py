"""A run at a glance: what it trained, how long it took, its losses, and the loss curve.

Everything comes from the run's folder (``run.json``, ``recipe.toml`` and
``metrics.jsonl``, or the newest checkpoint's ``trainer_state.json`` when the
run kept no metrics file); no model is loaded and no plugin is needed. The
curve is drawn in the terminal with plotext, or as a PNG with matplotlib.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loraforge.after.runs import RECIPE_FILE, read_record
from loraforge.console import duration
from loraforge.engine import checkpoints
from loraforge.errors import MissingPackageError, RunFolderError

METRICS_FILE = "metrics.jsonl"
LOSS_PNG = "loss.png"


@dataclass
class LossCurve:
    """Training loss and evaluation loss against the optimizer step."""

    train: list[tuple[int, float]] = field(default_factory=list)
    eval: list[tuple[int, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.train or self.eval)


def loss_curve(folder: Path) -> LossCurve:
    """The run's logged losses; a step logged twice (a resumed run redid it) keeps the later."""
    train: dict[int, float] = {}
    evaluated: dict[int, float] = {}
    for entry in _logged(folder):
        step = entry.get("step")
        if not isinstance(step, int):
            continue
        if isinstance(entry.get("loss"), (int, float)):
            train[step] = float(entry["loss"])
        if isinstance(entry.get("eval_loss"), (int, float)):
            evaluated[step] = float(entry["eval_loss"])
    return LossCurve(sorted(train.items()), sorted(evaluated.items()))


def _logged(folder: Path) -> list[dict[str, Any]]:
    metrics = folder / METRICS_FILE
    if metrics.is_file():
        entries = []
        for line in metrics.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(entry, dict) and entry.get("event") in ("log", "evaluate"):
                entries.append(entry)
        return entries
    newest = checkpoints.newest(folder)
    if newest is None:
        return []
    try:
        state = json.loads((newest.path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [entry for entry in state.get("log_history", []) if isinstance(entry, dict)]


@dataclass
class RunSummary:
    """The facts ``loraforge report`` shows, as label → text, in order."""

    folder: Path
    facts: dict[str, str]
    record: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"folder": str(self.folder), **self.facts}


def summarize(folder: str | Path) -> RunSummary:
    """The run in ``folder`` summed up; any run that wrote its record, finished or not."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise RunFolderError(f"no such folder: {folder}", where="RUN_DIR",
                             hint="Give the output folder of a run: output.dir in its recipe.")
    record = read_record(folder)
    if record is None and (checkpoints.read_marker(folder) is not None or (
            checkpoints.FOLDER.match(folder.name) and folder.parent.name == "checkpoints")):
        run = folder.parent.parent
        raise RunFolderError(
            f"{folder} is a checkpoint: a report is of the whole run", where="RUN_DIR",
            hint=f"Give the run's folder: loraforge report {run}",
        )
    if record is None:
        raise RunFolderError(
            f"{folder} is not a run's folder: it has no run.json", where="RUN_DIR",
            hint="Give the folder a `loraforge run` wrote (output.dir in its recipe).",
        )
    try:
        recipe = tomllib.loads((folder / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recipe = {}
    model, lora = recipe.get("model", {}), recipe.get("lora", {})
    data, train = recipe.get("data", {}), recipe.get("train", {})
    facts: dict[str, str] = {"status": str(record.get("status"))}
    facts["model"] = " · ".join(str(part) for part in (
        record.get("components", {}).get("model.loader", "?"), model.get("path"),
        f"quantization {model.get('quantization', 'none')}") if part)
    targets = record.get("targets") or lora.get("targets")
    facts["lora"] = (f"r={lora.get('r')} alpha={lora.get('alpha')} dropout={lora.get('dropout')} "
                     f"on {', '.join(targets) if isinstance(targets, list) else targets}")
    if record.get("trainable_parameters"):
        facts["lora"] += (f" · {record['trainable_parameters']:,} trainable of "
                          f"{record.get('total_parameters', 0):,}")
    counts = record.get("data") or {}
    samples = f"{counts['train']['samples']:,} samples" if "train" in counts else ""
    if "eval" in counts:
        samples += f", {counts['eval']['samples']:,} held out"
    formatter = record.get("components", {}).get("data.formatter", "")
    facts["data"] = " · ".join(part for part in (str(data.get("path", "")), formatter, samples)
                               if part)
    length = f"{train['max_steps']} steps" if train.get("max_steps") else f"{train.get('epochs')} epochs"
    facts["training"] = (f"{length}, batch {train.get('batch_size')} × {train.get('grad_accum', 1)}"
                         f", lr {train.get('learning_rate')}")
    if record.get("global_step") is not None:
        facts["steps"] = str(record["global_step"])
    if record.get("runtime_s") is not None:
        facts["duration"] = duration(record["runtime_s"])
    rate = tokens_per_second(record)
    if rate:
        facts["tokens/s"] = f"{rate:,.0f}"
    curve = loss_curve(folder)
    if record.get("train_loss") is not None:
        facts["train loss"] = f"{record['train_loss']:.4f} (mean)"
        if curve.train:
            facts["train loss"] += f", {curve.train[-1][1]:.4f} (last logged)"
    eval_loss = (record.get("eval_metrics") or {}).get("eval_loss")
    if eval_loss is None and curve.eval:
        eval_loss = curve.eval[-1][1]
    if eval_loss is not None:
        facts["eval loss"] = f"{eval_loss:.4f} (final)"
    packages = record.get("packages") or {}
    facts["versions"] = ", ".join(
        f"{name} {version}" for name, version in [("loraforge", record.get("loraforge")),
                                                  *((n, packages.get(n)) for n in (
                                                      "torch", "transformers", "peft"))]
        if version)
    return RunSummary(folder, facts, record)


def tokens_per_second(record: dict[str, Any]) -> float | None:
    """Training tokens per second of the run's last training call (padding not counted)."""
    metrics = record.get("trainer_metrics") or {}
    tokens = ((record.get("data") or {}).get("train") or {}).get("tokens")
    runtime, epochs, step = metrics.get("train_runtime"), metrics.get("epoch"), record.get("global_step")
    if not (tokens and runtime and epochs and step):
        return None
    resumed = (record.get("resumed_from") or {}).get("step", 0)
    # the Trainer's runtime covers only the steps after a resume
    return tokens * epochs * (step - resumed) / step / runtime


def terminal_plot(curve: LossCurve, *, width: int = 80, height: int = 20, color: bool = True) -> str:
    """The loss curve drawn with characters, as plotext builds it."""
    try:
        import plotext
    except ImportError:
        raise MissingPackageError("drawing the loss curve in the terminal needs plotext",
                                  hint="pip install plotext") from None
    plotext.clear_figure()
    plotext.plotsize(width, height)
    plotext.theme("clear" if not color else "default")
    if curve.train:
        plotext.plot(*zip(*curve.train), label="train loss", marker="braille")
    if curve.eval:
        plotext.scatter(*zip(*curve.eval), label="eval loss", marker="●")
    plotext.xlabel("step")
    return plotext.build()


def write_loss_png(curve: LossCurve, path: str | Path, *, title: str = "") -> Path:
    """Draw the curve into a PNG at ``path`` (written whole or not at all)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingPackageError("drawing the loss curve as an image needs matplotlib",
                                  hint="pip install matplotlib") from None
    path = Path(path)
    # a Figure of its own, not pyplot's global one: safe beside anything else drawing
    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if curve.train:
        axes.plot(*zip(*curve.train), label="train loss")
    if curve.eval:
        axes.plot(*zip(*curve.eval), "o-", label="eval loss")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    if title:
        axes.set_title(title, fontsize=10)
    if curve:
        axes.legend()
    figure.tight_layout()
    staging = path.with_name(f".{path.name}.partial.png")
    try:
        figure.savefig(staging, format="png")
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path


def loss_png_after_run(folder: Path) -> str | None:
    """Write ``loss.png`` into a run's folder; why not, if it cannot (a run must not fail for it)."""
    try:
        curve = loss_curve(folder)
        if not curve:
            return None
        write_loss_png(curve, folder / LOSS_PNG, title=str(folder))
    except Exception as exc:  # a missing font, a read-only folder: the adapter is what matters
        return f"loss.png was not drawn: {type(exc).__name__}: {exc}"
    return None

"""Where a run starts: afresh, or from the newest complete checkpoint of an unfinished run.

The output directory decides, with one rule per case:

* a finished run is never touched, unless asked to start over (``--overwrite``);
* asked to resume (``--resume``, ``resume = "auto"``), an unfinished run goes
  on from its newest complete checkpoint; with none, the run starts afresh;
* not asked to resume, an unfinished run that has a checkpoint is refused,
  so that its progress is not thrown away by a rerun of the same command;
* leftovers of a run that never completed a checkpoint are cleared.

The flags of ``loraforge run`` win over the recipe's ``output.overwrite`` and
``output.resume``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loraforge.engine import checkpoints
from loraforge.engine.checkpoints import Checkpoint
from loraforge.engine.outputs import output_path, read_run, remove_run_outputs
from loraforge.errors import OutputError
from loraforge.recipe import Recipe

Mode = Literal["overwrite", "resume", "fresh"]


@dataclass
class StartPoint:
    """The prepared output directory and the checkpoint the run continues from, if any."""

    output_dir: Path
    checkpoint: Checkpoint | None = None
    previous_run: dict[str, Any] | None = None
    """run.json of the run being continued."""
    removed: list[Path] = field(default_factory=list)
    """Incomplete checkpoints that were deleted."""
    note: str | None = None
    changes: list[str] = field(default_factory=list)
    """What changed since the checkpoint and is continued with anyway (``--force-resume``)."""

    @property
    def step(self) -> int:
        return self.checkpoint.step if self.checkpoint else 0


def start_mode(recipe: Recipe, *, overwrite: bool = False, resume: bool = False) -> Mode:
    if overwrite:
        return "overwrite"
    if resume:
        return "resume"
    if recipe.output.overwrite:
        return "overwrite"
    return "resume" if recipe.output.resume == "auto" else "fresh"


def prepare_output_dir(recipe: Recipe, *, overwrite: bool = False, resume: bool = False,
                       write: bool = True) -> StartPoint:
    """Decide where the run starts and get the directory ready; ``write=False`` only decides.

    Every process decides, so that each finds the same checkpoint; only
    process 0 writes, and the others decide after it has (their view of the
    folder is then the cleaned-up one).
    """
    output_dir = output_path(recipe)
    mode = start_mode(recipe, overwrite=overwrite, resume=resume)
    previous = read_run(output_dir)
    # without run.json the folder holds no run of loraforge's: nothing in it is removed
    clear = write and previous is not None
    if mode == "overwrite":
        if clear:
            remove_run_outputs(output_dir)
        return _created(StartPoint(output_dir), write)

    if previous and previous.get("finished_at"):
        raise OutputError(
            f"{output_dir} already holds a run that finished at {previous['finished_at']}"
            + (", so there is nothing to resume" if mode == "resume" else ""),
            where="output.dir",
            hint="Choose another output.dir (--set output.dir=runs/new), or pass "
            "--overwrite to replace that run's files.",
        )
    complete, incomplete = checkpoints.scan(output_dir)
    if complete and mode == "resume":
        if write:
            checkpoints.remove_incomplete(output_dir)
        return StartPoint(output_dir, complete[-1], previous, incomplete)
    if complete:
        raise OutputError(
            f"{output_dir} holds an unfinished run with a checkpoint at step {complete[-1].step}",
            where="output.dir",
            hint='Continue it with --resume (or resume = "auto" under [output]), start over '
            "with --overwrite, or choose another output.dir.",
        )
    if clear:
        # a run that never completed a checkpoint left nothing worth keeping
        remove_run_outputs(output_dir)
    note = "no complete checkpoint to resume from: starting afresh" if mode == "resume" else None
    return _created(StartPoint(output_dir, note=note), write)


def _created(start: StartPoint, write: bool) -> StartPoint:
    if write:
        try:
            start.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create {start.output_dir}: {exc.strerror}", where="output.dir"
            ) from None
    return start

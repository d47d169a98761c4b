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

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loraforge.engine import checkpoints
from loraforge.engine.checkpoints import Checkpoint
from loraforge.engine.outputs import LOCK_FILE, output_path, read_run, remove_run_outputs
from loraforge.errors import OutputError, ResumeError
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
    check_output_folder(recipe, output_dir)
    mode = start_mode(recipe, overwrite=overwrite, resume=resume)
    previous = read_run(output_dir)
    # a folder with neither a record nor a checkpoint holds no run of loraforge's (its
    # record may be damaged, its checkpoints are not): nothing in it is removed
    clear = write and (previous is not None or bool(checkpoints.scan(output_dir)[0]))
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
        usable, damaged = usable_checkpoint(complete)
        if write:
            checkpoints.remove_incomplete(output_dir)
            for checkpoint, _ in damaged:
                set_aside(checkpoint.path)
        notes = [f"{c.path.name} is damaged ({problem}): set aside as {c.path.name}.damaged"
                 for c, problem in damaged]
        if usable is None:
            raise ResumeError(
                f"no usable checkpoint remains in {output_dir}: " + "; ".join(
                    f"{c.path.name}: {problem}" for c, problem in damaged),
                where="output.dir",
                hint="Start over with --overwrite (the damaged checkpoints are kept as "
                "checkpoint-N.damaged until then), or choose another output.dir.",
            )
        if damaged:
            notes.append(f"resuming from {usable.path.name} instead")
        return StartPoint(output_dir, usable, previous, incomplete,
                          note="; ".join(notes) or None)
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


def usable_checkpoint(complete: list[Checkpoint]) -> tuple[Checkpoint | None,
                                                          list[tuple[Checkpoint, str]]]:
    """The newest complete checkpoint whose files are whole, and the damaged ones newer than it."""
    damaged = []
    for checkpoint in reversed(complete):
        problem = checkpoints.damage(checkpoint)
        if problem is None:
            return checkpoint, damaged
        damaged.append((checkpoint, problem))
    return None, damaged


def set_aside(folder: Path) -> None:
    """Rename a damaged checkpoint out of the way (kept, for a look, until --overwrite)."""
    target = folder.with_name(f"{folder.name}.damaged")
    number = 1
    while target.exists():
        number += 1
        target = folder.with_name(f"{folder.name}.damaged-{number}")
    folder.rename(target)


# what a run writes at the top of its folder, named when a folder is refused
WRITES = ("adapter_model.safetensors", "adapter_config.json", "README.md", "tokenizer.json",
          "tokenizer_config.json", "recipe.toml", "run.json")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_folder(recipe: Recipe, output_dir: Path) -> None:
    """Refuse a folder a run must not write into, before anything is written.

    A run writes only into a folder that is new, empty, or holds a loraforge
    run (whose other files it leaves alone), and never into (or under) the
    model's folder or the data's: the base model or the data would be
    changed. Raises :class:`OutputError` naming the files at stake.
    """
    target = Path(os.path.abspath(output_dir))
    touched = ", ".join(WRITES)
    model = recipe.model.path
    if model and recipe.input_path(model).is_dir():
        folder = Path(os.path.abspath(recipe.input_path(model)))
        if _inside(target, folder):
            raise OutputError(
                f"{output_dir} is {'the model folder' if target == folder else 'inside the model folder'} "
                f"{folder}: a run would write {touched} there, and the base could no longer be "
                "loaded as it was", where="output.dir",
                hint="Choose an output.dir of its own, e.g. runs/first.",
            )
    data = recipe.input_path(recipe.data.path)
    if data.exists():
        folder = Path(os.path.abspath(data if data.is_dir() else data.parent))
        if (data.is_dir() and _inside(target, folder)) or target == folder:
            raise OutputError(
                f"{output_dir} is the data's folder {folder}: a run would write {touched} and "
                "its metrics beside the data, where they would be read as data next time",
                where="output.dir", hint="Choose an output.dir of its own, e.g. runs/first.",
            )
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputError(f"{output_dir} is a file, not a folder", where="output.dir",
                          hint="Choose a folder for the run, e.g. runs/first.")
    foreign = foreign_files(target)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(
            f"{output_dir} holds files that are not a loraforge run's ({shown}); a run writes "
            f"{touched} into its folder and would replace files of those names",
            where="output.dir",
            hint="Choose a new or empty output.dir (--set output.dir=runs/first). --overwrite "
            "replaces only what loraforge wrote, so it does not apply to a folder of other files.",
        )


def foreign_files(folder: Path) -> list[str]:
    """The files in ``folder`` that no loraforge run wrote; none if it holds a run's record.

    A folder with a run.json of loraforge's (or a complete checkpoint) is a
    run's: its other files are the user's, kept and never written over. A
    folder without one may hold only what a run leaves in its first moments
    (its lock, its event log, temporary files).
    """
    names = sorted(path.name for path in folder.iterdir())
    record = read_run(folder)
    ours = isinstance(record, dict) and bool({"status", "finished_at"} & set(record))
    if ours or checkpoints.scan(folder)[0]:
        return []
    early = {LOCK_FILE, "events.jsonl"}
    return [name for name in names if name not in early and not fnmatch.fnmatch(name, ".*.tmp")]


def _created(start: StartPoint, write: bool) -> StartPoint:
    if write:
        try:
            start.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create {start.output_dir}: {exc.strerror}", where="output.dir"
            ) from None
    return start


@dataclass
class FolderState:
    """What a run of a recipe would find in its output folder (for a front end to ask first)."""

    kind: Literal["new", "unfinished", "finished", "busy", "refused"]
    step: int = 0
    """The newest complete checkpoint's step, for an unfinished run."""
    message: str = ""


def folder_state(recipe: Recipe) -> FolderState:
    """Whether the recipe's output folder is new, holds a run to resume or a finished one,
    is in use by a live run, or cannot be used at all; nothing is written."""
    from loraforge.engine.lock import FolderLock

    output_dir = output_path(recipe)
    try:
        check_output_folder(recipe, output_dir)
    except OutputError as exc:
        return FolderState("refused", message=exc.message)
    if not output_dir.is_dir():
        return FolderState("new")
    if (output_dir / LOCK_FILE).exists():
        try:
            FolderLock(output_dir).acquire().release()
        except OutputError as exc:
            return FolderState("busy", message=exc.message)
    previous = read_run(output_dir)
    if previous and previous.get("finished_at"):
        return FolderState("finished", message=f"finished at {previous['finished_at']}")
    newest = checkpoints.newest(output_dir)
    if newest is not None:
        return FolderState("unfinished", newest.step,
                           f"an unfinished run with a checkpoint at step {newest.step}")
    return FolderState("new")

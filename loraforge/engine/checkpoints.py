"""Checkpoints in ``<output>/checkpoints/checkpoint-<step>``: complete ones, and the rest.

The Trainer writes a checkpoint's files (adapter, optimizer, scheduler, RNG
states, trainer state) one after another, so a run killed in the middle
leaves a folder that looks like a checkpoint and is not one. A checkpoint
counts as complete only once ``loraforge-checkpoint.json`` is in it: it is
written last, after every process has written its part and the files are
flushed to disk, through a temporary name and a rename. Incomplete folders
are never resumed from and are deleted before a run continues; old complete
ones are deleted only after a newer one is complete.

The marker also records what the checkpoint was trained with (the training
settings, their hash, the data fingerprint), so that resuming with a
different recipe or different data is refused instead of silently mixing.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loraforge.engine.fingerprints import EFFECTIVE_BATCH, changed_settings, settings_hash
from loraforge.engine.outputs import now, sync_tree, write_atomic
from loraforge.errors import ResumeError

MARKER = "loraforge-checkpoint.json"
# settings that change the adapter's tensors' shapes: a checkpoint cannot be loaded across them
SHAPE_SETTINGS = ("lora.r", "lora.targets", "lora.bias")
# settings a resumed run cannot honour: its random state and order of samples are the checkpoint's
SEED_SETTINGS = ("train.seed",)
FOLDER = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainingStamp:
    """What the checkpoints of this run are trained with; written into each marker."""

    recipe_hash: str
    settings: dict[str, Any]
    data_fingerprint: str
    samples: int
    world_size: int = 1

    def marker(self, step: int) -> dict[str, Any]:
        return {"step": step, "saved_at": now(), **asdict(self)}


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint and its marker."""

    path: Path
    step: int
    marker: dict[str, Any]


def checkpoints_dir(output_dir: Path) -> Path:
    return Path(output_dir) / "checkpoints"


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def scan(output_dir: Path) -> tuple[list[Checkpoint], list[Path]]:
    """Complete checkpoints, oldest first, and the folders that are not complete."""
    complete: list[Checkpoint] = []
    incomplete: list[Path] = []
    folder = checkpoints_dir(output_dir)
    if not folder.is_dir():
        return complete, incomplete
    for path in folder.iterdir():
        match = FOLDER.match(path.name)
        if not match or not path.is_dir():
            continue
        step = int(match.group(1))
        marker = read_marker(path)
        if marker is not None and marker.get("step") == step:
            complete.append(Checkpoint(path, step, marker))
        else:
            incomplete.append(path)
    complete.sort(key=lambda c: c.step)
    return complete, sorted(incomplete)


def newest(output_dir: Path) -> Checkpoint | None:
    complete, _ = scan(output_dir)
    return complete[-1] if complete else None


def remove_incomplete(output_dir: Path) -> list[Path]:
    _, incomplete = scan(output_dir)
    for path in incomplete:
        shutil.rmtree(path, ignore_errors=True)
    return incomplete


def keep_newest(output_dir: Path, limit: int) -> None:
    complete, _ = scan(output_dir)
    for checkpoint in complete[:-limit]:
        shutil.rmtree(checkpoint.path, ignore_errors=True)


def mark_complete(folder: Path, marker: dict[str, Any]) -> None:
    """Flush the checkpoint's files to disk, then write the marker that makes it count.

    The marker lists each file's size, so that a file truncated or replaced
    later is found before the checkpoint is used (:func:`damage`).
    """
    sync_tree(folder)
    files = {path.name: path.stat().st_size for path in sorted(folder.iterdir())
             if path.is_file() and path.name != MARKER}
    write_atomic(folder / MARKER, json.dumps({**marker, "files": files}, indent=2) + "\n")


# what a checkpoint must hold for the Trainer to continue from it exactly
REQUIRED = ("adapter_model.safetensors", "adapter_config.json", "optimizer.pt", "scheduler.pt",
            "trainer_state.json")


def damage(checkpoint: Checkpoint) -> str | None:
    """What is wrong with a complete checkpoint's files, or None if it can be resumed from.

    Every file the Trainer needs must be there, at the size the marker
    recorded, and must load: the adapter's tensors read, the pickled states'
    archives pass their checksums, the JSON files parse.
    """
    folder, recorded = checkpoint.path, checkpoint.marker.get("files") or {}
    rng = sorted(p.name for p in folder.glob("rng_state*.pth"))
    for name in (*REQUIRED, *(rng or ["rng_state.pth"])):
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if name in recorded and size != recorded[name]:
            return f"{name} is {size:,} bytes, but was {recorded[name]:,} when it was saved"
        problem = _unreadable(path)
        if problem:
            return f"{name} {problem}"
    return None


def _unreadable(path: Path) -> str | None:
    """Why a checkpoint file cannot be loaded, or None."""
    import zipfile

    try:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as tensors:
                for key in tensors.keys():
                    tensors.get_tensor(key)
        else:  # torch.save writes a zip archive whose members carry checksums
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                return f"is damaged ({bad} fails its checksum)"
    except Exception as exc:  # each reader has its own errors for a damaged file
        return f"cannot be read ({type(exc).__name__}: {str(exc).strip()[:120] or 'empty'})"
    return None


def settings_changes(checkpoint: Checkpoint, settings: dict[str, Any]) -> list[str]:
    """``field: old → new`` for each training setting that differs from the checkpoint's."""
    marker = checkpoint.marker
    if marker.get("recipe_hash") == settings_hash(settings):
        return []
    return (changed_settings(marker.get("settings") or {}, settings)
            or ["the training settings (their hash differs)"])


def data_changes(checkpoint: Checkpoint, fingerprint: str, samples: int) -> list[str]:
    """How the tokenized data differs from the checkpoint's, if it does."""
    marker = checkpoint.marker
    if marker.get("data_fingerprint") == fingerprint:
        return []
    return [
        f"the data: {samples} samples with fingerprint {fingerprint}, where the checkpoint was "
        f"trained on {marker.get('samples', '?')} with {marker.get('data_fingerprint')}"
    ]


def check_settings(checkpoint: Checkpoint, settings: dict[str, Any], *, force: bool) -> list[str]:
    """The training settings changed since ``checkpoint``; raises unless none did or ``force``.

    Needs only the recipe, so a run checks it before loading its model.
    """
    return refuse_changes(checkpoint, settings_changes(checkpoint, settings), force=force)


def check_data(checkpoint: Checkpoint, stamp: TrainingStamp, *, force: bool) -> list[str]:
    """The same for the data, once it is tokenized."""
    changes = data_changes(checkpoint, stamp.data_fingerprint, stamp.samples)
    return refuse_changes(checkpoint, changes, force=force)


def check_resumable(checkpoint: Checkpoint, stamp: TrainingStamp, *, force: bool) -> list[str]:
    """What changed since ``checkpoint`` was saved; raises unless nothing did or ``force``."""
    changes = settings_changes(checkpoint, stamp.settings)
    changes += data_changes(checkpoint, stamp.data_fingerprint, stamp.samples)
    return refuse_changes(checkpoint, changes, force=force)


def refuse_changes(checkpoint: Checkpoint, changes: list[str], *, force: bool) -> list[str]:
    """Raise for ``changes`` a checkpoint cannot go on with, and for any without ``force``."""
    def changed(fields: tuple[str, ...]) -> list[str]:
        return [line for line in changes if line.split(":")[0] in fields]

    reshaped = changed(SHAPE_SETTINGS)
    if reshaped:
        raise ResumeError(
            f"{checkpoint.path} (step {checkpoint.step}) holds an adapter of another shape "
            f"({'; '.join(reshaped)}), which cannot be loaded into this one",
            where="output.dir",
            hint="Undo the change to continue that run, or start over with --overwrite (or in "
            "another output.dir).",
        )
    reseeded = changed(SEED_SETTINGS)
    if reseeded:
        raise ResumeError(
            f"{checkpoint.path} (step {checkpoint.step}) goes on with the random state and the "
            f"order of samples of its own seed, so a new one cannot take effect "
            f"({'; '.join(reseeded)})",
            where="train.seed",
            hint="Undo the change to continue that run, or start over with the new seed using "
            "--overwrite (or in another output.dir).",
        )
    if changes and not force:
        effective = any(line.startswith(EFFECTIVE_BATCH) for line in changes)
        raise ResumeError(
            f"{checkpoint.path} (step {checkpoint.step}) was trained with a different recipe "
            f"or data; changed since: " + "; ".join(changes),
            where="output.dir",
            hint="Undo the change to continue that run, or start over with --overwrite (or in "
            "another output.dir). --force-resume continues anyway, from weights and optimizer "
            "state that were trained for something else."
            + (" The micro-batch may change as long as batch_size × grad_accum × processes "
               "stays the same." if effective else ""),
        )
    return changes


def adapter_is_finite(model: Any) -> bool:
    """Whether every trainable parameter holds only finite numbers."""
    import torch

    return all(bool(torch.isfinite(p).all()) for p in model.parameters() if p.requires_grad)


def checkpoint_callback(stamp: TrainingStamp, *, keep: int, every_epoch: bool):
    """A ``TrainerCallback`` that completes each checkpoint the Trainer saves, and prunes old ones.

    The Trainer's own ``save_total_limit`` is left unset: it deletes old
    checkpoints before the new one is complete, which a crash at the wrong
    moment would turn into no checkpoint at all.
    """
    from accelerate import PartialState
    from transformers import TrainerCallback

    class CompleteCheckpoints(TrainerCallback):
        def __init__(self) -> None:
            self.last_saved: int | None = None

        def on_epoch_end(self, args, state, control, **kwargs):
            # once per step at most: a second save into the same folder would rewrite a
            # checkpoint that is already marked complete
            if every_epoch and self.last_saved != state.global_step:
                control.should_save = True

        def on_save(self, args, state, control, model=None, **kwargs):
            self.last_saved = state.global_step
            # every process has written its RNG state before the checkpoint is declared complete
            PartialState().wait_for_everyone()
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if model is not None and not adapter_is_finite(model):
                # never a complete checkpoint of broken weights: the older ones stay the newest
                if state.is_world_process_zero:
                    shutil.rmtree(folder, ignore_errors=True)
                from loraforge.engine.guards import NonFinite

                raise NonFinite("adapter weights", state.global_step, float("nan"))
            if state.is_world_process_zero:
                mark_complete(folder, stamp.marker(state.global_step))
                keep_newest(Path(args.output_dir).parent, keep)

    return CompleteCheckpoints()

"""A trained run's folder as the after-training commands read it, without loading a model.

A finished run's folder holds the adapter, ``recipe.toml`` (the resolved
recipe) and ``run.json`` (its record). A checkpoint inside it
(``checkpoints/checkpoint-N``) holds an adapter too, and is taken with the
run's recipe. Anything else is refused with what to give instead: an
unfinished run is pointed at its newest complete checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loraforge.engine import checkpoints
from loraforge.engine.outputs import ADAPTER_CONFIG, RUN_FILE, read_run
from loraforge.errors import RunFolderError
from loraforge.recipe import Recipe, load_recipe

ADAPTER_WEIGHTS = "adapter_model.safetensors"
RECIPE_FILE = "recipe.toml"
# the recipe fields that name inputs, relative to the recipe they were written in
INPUTS = (("model", "path"), ("data", "path"))


def read_record(folder: Path) -> dict[str, Any] | None:
    """A run's ``run.json``, or None where there is none; every reading of it goes through here.

    One that is there but cannot be read is refused as damaged: calling the
    folder "no run's" would send the person looking for a run they have.
    """
    record = read_run(folder)
    path = folder / RUN_FILE
    if record is None and path.is_file() or record is not None and not isinstance(record, dict):
        raise RunFolderError(
            f"{path} is damaged: it is not the JSON record a run writes", where="RUN_DIR",
            hint="It was cut short or edited by hand. Restore it if you kept a copy, or train "
            "the run again with `loraforge run RECIPE --overwrite`.",
        )
    return record


@dataclass
class TrainedRun:
    """A run's folder, its record, and the adapter to use: the run's own or a checkpoint's."""

    folder: Path
    adapter: Path
    record: dict[str, Any]
    checkpoint_step: int | None = None

    @property
    def name(self) -> str:
        """How the run is named to the user: its folder, and the checkpoint if one is used."""
        return str(self.adapter)

    def adapter_config(self) -> dict[str, Any]:
        return json.loads((self.adapter / ADAPTER_CONFIG).read_text(encoding="utf-8"))

    def recipe(self, base: str | Path | None = None) -> Recipe:
        """The run's resolved recipe, its inputs found again; ``base`` replaces ``model.path``.

        ``recipe.toml`` keeps input paths as the original recipe wrote them,
        relative to that recipe's folder. They are looked up there (see
        :meth:`original_recipe`), then in the run's folder and in the working
        directory; a path found nowhere is left as it is, for the loader or
        the data reader to report (or to read as a hub id).
        """
        recipe = load_recipe(self.folder / RECIPE_FILE)
        original = self.original_recipe()
        folders = [original.parent] if original else []
        folders += [self.folder.resolve(), Path.cwd()]
        for section_name, field in INPUTS:
            section = getattr(recipe, section_name)
            value = getattr(section, field)
            if value is None or Path(value).expanduser().is_absolute():
                continue
            found = next((folder / value for folder in folders if (folder / value).exists()), None)
            if found is not None:
                setattr(section, field, str(found.resolve()))
        if base is not None:
            recipe.model.path = str(Path(base).expanduser().resolve())
        return recipe


    def original_recipe(self) -> Path | None:
        """The recipe file the run was started from, if it can still be found.

        run.json names it as it was given, perhaps relative to the working
        directory of the run; that directory was then an ancestor of the run's
        folder (``output.dir`` is relative to it), so those are tried too.
        """
        named = self.record.get("recipe")
        if not named:
            return None
        path = Path(named).expanduser()
        if path.is_absolute():
            return path if path.is_file() else None
        for folder in (Path.cwd(), *self.folder.resolve().parents):
            if (folder / path).is_file():
                return (folder / path).resolve()
        return None


def open_run(path: str | Path) -> TrainedRun:
    """The finished run in ``path``, or the run a checkpoint folder ``path`` belongs to.

    Raises :class:`RunFolderError` for a folder that is neither, naming the
    newest complete checkpoint of an unfinished run.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise RunFolderError(
            f"no such folder: {path}", where="RUN_DIR",
            hint="Give the output folder of a run: output.dir in its recipe, e.g. runs/quickstart.",
        )
    marker = checkpoints.read_marker(path)
    if marker is not None:
        return _checkpoint_of_run(path, marker)
    if checkpoints.FOLDER.match(path.name) and path.parent.name == "checkpoints":
        raise RunFolderError(
            f"{path} is a checkpoint that was never completed (it has no {checkpoints.MARKER})",
            where="RUN_DIR", hint="Use another checkpoint of the run, or the run's own folder.",
        )
    record = read_record(path)
    if record is None or not (path / RECIPE_FILE).is_file():
        missing = RUN_FILE if record is None else RECIPE_FILE
        raise RunFolderError(
            f"{path} is not a run's folder: it has no {missing}", where="RUN_DIR",
            hint="Give the folder a `loraforge run` wrote (output.dir in its recipe).",
        )
    status = record.get("status")
    if status != "finished":
        newest = checkpoints.newest(path)
        why = {"running": "is still running, or was killed", "interrupted": "was stopped",
               "failed": f"failed ({record.get('error') or 'see its log'})"}.get(
            str(status), f"has the status {status!r}")
        if newest is not None:
            hint = (f"Use its newest complete checkpoint instead: {newest.path} (step "
                    f"{newest.step}); or finish the run with `loraforge run RECIPE --resume`.")
        else:
            hint = "It saved no checkpoint: train it again with `loraforge run RECIPE --overwrite`."
        raise RunFolderError(f"the run in {path} {why}: it has no final adapter",
                             where="RUN_DIR", hint=hint)
    _check_adapter(path)
    return TrainedRun(path, path, record)


def _checkpoint_of_run(path: Path, marker: dict[str, Any]) -> TrainedRun:
    run = path.parent.parent
    record = read_record(run)
    if path.parent.name != checkpoints.checkpoints_dir(run).name or record is None or not (
            run / RECIPE_FILE).is_file():
        raise RunFolderError(
            f"{path} is a checkpoint, but not inside a run's folder (no {RUN_FILE} and "
            f"{RECIPE_FILE} two levels up)", where="RUN_DIR",
            hint="Leave checkpoints in the checkpoints/ folder of the run that saved them.",
        )
    _check_adapter(path)
    return TrainedRun(run, path, record, checkpoint_step=marker.get("step"))


def _check_adapter(folder: Path) -> None:
    missing = [name for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS) if not (folder / name).is_file()]
    if missing:
        raise RunFolderError(
            f"{folder} has no {' and no '.join(missing)}", where="RUN_DIR",
            hint="The adapter files were removed or never written; train the run again.",
        )

"""Writing recipes back as files a person would have written.

A front end that builds a :class:`~loraforge.recipe.Recipe` in memory saves
it with :func:`save_recipe` (``recipe.save(path)``): only the values that
differ from the defaults, components by name when they have no options, a
header comment (what it trains, on what, the command to run it), and the
input paths (``model.path``, ``data.path``) rewritten relative to the new
file's folder, so they point at the same files. ``load_recipe`` of the file
gives a recipe equal to the one saved, which ``loraforge validate``
accepts as it is. Nothing here imports anything heavy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loraforge.recipe import DATA_SUFFIXES, SECTIONS, ComponentRef, cannot_be_hub_id

if TYPE_CHECKING:
    from loraforge.recipe import Recipe

INPUT_PATHS = (("model", "path"), ("data", "path"))
"""The recipe fields that name files to read, relative to the recipe's folder."""


def is_local(recipe: Recipe, section: str, value: str) -> bool:
    """Whether an input path names a local file or folder, rather than a hub id."""
    if recipe.input_path(value).exists() or cannot_be_hub_id(value):
        return True
    return section == "data" and Path(value).suffix.lower() in DATA_SUFFIXES


def _input_paths(recipe: Recipe) -> dict[tuple[str, str], Path]:
    """Each local input path of ``recipe``, absolute."""
    found = {}
    for section, key in INPUT_PATHS:
        value = getattr(getattr(recipe, section), key)
        if value and is_local(recipe, section, value):
            found[section, key] = Path(os.path.abspath(recipe.input_path(value)))
    return found


def comparable(recipe: Recipe) -> dict[str, Any]:
    """What equality compares: every field, local input paths as absolute paths."""
    data = recipe.to_dict()
    for (section, key), path in _input_paths(recipe).items():
        data[section][key] = str(path)
    return data


def relative_to(path: Path, folder: Path) -> str:
    """``path`` as a recipe in ``folder`` names it: relative where it can be, in / form."""
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive
        return str(path)


def minimal_dict(recipe: Recipe) -> dict[str, Any]:
    """The fields that differ from their defaults; components by name when they have no options.

    ``[model]`` and ``[data]`` are always there (a recipe needs both).
    """
    data: dict[str, Any] = {}
    for section in SECTIONS:
        value = getattr(recipe, section)
        fields: dict[str, Any] = {}
        for name, info in type(value).model_fields.items():
            current = getattr(value, name)
            if not info.is_required() and current == info.get_default(call_default_factory=True):
                continue
            if current is None:
                continue
            fields[name] = _plain(current)
        if fields or section in ("model", "data"):
            data[section] = fields
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, ComponentRef):
        if value.name == "modules" and set(value.options) == {"names"}:
            return list(value.options["names"])  # what a list in lora.targets becomes
        return value.to_toml()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)  # `epochs = 3`, as a person writes it; read back, it is 3.0 again
    return value


def recipe_toml(recipe: Recipe, *, minimal: bool = True, folder: str | Path | None = None,
                header: str | None = None) -> str:
    """The recipe as TOML text.

    ``minimal`` keeps only what differs from the defaults (else every field,
    as a run's output folder records it); ``folder`` is where the file will
    be, to which local input paths are made relative (by default they stay
    as written); ``header`` is put first, as comment lines.
    """
    import tomli_w

    data = minimal_dict(recipe) if minimal else recipe.to_dict()
    if folder is not None:
        folder = Path(os.path.abspath(folder))
        for (section, key), path in _input_paths(recipe).items():
            data.setdefault(section, {})[key] = relative_to(path, folder)
    text = tomli_w.dumps(data)
    if header:
        lines = [f"# {line}".rstrip() for line in header.strip().splitlines()]
        text = "\n".join(lines) + "\n\n" + text
    return text


def describe(recipe: Recipe) -> str:
    """One sentence: what the recipe trains, on what."""
    model = recipe.model
    base = model.path or (model.loader.name if model.loader else "the model")
    if model.quantization != "none":
        base += f" ({model.quantization.replace('bit', '-bit')})"
    targets = recipe.lora.targets
    where = (", ".join(targets.options["names"]) if targets.name == "modules"
             else f"the {targets.name!r} targets")
    formatter = recipe.data.formatter.name
    return (f"LoRA r={recipe.lora.r} on {where} of {base}, trained on {recipe.data.path} "
            f"with the {formatter} formatter.")


def default_header(recipe: Recipe, path: Path) -> str:
    """A recipe file's opening comment: what it does and the command that runs it."""
    try:
        shown = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = path.resolve()
    return f"{describe(recipe)}\n\nRun it:   loraforge run {shown.as_posix()}"


def save_recipe(recipe: Recipe, path: str | Path, *, header: bool | str = True) -> Path:
    """Write ``recipe`` to ``path`` as a person would; returns the path.

    The file is written whole or not at all (a temporary file, then a
    rename), so a recipe being replaced is never left half-written.
    ``header`` is ``True`` for :func:`default_header`, a text of your own, or
    ``False`` for none.
    """
    path = Path(path)
    comment = default_header(recipe, path) if header is True else (header or None)
    text = recipe_toml(recipe, minimal=True, folder=path.parent, header=comment)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path

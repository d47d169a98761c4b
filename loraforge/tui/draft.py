"""The recipe the wizard is building: plain TOML data, the file it goes to, what is wrong with it.

A :class:`Draft` holds the recipe as TOML reads it (sections, components by
name or as tables), so that any state a person passes through can be held,
also an invalid one; :meth:`Draft.validate` says what is wrong, field by
field, with the recipe schema and the plugins' own option schemas (the same
checks as ``loraforge validate``, without reading the data). Saving a new
recipe writes the minimal TOML a person would write
(:mod:`loraforge.authoring`); saving an opened one changes only the lines
of the values that changed, keeping its comments and layout (tomlkit; the
reader for validation stays ``tomllib``). Nothing here imports textual.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from loraforge.errors import LoraforgeError, OutputError, RecipeError
from loraforge.recipe import Recipe, recipe_from_dict

FieldPath = tuple[str, ...]


class Draft:
    """A recipe being edited, and the file it is saved to."""

    def __init__(self, path: Path, data: dict[str, Any] | None = None, *,
                 text: str | None = None) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = data if data is not None else {"model": {}, "data": {}}
        self.text = text
        """The file as it was opened (None for a new recipe): what an edit keeps."""
        self.changed: list[FieldPath] = []
        self.recipe: Recipe | None = None
        self.problems: list[tuple[str, str]] = []

    @classmethod
    def new(cls, path: str | Path) -> Draft:
        return cls(Path(path))

    @classmethod
    def open(cls, path: str | Path) -> Draft:
        """The recipe in ``path``, to edit; RecipeError if it is not TOML at all."""
        from loraforge.recipe import check_recipe_path, read_toml_text

        path = Path(path)
        check_recipe_path(path, missing_hint="Give a recipe to edit, or start one with "
                          "loraforge new.")
        text, data = read_toml_text(path)  # what cannot be read is told as validate tells it
        return cls(path, data, text=text)

    @property
    def is_new(self) -> bool:
        return self.text is None

    @property
    def folder(self) -> Path:
        """The folder the recipe's relative input paths start from."""
        return Path(os.path.abspath(self.path)).parent

    # --- values ------------------------------------------------------------------------------

    def get(self, path: FieldPath, default: Any = None) -> Any:
        node: Any = self.data
        for key in path:
            if isinstance(node, list) and key == "names":  # lora.targets as a list of names
                return node
            if isinstance(node, str) and key != "name":
                return default  # a component by name has no options
            if isinstance(node, str):
                return node
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    def set(self, path: FieldPath, value: Any) -> None:
        """Set a field (None removes it: the default applies); a component gains a table if needed."""
        node = self.data
        for key in path[:-1]:
            child = node.get(key)
            if isinstance(child, str):  # a component named by a string gains options
                child = {"name": child}
            elif isinstance(child, list) and len(path) > 2:  # lora.targets as a list of names
                child = {"name": "modules", "names": child}
            if not isinstance(child, dict):
                child = {}
            node[key] = child
            node = child
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
        if path not in self.changed:
            self.changed.append(path)

    def set_component(self, path: FieldPath, name: str | None) -> None:
        """Choose a component by name; its options are kept only if it is the same component."""
        current = self.get(path)
        same = (current.get("name") if isinstance(current, dict) else current) == name
        if name is None:
            self.set(path, None)
        elif same:
            return
        else:
            self.set(path, name)

    def component_name(self, path: FieldPath, default: str | None = None) -> str | None:
        value = self.get(path)
        if isinstance(value, dict):
            return value.get("name", default)
        return value if isinstance(value, str) else default

    # --- checking ------------------------------------------------------------------------------

    def validate(self, plugins: Any = None) -> bool:
        """Check the recipe, and bind its components if ``plugins`` are given; True when valid."""
        self.recipe, self.problems = None, []
        try:
            recipe = recipe_from_dict(copy.deepcopy(self.data), source=str(self.path))
        except RecipeError as exc:
            self.problems = list(exc.fields)
            # the components of the sound sections are still checked: a Model step with no
            # model chosen has a problem even while the data path is missing
            sound = [name for name in Recipe.model_fields if not self.problems_at(name)]
            stand_in = self.recipe_for(*sound) if plugins is not None else None
            if stand_in is not None:
                self.problems += [(field, message) for field, message in _bind_problems(
                    stand_in, plugins) if field.split(".")[0].split("[")[0] in sound]
            return False
        self.problems = _bind_problems(recipe, plugins) if plugins is not None else []
        if self.problems:
            return False
        self.recipe = recipe
        return True

    def recipe_for(self, *sections: str) -> Recipe | None:
        """The recipe, or, while it has problems elsewhere, one of ``sections`` alone.

        What a step's live facts need: the LoRA count needs the model and LoRA
        sections only, and should not wait for the data path. The sections
        left out take their defaults (a stand-in data path where one is
        required). None while ``sections`` themselves have problems.
        """
        if self.recipe is not None:
            return self.recipe
        if any(self.problems_at(section) for section in sections):
            return None
        data = {s: copy.deepcopy(self.data[s]) for s in sections if s in self.data}
        for section, stand_in in _STAND_INS.items():
            data.setdefault(section, dict(stand_in))
        try:
            return recipe_from_dict(data, source=str(self.path))
        except LoraforgeError:
            return None

    def problems_at(self, prefix: str) -> list[tuple[str, str]]:
        """The problems of a field (``train.epochs``) or of everything under a prefix (``train``)."""
        return [(field, message) for field, message in self.problems
                if field == prefix or field.startswith(prefix + ".")
                or field.startswith(prefix + "[")]

    # --- saving --------------------------------------------------------------------------------

    def toml(self) -> str:
        """The text :meth:`save` would write."""
        if not self.is_new:
            return self._edited_text()
        if self.recipe is None:
            import tomli_w

            return tomli_w.dumps(self.data)
        from loraforge.authoring import default_header, recipe_toml

        return recipe_toml(self.recipe, minimal=True, folder=self.folder,
                           header=default_header(self.recipe, self.path))

    def save(self) -> Path:
        """Write the recipe to its file, whole or not at all; it must be valid."""
        if self.recipe is None:
            raise RecipeError.from_fields(self.problems or [("recipe", "not checked")],
                                          where=str(self.path))
        text = self.toml()
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.path)
        except OSError as exc:  # the file as it was is kept: the partial one is removed
            raise OutputError(
                f"cannot save {self.path}: {exc.strerror or exc}", where=str(self.path),
                hint="Nothing was written over. Check that the recipe's folder can be written "
                "and the disk has room, then save again.",
            ) from None
        finally:
            try:
                partial.unlink(missing_ok=True)
            except OSError:
                pass  # its folder could not be made: there is no partial file
        self.text = text
        self.changed = []
        return self.path

    def _edited_text(self) -> str:
        """The opened file with only the changed values changed, comments and layout kept."""
        import tomlkit

        document = tomlkit.parse(self.text or "")
        for path in self.changed:
            _write(document, path, self.get(path))
        return tomlkit.dumps(document)


def _bind_problems(recipe: Recipe, plugins: Any) -> list[tuple[str, str]]:
    """What binding the recipe's components finds wrong, by field."""
    from loraforge.plan import bind

    try:
        bind(recipe, plugins)
    except RecipeError as exc:
        return list(exc.fields)
    except LoraforgeError as exc:
        return [(exc.where or "recipe", exc.message)]
    return []


_STAND_INS = {"data": {"path": "data.jsonl"}}
"""What a section left out of :meth:`Draft.recipe_for` needs to be a valid recipe."""


def _write(document: Any, path: FieldPath, value: Any) -> None:
    """Set ``path`` in a tomlkit document to ``value`` (None: remove it), touching nothing else."""
    import tomlkit

    node = document
    for depth, key in enumerate(path[:-1]):
        child = node.get(key)
        if isinstance(child, str):  # `formatter = "text"` gains options: an inline table
            table = tomlkit.inline_table()
            table["name"] = child
            node[key] = table
        elif child is None:
            if value is None:
                return
            node[key] = tomlkit.table() if depth == 0 else tomlkit.inline_table()
        node = node[key]
    last = path[-1]
    if value is None:
        if last in node:
            del node[last]
        return
    current = node.get(last)
    if isinstance(value, dict) and isinstance(current, dict):
        for key in [k for k in current if k not in value]:
            del current[key]
        for key, item in value.items():
            if current.get(key) != item:
                current[key] = item
        return
    if current != value or type(current) is not type(value):
        node[last] = value

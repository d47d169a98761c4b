"""The one family of errors a user is meant to see.

Every error carries what went wrong, where (a recipe field, a data row, a
plugin name) and how to fix it. The CLI prints them as a short panel and
exits 2; anything else reaching the user is a bug.
"""

from __future__ import annotations


class LoraforgeError(Exception):
    """An error caused by the user's input or environment, with a hint to fix it."""

    title = "Error"

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.hint:
            parts.append(self.hint)
        return "\n".join(parts)


class RecipeError(LoraforgeError):
    """The recipe file is missing, not valid TOML, or fails validation.

    ``problems`` are the lines shown to the user; ``fields`` the same as
    ``(field path, message)`` pairs, where a problem belongs to a field
    (``"recipe"`` for one that belongs to none), so that a form can show
    each message beside its field.
    """

    title = "Invalid recipe"

    def __init__(self, problems: list[str], *, where: str | None = None, hint: str | None = None,
                 fields: list[tuple[str, str]] | None = None):
        self.problems = problems
        self.fields = fields if fields is not None else [_split(line) for line in problems]
        super().__init__("\n".join(problems), where=where, hint=hint)

    @classmethod
    def from_fields(cls, fields: list[tuple[str, str]], *, where: str | None = None,
                    hint: str | None = None) -> RecipeError:
        return cls([f"{field}: {message}" for field, message in fields], where=where, hint=hint,
                   fields=fields)


def _split(line: str) -> tuple[str, str]:
    """``"section.field: message"`` → its two parts; a line naming no field belongs to "recipe"."""
    field, sep, message = line.partition(": ")
    if sep and field and " " not in field:
        return field, message
    return "recipe", line


class PluginError(LoraforgeError):
    """A plugin could not be loaded, registered a clash, or failed inside a hook."""

    title = "Plugin error"


class UnknownComponentError(LoraforgeError):
    """A recipe names a loader, selector, formatter or callback that no plugin provides."""

    title = "Unknown component"


class ModelError(LoraforgeError):
    """The model cannot be loaded, quantized or targeted as the recipe asks."""

    title = "Model error"


class DataError(LoraforgeError):
    """The dataset is missing, or a row does not fit the formatter."""

    title = "Data error"


class OutputError(LoraforgeError):
    """The output directory cannot be used as asked."""

    title = "Output error"


class TrainingError(LoraforgeError):
    """Training stopped: out of memory, or the adapter was not learning at all."""

    title = "Training stopped"


class ResumeError(LoraforgeError):
    """A checkpoint cannot be continued with this recipe or this data."""

    title = "Cannot resume"


class RunFolderError(LoraforgeError):
    """A folder given as a run is not a finished run (or a checkpoint of one)."""

    title = "Not a finished run"


class NotARunError(LoraforgeError):
    """A folder given to follow a run (``loraforge watch``) holds no run's events."""

    title = "Not a run"


class BaseModelError(ModelError):
    """The base model a run trained on is not where it was, or is not the same any more."""

    title = "Base model changed"


class MissingPackageError(LoraforgeError):
    """Something the recipe or the command asks for needs a package that is not installed."""

    title = "Missing package"

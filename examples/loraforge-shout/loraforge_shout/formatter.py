"""The ``shout`` formatter: one column's text, in capitals, with exclamation marks."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loraforge.components import DatasetFormatter, RowError, Sample


class ShoutOptions(BaseModel):
    """Options of the ``shout`` formatter: the keys of a recipe's ``[data.formatter]`` table."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored

    column: str = Field("text", description="The column holding the text to shout.")
    marks: int = Field(1, description="How many exclamation marks end each shout (0 to 3).")

    @field_validator("marks")
    @classmethod
    def _few_marks(cls, value: int) -> int:
        if not 0 <= value <= 3:
            raise ValueError(f"a shout ends with 0 to 3 exclamation marks, not {value}")
        return value


class Shout(DatasetFormatter):
    """Trains on one column's text in capitals, ending in exclamation marks."""

    name = "shout"
    description = "Train on one column's text in capitals, ending in exclamation marks."
    Options = ShoutOptions

    def columns(self):
        return {self.options.column}

    def format(self, row):
        column = self.options.column
        text = row[column]
        if not isinstance(text, str):
            raise RowError(f"column {column!r} holds {type(text).__name__}, not text", column=column)
        return Sample.of_text(text.upper().rstrip(".!?") + "!" * self.options.marks)

"""The ``shout-log`` callback: the loss, in capitals, in a file beside the adapter."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loraforge.components import TrainingCallback


class ShoutLogOptions(BaseModel):
    """Options of the ``shout-log`` callback, given in a recipe's ``train.callbacks``."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(1, description="Shout every this many logged losses.")
    filename: str = Field("shouts.txt", description="The file, in the output directory, to write.")

    @field_validator("every")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"shout at least every 1 logged loss, not every {value}")
        return value


class ShoutLog(TrainingCallback):
    """Writes a line in capitals to ``shouts.txt`` when a run begins, logs a loss and ends."""

    name = "shout-log"
    description = "Shout the loss into shouts.txt in the output directory."
    Options = ShoutLogOptions

    def on_begin(self, run):
        self.path = Path(run.output_dir) / self.options.filename
        self.losses = 0
        self.path.write_text(f"TRAINING FOR {run.max_steps} STEPS!\n", encoding="utf-8")

    def on_log(self, step, logs):
        if "loss" not in logs:
            return
        self.losses += 1
        if (self.losses - 1) % self.options.every == 0:
            self._shout(f"STEP {step}: LOSS {logs['loss']:.4f}!")

    def on_end(self, summary):
        self._shout("DONE!")

    def _shout(self, line):
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")

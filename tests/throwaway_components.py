"""Throwaway components that make a run fail (or stop) in a chosen phase, and one that records.

``tiny-llama-failing`` is the tiny LLaMA that fails where its ``fail_in``
option says: while loading (``load``), in a training forward pass
(``train``), in an evaluation forward pass (``evaluate``), or while the final
adapter is saved (``save``). ``recorder`` records every callback event it is
sent, in ``Recorder.events``; ``stopper`` asks the run to stop at a step;
``raising`` raises in the callback method its option names. Register ``ThrowawayComponents()`` under the
name ``throwaway-components`` and unregister it after.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from loraforge.components import TrainingCallback
from loraforge.errors import ModelError
from loraforge.hookspecs import hookimpl
from loraforge_llama.loaders import TinyLlamaLoader


class FailingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_in: Literal["load", "train", "evaluate", "save"] = "load"


class SaveFailingTokenizer:
    """A tokenizer that cannot be saved as the final adapter's (a full disk, as seen there)."""

    def __init__(self, tokenizer):
        self.__dict__["_wrapped"] = tokenizer

    def __getattr__(self, name):
        return getattr(self._wrapped, name)

    def __setattr__(self, name, value):
        setattr(self._wrapped, name, value)

    def __call__(self, *args, **kwargs):
        return self._wrapped(*args, **kwargs)

    def __len__(self):
        return len(self._wrapped)

    def save_pretrained(self, folder, *args, **kwargs):
        if ".adapter.partial" in str(folder):
            raise OSError(28, "No space left on device")
        return self._wrapped.save_pretrained(folder, *args, **kwargs)


class FailingLoader(TinyLlamaLoader):
    name = "tiny-llama-failing"
    Options = FailingOptions
    evaluation_armed = False
    """Whether ``fail_in = "evaluate"`` fails now (a test sets it)."""

    def load(self, spec):
        where = self.options.fail_in
        if where == "load":
            raise ModelError("the checkpoint's weights are damaged", where="model.path")
        loaded = TinyLlamaLoader().load(spec)

        def forward(module, args):
            if where == "train" and module.training:
                raise RuntimeError("a forward pass that fails in train")
            if where == "evaluate" and not module.training and FailingLoader.evaluation_armed:
                raise RuntimeError("a forward pass that fails in evaluate")

        loaded.model.register_forward_pre_hook(forward)
        if where == "save":
            loaded.tokenizer = SaveFailingTokenizer(loaded.tokenizer)
        return loaded


class Recorder(TrainingCallback):
    name = "recorder"
    events: list[str] = []

    def on_phase(self, event):
        Recorder.events.append(f"{event.kind} {event.phase}")

    def on_begin(self, run):
        Recorder.events.append("begin")

    def on_log(self, step, logs):
        Recorder.events.append(f"log {step}")

    def on_evaluate(self, step, metrics):
        Recorder.events.append(f"evaluate {step}")

    def on_end(self, summary):
        Recorder.events.append(f"end {summary['status']}")


class StopperOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: int


class Stopper(TrainingCallback):
    """Asks the run to stop when ``step`` is logged, through ``RunInfo.request_stop``."""

    name = "stopper"
    Options = StopperOptions

    def on_begin(self, run):
        self.run = run

    def on_log(self, step, logs):
        if step == self.options.step:
            self.run.request_stop()


class Raising(TrainingCallback):
    """Raises in the method its option names, once training is under way."""

    name = "raising"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        method: Literal["on_begin", "on_log", "on_evaluate"] = "on_log"

    def on_begin(self, run):
        self.calls = 0
        if self.options.method == "on_begin":
            raise ZeroDivisionError("division by zero")

    def on_log(self, step, logs):
        self.calls += 1
        if self.options.method == "on_log":
            raise ValueError(f"cannot log step {step}")

    def on_evaluate(self, step, metrics):
        if self.options.method == "on_evaluate":
            raise KeyError("eval_accuracy")


class ThrowawayComponents:
    @hookimpl
    def register_model_loaders(self, register):
        register(FailingLoader)

    @hookimpl
    def register_callbacks(self, register):
        register(Recorder)
        register(Stopper)
        register(Raising)

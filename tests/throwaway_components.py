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

import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict

from _loraforge_llama.loaders import TinyLlamaLoader
from loraforge.components import TrainingCallback
from loraforge.errors import ModelError
from loraforge.hookspecs import hookimpl


class FailingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_in: Literal["load", "train", "evaluate", "save", "nan-loss", "nan-gradient",
                     "slow-load", "slow-save"] = "load"
    seconds: float = 3.0
    at_step: int = 1


class SaveFailingTokenizer:
    """A tokenizer that cannot be saved as the final adapter's (a full disk, as seen there)."""

    def __init__(self, tokenizer, sleep: float = 0.0):
        self.__dict__["_wrapped"] = tokenizer
        self.__dict__["_sleep"] = sleep

    def __getattr__(self, name):
        return getattr(self._wrapped, name)

    def __setattr__(self, name, value):
        setattr(self._wrapped, name, value)

    def __call__(self, *args, **kwargs):
        return self._wrapped(*args, **kwargs)

    def __len__(self):
        return len(self._wrapped)

    def save_pretrained(self, folder, *args, **kwargs):
        if Path(folder).name.startswith(".adapter.") and str(folder).endswith(".partial"):
            if self._sleep:
                time.sleep(self._sleep)
            else:
                raise OSError(28, "No space left on device", str(Path(folder) / "tokenizer.json"))
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
        if where == "slow-load":
            time.sleep(self.options.seconds)
        loaded = TinyLlamaLoader().load(spec)
        model = loaded.model
        if where == "nan-loss":  # one broken weight from a step on: the loss is NaN from there
            passes = 0

            def break_a_weight(module, args):
                nonlocal passes
                if module.training:
                    passes += 1
                    if passes == self.options.at_step:
                        with torch.no_grad():
                            module.lm_head.weight[0, 0] = float("nan")

            model.register_forward_pre_hook(break_a_weight)
        if where == "nan-gradient":  # a finite loss whose gradients turn NaN on the way back
            model.model.layers[-1].register_full_backward_hook(
                lambda module, grad_in, grad_out: tuple(
                    None if g is None else g * float("nan") for g in grad_in))

        def forward(module, args):
            if where == "train" and module.training:
                raise RuntimeError("a forward pass that fails in train")
            if where == "evaluate" and not module.training and FailingLoader.evaluation_armed:
                raise RuntimeError("a forward pass that fails in evaluate")

        loaded.model.register_forward_pre_hook(forward)
        if where in ("save", "slow-save"):
            loaded.tokenizer = SaveFailingTokenizer(
                loaded.tokenizer, self.options.seconds if where == "slow-save" else 0.0)
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

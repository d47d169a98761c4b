"""Throwaway training callbacks that make a run do what a test needs at a given step.

``slow`` sleeps after each logged step, so a real process lives long enough
to be signalled or killed mid-way; ``signal-at`` sends this process SIGINT
or SIGTERM. Register ``ThrowawayCallbacks()`` under the name ``throwaway``
and unregister it after.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict

from loraforge.components import TrainingCallback
from loraforge.hookspecs import hookimpl


class SlowOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 0.1


class Slow(TrainingCallback):
    name = "slow"
    Options = SlowOptions

    def on_log(self, step, logs):
        time.sleep(self.options.seconds)


class SignalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: int
    signal: Literal["SIGINT", "SIGTERM"] = "SIGINT"
    times: int = 1


class SignalAt(TrainingCallback):
    name = "signal-at"
    Options = SignalOptions

    def on_log(self, step, logs):
        if step == self.options.step:
            for _ in range(self.options.times):
                os.kill(os.getpid(), getattr(signal, self.options.signal))


class ThrowawayCallbacks:
    @hookimpl
    def register_callbacks(self, register):
        register(Slow)
        register(SignalAt)

"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM (``kill``, schedulers, preemption).

The first signal only asks: the run finishes the optimizer step it is in,
saves a checkpoint and stops, and the command exits 130 (SIGINT) or 143
(SIGTERM). A second signal is not asked twice: Ctrl-C raises
``KeyboardInterrupt`` at once and SIGTERM ends the process.

Under ``torchrun`` every process gets the signal, but not necessarily
before the same step; the processes agree after each step (one tiny
all-reduce), so they all stop at the same one instead of waiting forever on
each other's gradients.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loraforge.engine.environment import is_main_process

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(Exception):
    """The run stopped on a signal after saving a checkpoint."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None, output_dir: Path):
        self.signum = signum
        self.step = step
        self.checkpoint = checkpoint
        self.output_dir = output_dir
        super().__init__(f"stopped by {self.signal_name} at step {step}")

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """128 + the signal, as a shell reports a process the signal ended (130, 143)."""
        return 128 + self.signum


class StopRequest:
    """Records the first SIGINT or SIGTERM while installed; a second one stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def handle(self, signum: int, frame: object) -> None:
        self.signum = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if is_main_process():
            again = "press Ctrl-C again" if signum == signal.SIGINT else "send it again"
            message = (
                f"\nloraforge: {signal.Signals(signum).name} received: finishing this step and "
                f"saving a checkpoint ({again} to stop at once)\n"
            )
            # os.write, not print: a handler may run in the middle of another print to stderr
            os.write(2, message.encode())

    @contextmanager
    def listening(self) -> Iterator[StopRequest]:
        """Install the handlers for the duration (only the main thread can)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
        for signum in SIGNALS:
            signal.signal(signum, self.handle)
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def stop_callback(request: StopRequest):
    """A ``TrainerCallback`` that turns a stop request into a checkpoint and the end of training."""
    from transformers import TrainerCallback

    class StopOnSignal(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            signum = agreed_signal(request, args)
            if signum:
                request.signum = request.signum or signum
                control.should_save = True
                control.should_training_stop = True

    return StopOnSignal()


def agreed_signal(request: StopRequest, args) -> int:
    """The signal any process received (0 for none), the same answer in every process."""
    signum = request.signum or 0
    if args.world_size > 1:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([signum], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        signum = int(flag.item())
    return signum

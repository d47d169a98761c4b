"""Stopping a run cleanly: from code (a :class:`StopToken`), or on SIGINT (Ctrl-C) or SIGTERM.

``token.stop()``, from any thread, asks the run to finish the optimizer
step it is in, save a checkpoint and end as interrupted; before training
it ends at the next phase boundary. While a run is in progress in the main
thread, SIGINT and SIGTERM do the same through the run's token, and the
command exits 130 (SIGINT) or 143 (SIGTERM). A second signal is not asked
twice: Ctrl-C raises ``KeyboardInterrupt`` at once and SIGTERM ends the
process.

Under ``torchrun`` every process gets the signal, but not necessarily
before the same step; the processes agree after each step (one tiny
all-reduce), so they all stop at the same one instead of waiting forever on
each other's gradients.

Nothing here imports anything heavy: a front end creates tokens freely.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(Exception):
    """The run was asked to stop, and stopped (after saving a checkpoint, if it was training)."""

    def __init__(self, signum: int | None, step: int, checkpoint: Path | None, output_dir: Path):
        self.signum = signum
        self.step = step
        self.checkpoint = checkpoint
        self.output_dir = output_dir
        super().__init__(f"stopped by {self.signal_name} at step {step}")

    @property
    def signal_name(self) -> str:
        """SIGINT or SIGTERM, or "request" for a stop asked for in code."""
        return signal.Signals(self.signum).name if self.signum else "request"

    @property
    def exit_code(self) -> int:
        """128 + the signal, as a shell reports a process the signal ended (130, 143)."""
        return 128 + (self.signum or signal.SIGINT)


class StopToken:
    """Ask a run to stop; safe to call from any thread, any number of times.

    ``run(recipe, stop=token)`` checks it after every optimizer step (and
    between the phases before training). ``signum`` is the signal that set
    it, or None when :meth:`stop` did.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        self._listeners: list[Callable[[str], None]] = []

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def stop(self) -> None:
        """Finish the current step, save a checkpoint, end the run as interrupted."""
        first = not self._event.is_set()
        self._event.set()
        if first:
            self._announce("stop requested: finishing this step and saving a checkpoint")

    def on_request(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(message)`` when a stop is first asked for (the run reports it)."""
        self._listeners.append(listener)

    def _announce(self, message: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception:
                pass  # telling about the stop must not prevent it

    def handle(self, signum: int, frame: object) -> None:
        """The signal handler: the first signal asks, the next one stops at once."""
        self.signum = signum
        self._event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        again = "press Ctrl-C again" if signum == signal.SIGINT else "send it again"
        message = (f"{signal.Signals(signum).name} received: finishing this step and saving a "
                   f"checkpoint ({again} to stop at once)")
        # not from the handler itself: it may have interrupted a write to the same stream
        threading.Thread(target=self._announce, args=(message,), daemon=True).start()

    @contextmanager
    def listening(self) -> Iterator[StopToken]:
        """Turn SIGINT and SIGTERM into stop requests for the duration (main thread only)."""
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


def stop_callback(token: StopToken):
    """A ``TrainerCallback`` that turns a stop request into a checkpoint and the end of training."""
    from transformers import TrainerCallback

    class StopOnRequest(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if agreed_stop(token, args):
                control.should_save = True
                control.should_training_stop = True

    return StopOnRequest()


def agreed_stop(token: StopToken, args) -> bool:
    """Whether any process was asked to stop, the same answer in every process.

    A signal that reached only another process is recorded here too, so
    every process reports the same one.
    """
    signum = token.signum or 0
    asked = token.requested
    if args.world_size > 1:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([signum if signum else int(asked)], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        value = int(flag.item())
        if value and not asked:
            token.signum = value if value > 1 else None
            token._event.set()
        asked = asked or bool(value)
    return asked

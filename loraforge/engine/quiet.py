"""Keeping the libraries' own progress bars and internal notices out of loraforge's output."""

from __future__ import annotations

import logging
import warnings
from typing import Any

_LOGGERS = ("bitsandbytes",)


class Quieted:
    """What :func:`quiet_libraries` changed; leaving a ``with`` block puts it back."""

    def __init__(self, saved: dict[str, Any]) -> None:
        self.saved = saved

    def __enter__(self) -> Quieted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def restore(self) -> None:
        import datasets
        from transformers.utils import logging as transformers_logging

        for name, level in self.saved["levels"].items():
            logging.getLogger(name).setLevel(level)
        warnings.filters[:] = self.saved["filters"]
        if self.saved["datasets_bars"]:
            datasets.enable_progress_bars()
        if self.saved["transformers_bars"]:
            transformers_logging.enable_progress_bar()


def quiet_libraries() -> Quieted:
    """Turn off datasets' and transformers' progress bars and a few notices.

    Every command that reads data or loads a tokenizer calls it first: the
    first read of a data file would otherwise print datasets' "Generating
    train split" bar, and the first use of the tiny model transformers' bars
    while it is saved. Used as ``with quiet_libraries():`` (as a run does),
    everything is put back afterwards, so a notebook that runs loraforge
    keeps its own settings.
    """
    saved: dict[str, Any] = {
        "levels": {name: logging.getLogger(name).level for name in _LOGGERS},
        "filters": list(warnings.filters),
    }
    # a note about an optional 4-bit CPU kernel, logged when peft imports bitsandbytes
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    import datasets
    from transformers.utils import logging as transformers_logging

    saved["datasets_bars"] = datasets.is_progress_bar_enabled()
    saved["transformers_bars"] = transformers_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    return Quieted(saved)

"""Keeping the libraries' own progress bars and internal notices out of loraforge's output."""

from __future__ import annotations


def quiet_libraries() -> None:
    """Turn off datasets' and transformers' progress bars and a few notices, for this process.

    Every command that reads data or loads a tokenizer calls it first: the
    first read of a data file would otherwise print datasets' "Generating
    train split" bar, and the first use of the tiny model transformers' bars
    while it is saved.
    """
    import logging
    import warnings

    # a note about an optional 4-bit CPU kernel, logged when peft imports bitsandbytes
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()

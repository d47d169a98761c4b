"""loraforge: LoRA fine-tuning of causal language models from a recipe."""

__version__ = "0.1.0"

from loraforge.hookspecs import hookimpl  # noqa: E402  (the one name every plugin needs)

__all__ = ["__version__", "hookimpl"]

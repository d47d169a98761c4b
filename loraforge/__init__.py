"""loraforge: LoRA fine-tuning of causal language models from a recipe."""

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str):
    # hookimpl, the one name every plugin needs, brings pluggy: only when a plugin asks for it
    if name == "hookimpl":
        from loraforge.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'loraforge' has no attribute {name!r}")

"""loraforge: LoRA fine-tuning of causal language models from a recipe."""

__version__ = "0.1.0"

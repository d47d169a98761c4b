"""The run: load → LoRA → data → Trainer → outputs, as a few plain functions.

Everything here imports torch, transformers, peft or datasets, so nothing in
the recipe schema, the plugin API or the CLI's fast paths imports it.
"""

"""The README.md of a merged model: what it was made from, with which versions, and how."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loraforge.engine.environment import package_version

if TYPE_CHECKING:
    from loraforge.after.merge import MergeResult
    from loraforge.after.runs import TrainedRun

PACKAGES = ("torch", "transformers", "peft", "bitsandbytes")


def model_card(run: TrainedRun, plan: Any, result: MergeResult) -> str:
    """A model card naming the base, the adapter, the recipe and the versions used."""
    record, recipe = run.record, plan.recipe
    base = record.get("base_model") or {}
    adapter = f"{run.adapter}" + (f" (checkpoint at step {run.checkpoint_step})"
                                  if run.checkpoint_step is not None else "")
    if result.rounded:
        into = (f"the base weights as the {result.rounded} run saw them: each quantized weight "
                f"rounded through {'nf4' if result.rounded == '4bit' else 'int8'} and back, then "
                "the LoRA delta added")
    else:
        into = "the base's full-precision weights (the LoRA delta added in float32)"
    trained = record.get("packages") or {}
    rows = [
        ("base model", f"`{result.base}`" + (f" (fingerprint {base['fingerprint']})"
                                             if base.get("fingerprint") else "")),
        ("loaded by", str(record.get("components", {}).get("model.loader", "?"))),
        ("trained with", f"quantization `{recipe.model.quantization}`, "
                         f"{record.get('global_step', '?')} steps"),
        ("adapter", f"`{adapter}`"),
        ("LoRA", f"r={recipe.lora.r}, alpha={recipe.lora.alpha}, on "
                 f"{', '.join(record.get('targets') or []) or 'the recipe targets'}"),
        ("merged into", into),
        ("stored as", result.dtype),
        ("trained on", _versions(record.get("loraforge"), trained)),
        ("merged with", _versions(package_version("loraforge"),
                                  {name: package_version(name) for name in PACKAGES})),
    ]
    table = "\n".join(f"| {label} | {value} |" for label, value in rows)
    return f"""---
library_name: transformers
tags:
- loraforge
- lora
- merged
---

# {run.folder.name} (merged)

The base model with the LoRA adapter trained by loraforge merged into its weights: a plain
transformers checkpoint, loaded with `AutoModelForCausalLM.from_pretrained` without loraforge
or peft.

| | |
| --- | --- |
{table}

Prompt it as it was trained: the recipe's formatter below built every training sample, and
each answer ended with the tokenizer's EOS token, where generation stops.

## The recipe

```toml
{recipe.to_toml().strip()}
```
"""


def _versions(loraforge: str | None, packages: dict[str, str | None]) -> str:
    named = [("loraforge", loraforge), *packages.items()]
    return ", ".join(f"{name} {version}" for name, version in named if version)

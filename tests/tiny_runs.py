"""In-process runs of the tiny LLaMA for tests: a recipe, the plugins it needs, what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import tomli_w
from throwaway_callbacks import ThrowawayCallbacks

from loraforge.plugins import Plugins
from loraforge.recipe import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]
REVIEWS = ROOT / "recipes" / "data" / "reviews.jsonl"
BUILTINS = ["llama", "targets", "formatters", "callbacks"]


def tiny_recipe(data: Path, out: Path) -> dict:
    """Ten steps of the tiny LLaMA on reviews, on the CPU, logging every step."""
    return {
        "model": {"loader": "tiny-llama"},
        "lora": {"r": 4, "alpha": 8, "targets": "qv"},
        "data": {"path": str(data), "max_length": 48,
                 "formatter": {"name": "template", "template": "Review: {text} Label: {label}"}},
        "train": {"max_steps": 10, "batch_size": 8, "learning_rate": 3e-3, "logging_steps": 1,
                  "save_steps": 100, "device": "cpu", "callbacks": ["metrics"]},
        "output": {"dir": str(out)},
    }


def plugins() -> Plugins:
    """The first-party plugins and the throwaway callbacks, registered as ``throwaway``."""
    loaded = Plugins()
    loaded.load_entry_points(BUILTINS)
    loaded.register(ThrowawayCallbacks(), "throwaway")
    return loaded


def recipe(folder: Path, *overrides: str, rows: int | None = None) -> Recipe:
    """The tiny recipe writing to ``folder/out``; ``rows`` keeps only the first reviews."""
    data = REVIEWS
    if rows is not None:
        data = folder / f"reviews-{rows}.jsonl"
        data.write_text("".join(REVIEWS.read_text().splitlines(keepends=True)[:rows]))
    path = folder / "recipe.toml"
    path.write_text(tomli_w.dumps(tiny_recipe(data, folder / "out")))
    return load_recipe(path, list(overrides))


def recipe_file(folder: Path, *overrides: str, rows: int | None = None) -> Path:
    """The tiny recipe with ``overrides``, resolved and written to ``folder/recipe.toml``."""
    folder.mkdir(parents=True, exist_ok=True)
    resolved = recipe(folder, *overrides, rows=rows)
    path = folder / "recipe.toml"
    path.write_text(resolved.to_toml())
    return path


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def run_record(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def write_checkpoint_files(folder: Path) -> Path:
    """The files a checkpoint holds, small but whole, so that it passes the check before resuming."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({"lora_A": torch.zeros(2, 2)}, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text("{}")
    (folder / "trainer_state.json").write_text('{"global_step": 0}')
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        torch.save({"state": [1, 2, 3]}, folder / name)
    return folder


def labelled_recipe(data: Path, out: Path) -> dict:
    """The tiny LLaMA learning to answer a review's label (and stop), a fifth of the rows held out."""
    recipe = tiny_recipe(data, out)
    recipe["data"].update(
        eval_fraction=0.2, max_length=64,
        formatter={"name": "template", "template": "Review: {text}\nSentiment:",
                   "completion": " {label}"},
    )
    recipe["lora"].update(r=8, alpha=16)
    del recipe["train"]["max_steps"]
    recipe["train"].update(epochs=2, learning_rate=1e-2, logging_steps=5)
    return recipe


def write_recipe(folder: Path, recipe: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.toml"
    path.write_text(tomli_w.dumps(recipe))
    return path

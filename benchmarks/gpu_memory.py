"""The memory estimate against the measured peak of real training on a GPU, for 7B models.

Builds, once, random-init checkpoints in the shapes of LLaMA-2-7B and of
Baichuan2-7B as loraforge trains it (converted to LLaMA: vocabulary 125,696),
from the configs in benchmarks/configs (nothing is downloaded), then trains
20 steps of each configuration below in a fresh process and prints the
estimate against ``torch.cuda.max_memory_allocated`` and
``max_memory_reserved``, with their ratios. torch's counters leave the CUDA
context out, so it is left out of the estimate compared (and the allocator
reserve too, against "allocated"). Target: every estimate within 10 % of
the measured peak.

    .venv/bin/python benchmarks/gpu_memory.py [--folder /tmp/gpu-memory] [--steps 20]

On a machine without CUDA it says so and exits 0, with nothing measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = {"llama-2-7b": "llama-2-7b.json", "baichuan2-7b": "baichuan2-7b.json"}
CONFIGURATIONS = [
    # (name, quantization, seq, batch, gradient checkpointing, precision)
    ("8-bit, seq 512, batch 2", "8bit", 512, 2, False, "fp16"),
    ("8-bit, seq 512, batch 2, checkpointing", "8bit", 512, 2, True, "fp16"),
    ("4-bit nf4, seq 1024, batch 1, checkpointing", "4bit", 1024, 1, True, "bf16"),
    ("bf16, seq 512, batch 1, checkpointing", "none", 512, 1, True, "bf16"),
]

CHILD = """
import json, sys, torch
from loraforge.components import TrainingCallback
from loraforge.engine.run import run
from loraforge.recipe import load_recipe
from loraforge.reporting import CollectingReporter

class Peak(TrainingCallback):
    name = "peak"
    def on_begin(self, run):
        torch.cuda.reset_peak_memory_stats()

recipe = load_recipe(sys.argv[1])
run(recipe, reporter=CollectingReporter(), callbacks=[Peak()], overwrite=True)
print(json.dumps({"allocated": torch.cuda.max_memory_allocated(),
                  "reserved": torch.cuda.max_memory_reserved()}))
"""


def llama_form(name: str) -> dict:
    """The LLaMA config loraforge trains for a model (Baichuan2-7B as its conversion writes it)."""
    config = json.loads((HERE / "configs" / MODELS[name]).read_text())
    if config.get("model_type") == "baichuan":
        from _loraforge_baichuan.convert import llama_config

        config = llama_config(config, "bfloat16").to_dict()
    return config


def build(folder: Path, name: str) -> Path:
    """A random-init checkpoint of ``name``'s shapes with a small tokenizer (once)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from _loraforge_llama.tiny import tiny_llama_path

    target = folder / name
    if (target / "config.json").is_file():
        return target
    config = llama_form(name)
    built = AutoConfig.for_model(config.pop("model_type"), **config)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(built, dtype=torch.float16)
    model.save_pretrained(target, max_shard_size="2GB")
    # any tokenizer whose ids fit the vocabulary: the tiny model's
    AutoTokenizer.from_pretrained(tiny_llama_path()).save_pretrained(target)
    del model
    torch.cuda.empty_cache()
    return target


def recipe_for(folder: Path, model: Path, configuration: tuple, steps: int) -> Path:
    import tomli_w

    name, quantization, seq, batch, checkpointing, precision = configuration
    rows = folder / "long-rows.jsonl"
    if not rows.exists():  # every sample is cut to max_length: each batch is full
        rows.write_text("".join(json.dumps({"text": " ".join(f"word{i % 997}" for i in range(
            4000))}) + "\n" for _ in range(64)))
    path = folder / f"{model.name}-{name.replace(' ', '').replace(',', '-')}.toml"
    path.write_text(tomli_w.dumps({
        "model": {"loader": "llama", "path": str(model), "quantization": quantization},
        "lora": {"r": 8, "alpha": 32, "dropout": 0.1, "targets": "qv"},
        "data": {"path": str(rows), "max_length": seq},
        "train": {"max_steps": steps, "batch_size": batch, "precision": precision,
                  "gradient_checkpointing": checkpointing, "device": "cuda",
                  "logging_steps": 5, "save_steps": 1000, "callbacks": ["metrics"]},
        "output": {"dir": str(folder / "runs" / path.stem)},
    }))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/loraforge-gpu-memory"))
    parser.add_argument("--steps", type=int, default=20)
    options = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing measured (run this on a machine with one)")
        return
    from loraforge.estimate import estimate
    from loraforge.recipe import load_recipe

    options.folder.mkdir(parents=True, exist_ok=True)
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"{'model':14} {'configuration':44} {'estimate':>9} {'allocated':>10} "
          f"{'reserved':>9} {'est/alloc':>9} {'est/res':>8}")
    for name in MODELS:
        model = build(options.folder, name)
        for configuration in CONFIGURATIONS:
            path = recipe_for(options.folder, model, configuration, options.steps)
            parts = {p.name: p.bytes for p in estimate(load_recipe(path)).parts}
            # torch's counters leave out the CUDA context; "allocated" leaves out the reserve too
            reserved_part = sum(parts.values()) - parts["CUDA context"]
            allocated_part = reserved_part - parts["allocator reserve"]
            done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                                  text=True)
            if done.returncode != 0:
                print(f"{name:14} {configuration[0]:44} failed: "
                      f"{done.stderr.strip().splitlines()[-1:]}")
                continue
            peak = json.loads(done.stdout.strip().splitlines()[-1])
            gib = 2**30
            print(f"{name:14} {configuration[0]:44} {reserved_part / gib:8.2f}G "
                  f"{peak['allocated'] / gib:9.2f}G {peak['reserved'] / gib:8.2f}G "
                  f"{allocated_part / peak['allocated']:9.3f} "
                  f"{reserved_part / peak['reserved']:8.3f}")


if __name__ == "__main__":
    main()

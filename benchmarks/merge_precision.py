"""How close a merged model is to what was trained, for runs on a full-precision, 8-bit and 4-bit base.

The quickstart recipe is trained for ``--steps`` steps on the tiny LLaMA three
times: with ``model.quantization`` none, 8bit and 4bit. Each run is merged
into the full-precision base and (for 8-bit and 4-bit) into the base rounded
through int8 or nf4 (``--rounded-base``); each merged model is loaded with
plain ``AutoModelForCausalLM`` and its next-token logits after ``--prompts``
held-out review prompts are set against

- what was trained: the run's base loaded as the run loaded it (quantized,
  through bitsandbytes), with the adapter on it, as ``loraforge chat`` loads it;
- the full-precision base with the adapter on it, through peft.

It prints the largest and the mean absolute difference of the logits, and
how many greedy next tokens agree. The figures in docs/after-training.md come
from this script. bitsandbytes' 8-bit and 4-bit layers run here on whatever
device the runs train on (``--device``, the CPU by default, as the
quickstart); on a GPU they compute differently, so the figures there may
not be these.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/merge_precision.py [--steps 30] [--prompts 20] [--device cuda]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "quickstart.toml"


def train(quantization: str, steps: int, out: Path, device: str):
    from loraforge.after.runs import open_run
    from loraforge.engine.run import run_recipe
    from loraforge.plugins import get_plugins
    from loraforge.recipe import load_recipe

    recipe = load_recipe(RECIPE, [f'model.quantization="{quantization}"',
                                  f"train.max_steps={steps}", "train.callbacks=[]",
                                  f'train.device="{device}"',
                                  f'output.dir="{out}"'])
    run_recipe(recipe, plugins=get_plugins())
    return open_run(out)


def prompts(trained, count: int) -> list[list[int]]:
    """The token ids of the first ``count`` held-out prompts, rendered as in training."""
    from loraforge.after.evaluation import eval_rows
    from loraforge.after.prompts import render
    from loraforge.engine.sources import ROW

    rows = eval_rows(trained).dataset.select(range(count))
    return [render(trained.formatter, {k: v for k, v in row.items() if k != ROW},
                   trained.tokenizer).ids for row in rows]


def next_logits(model, prompt_ids: list[list[int]]):
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.stack([model(input_ids=torch.tensor([ids], device=device)).logits[0, -1]
                            .float().cpu() for ids in prompt_ids])


def compare(got, expected) -> str:
    difference = (got - expected).abs()
    agree = int((got.argmax(-1) == expected.argmax(-1)).sum())
    return (f"{difference.max().item():10.2g}{difference.mean().item():10.2g}"
            f"{agree:>6}/{len(got)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps of each run")
    parser.add_argument("--prompts", type=int, default=20, help="held-out prompts to compare on")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where to train and load the runs (default cpu, as the quickstart)")
    args = parser.parse_args()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from loraforge.after.merge import merge_run
    from loraforge.after.models import load_trained

    print(f"quickstart recipe on the {args.device}, {args.steps} steps; next-token logits after "
          f"{args.prompts} held-out prompts")
    header = f"{'largest':>10}{'mean':>10}{'greedy':>9}"
    print(f"{'run':7}{'merged into':28}{'against what was trained':>29}"
          f"{'against full precision + adapter':>36}")
    print(f"{'':35}{header}{'':8}{header}")
    with tempfile.TemporaryDirectory(prefix="loraforge-merge-precision-") as scratch:
        scratch = Path(scratch)
        for bits in ("none", "8bit", "4bit"):
            run = train(bits, args.steps, scratch / bits, args.device)
            trained = load_trained(run)
            ids = prompts(trained, args.prompts)
            as_trained = next_logits(trained.model, ids)
            base = AutoModelForCausalLM.from_pretrained(run.record["base_model"]["path"])
            full = next_logits(PeftModel.from_pretrained(base.to(trained.device),
                                                         str(run.adapter)).eval(), ids)
            ways = [("full-precision base", False)]
            if bits != "none":
                ways.append((f"base rounded ({'int8' if bits == '8bit' else 'nf4'})", True))
            for label, rounded in ways:
                out = merge_run(run, scratch / f"{bits}-merged-{rounded}", rounded=rounded).out_dir
                merged = next_logits(AutoModelForCausalLM.from_pretrained(out).to(
                    trained.device).eval(), ids)
                print(f"{bits:7}{label:28}{compare(merged, as_trained)}{'':8}"
                      f"{compare(merged, full)}")
            print(f"{'':7}(mean |logit| of what was trained: {as_trained.abs().mean().item():.2f})")


if __name__ == "__main__":
    main()

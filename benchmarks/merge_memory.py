"""Peak memory of ``loraforge merge``, against the size of the shards it writes.

LLaMAs of 88 and 248 MB (hidden 512, 8 and 24 layers) are saved in shards of
8 MB or in one file, an adapter with LoRA on every linear layer is trained on
each for one step, and each run is merged in a fresh process that measures
its resident memory just before the merge and its peak during it. The same
merge through peft (the whole model loaded, ``merge_and_unload``,
``save_pretrained``) is measured the same way. The target: loraforge's peak
above its baseline follows the output shard size (``--max-shard-size``),
not the model's size nor how the base is sharded; peft's follows the model.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/merge_memory.py [--out-shard-mb 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "recipes" / "data" / "reviews.jsonl"

# Peak RSS is read from the kernel's high-water mark (VmHWM), reset just before the merge:
# getrusage's ru_maxrss would carry over the parent's peak through fork and exec.
MEASURE = """
import json, sys, time
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
import torch, transformers, peft, safetensors
{setup}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the high-water mark starts again from the memory in use now
before = status("VmRSS:")
started = time.time()
{merge}
print(json.dumps({{"before": before, "peak": status("VmHWM:"), "seconds": time.time() - started}}))
"""

# what any merge imports and reads whatever the model's size is in the baseline, not the peak
LORAFORGE_SETUP = """
from transformers import AutoTokenizer, GenerationConfig
from transformers.models.auto import modeling_auto
from loraforge.after.merge import merge_run
from loraforge.after.runs import open_run
from loraforge.plugins import get_plugins
get_plugins()
run = open_run(sys.argv[1])
"""
LORAFORGE_MERGE = "merge_run(run, sys.argv[2], max_shard_bytes=int(sys.argv[3]))"

PEFT_SETUP = """
from peft import PeftModel
from transformers import AutoModelForCausalLM
"""
PEFT_MERGE = """
base = AutoModelForCausalLM.from_pretrained(sys.argv[3], dtype="auto")
PeftModel.from_pretrained(base, sys.argv[1]).merge_and_unload().save_pretrained(
    sys.argv[2], max_shard_size=int(sys.argv[4]))
"""


def build_base(folder: Path, layers: int, shard_mb: int) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from _loraforge_llama.tiny import tiny_llama_path

    tiny = tiny_llama_path()
    config = LlamaConfig(vocab_size=2048, hidden_size=512, intermediate_size=1024,
                         num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=8,
                         bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder, max_shard_size=shard_mb * (1 << 20))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((tiny / name).read_bytes())
    return folder


def train_adapter(base: Path, out: Path) -> None:
    recipe = out.parent / "recipe.toml"
    recipe.write_text(f"""
[model]
path = "{base}"
[lora]
r = 16
alpha = 32
targets = "all-linear"
[data]
path = "{DATA}"
max_length = 32
max_samples = 8
[data.formatter]
name = "template"
template = "Review: {{text}} Label: {{label}}"
[train]
max_steps = 1
batch_size = 8
device = "cpu"
callbacks = []
[output]
dir = "{out}"
""")
    subprocess.run([sys.executable, "-m", "loraforge", "run", str(recipe)], check=True,
                   capture_output=True)


def measure(setup: str, merge: str, *args: str) -> dict:
    code = MEASURE.format(setup=setup, merge=merge)
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[8, 24],
                        help="model depths to measure (default 8 and 24)")
    parser.add_argument("--shard-mb", type=int, nargs="+", default=[8, 1000],
                        help="the base's shard sizes to measure, MB (default 8, and 1000: one file)")
    parser.add_argument("--out-shard-mb", type=int, default=16,
                        help="the merged model's largest shard, MB (default 16)")
    args = parser.parse_args()
    mib = 1 << 20
    out_bytes = args.out_shard_mb * mib
    print(f"merged into shards of at most {args.out_shard_mb} MiB")
    print(f"{'':30}{'peak above baseline MiB':>24}{'÷ output shard':>16}{'seconds':>9}")
    for layers in args.layers:
        for shard_mb in args.shard_mb:
            with tempfile.TemporaryDirectory() as scratch:
                scratch = Path(scratch)
                base = build_base(scratch / "base", layers, shard_mb)
                shards = sorted(base.glob("*.safetensors"))
                largest = max(path.stat().st_size for path in shards)
                total = sum(path.stat().st_size for path in shards)
                train_adapter(base, scratch / "run")
                ours = measure(LORAFORGE_SETUP, LORAFORGE_MERGE, str(scratch / "run"),
                               str(scratch / "a"), str(out_bytes))
                theirs = measure(PEFT_SETUP, PEFT_MERGE, str(scratch / "run"), str(scratch / "b"),
                                 str(base), str(out_bytes))
            print(f"base: {total / mib:.0f} MiB in {len(shards)} shard(s), the largest "
                  f"{largest / mib:.0f} MiB")
            for label, result in (("  loraforge merge", ours),
                                  ("  peft merge_and_unload", theirs)):
                extra = (result["peak"] - result["before"]) / mib
                print(f"{label:30}{extra:24.1f}{extra / args.out_shard_mb:16.2f}"
                      f"{result['seconds']:9.1f}")

if __name__ == "__main__":
    main()

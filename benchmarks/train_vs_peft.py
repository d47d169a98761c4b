"""loraforge against a plain transformers + peft script: train throughput and peak memory.

Both train the tiny LLaMA on the bundled reviews with the same LoRA, batch,
sequence length, learning rate and number of steps, each in its own process,
alternating, a few rounds. Reported: trained tokens per second (tokens over
the Trainer's own train_runtime) and peak resident memory of each process,
and loraforge's ratio to the plain script. The target is a throughput ratio
of at least 0.95 and a memory ratio of at most 1.05: loraforge adds nothing
to the hot loop.

    .venv/bin/python benchmarks/train_vs_peft.py [--steps 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "recipes" / "data" / "reviews.jsonl"

RECIPE = """
[model]
loader = "tiny-llama"

[lora]
r = 8
alpha = 16
dropout = 0.05
targets = "qv"

[data]
path = "{data}"
max_length = {max_length}

[data.formatter]
name = "template"
template = "Review: {{text}} Label: {{label}}"

[train]
max_steps = {steps}
batch_size = {batch_size}
learning_rate = 1e-2
logging_steps = 10
save_steps = {steps}
device = "cpu"

[output]
dir = "{output}"
"""


def run_measured(command: list[str]) -> tuple[str, int]:
    """Run a command; return its stdout and its peak RSS in bytes (from wait4's rusage)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[:3]} failed with exit code {process.returncode}")
    return stdout, usage.ru_maxrss * 1024


def loraforge_once(work: Path, args) -> tuple[float, int]:
    output = work / "loraforge-out"
    recipe = work / "recipe.toml"
    recipe.write_text(RECIPE.format(data=DATA, max_length=args.max_length, steps=args.steps,
                                    batch_size=args.batch_size, output=output))
    _, rss = run_measured([sys.executable, "-m", "loraforge", "run", str(recipe), "--overwrite"])
    record = json.loads((output / "run.json").read_text())
    runtime = record["trainer_metrics"]["train_runtime"]
    samples = args.steps * args.batch_size
    train = record["data"]["train"]
    tokens = train["tokens"] * samples / train["samples"]
    return tokens / runtime, rss


def plain_once(work: Path, args, model_dir: Path) -> tuple[float, int]:
    stdout, rss = run_measured([
        sys.executable, str(ROOT / "benchmarks" / "plain_peft.py"), str(model_dir), str(DATA),
        "--steps", str(args.steps), "--batch-size", str(args.batch_size),
        "--max-length", str(args.max_length), "--output", str(work / "plain-out"),
    ])
    result = json.loads(stdout.strip().splitlines()[-1])
    return result["tokens"] / result["train_runtime"], rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()

    from _loraforge_llama.tiny import tiny_llama_path

    model_dir = tiny_llama_path()
    results: dict[str, list[tuple[float, int]]] = {"loraforge": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for round_ in range(args.rounds):
            # alternate, so drift in the machine's speed hits both alike
            results["loraforge"].append(loraforge_once(work, args))
            results["plain"].append(plain_once(work, args, model_dir))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    def summary(name: str) -> tuple[float, float]:
        speeds = [speed for speed, _ in results[name]]
        peaks = [rss for _, rss in results[name]]
        return statistics.median(speeds), statistics.median(peaks)

    lf_speed, lf_rss = summary("loraforge")
    plain_speed, plain_rss = summary("plain")
    print(f"{'':12}{'tokens/s':>12}{'peak RSS MiB':>15}")
    print(f"{'loraforge':12}{lf_speed:12.0f}{lf_rss / 2**20:15.0f}")
    print(f"{'plain peft':12}{plain_speed:12.0f}{plain_rss / 2**20:15.0f}")
    print(f"ratio (loraforge / plain): throughput {lf_speed / plain_speed:.3f} "
          f"(target >= 0.95), peak memory {lf_rss / plain_rss:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()

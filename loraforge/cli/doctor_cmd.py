"""``loraforge doctor [RECIPE]``: what this machine can run, and whether it can run the recipe.

Python, torch and its CUDA build, the driver, each GPU with its total and
free memory, whether bitsandbytes really runs 8-bit and 4-bit layers here
(a one-layer forward and backward in a child process, not an import),
free disk where loraforge writes, hub access (the offline switches, and
whether a token is set — never the token), and each plugin's health. With a
recipe, it says whether this machine can run it, and exits 1 if not.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SMOKE = """
import sys, torch, bitsandbytes as bnb
device = sys.argv[2]
layer = (bnb.nn.Linear8bitLt(64, 64, bias=False, has_fp16_weights=False) if sys.argv[1] == "8bit"
         else bnb.nn.Linear4bit(64, 64, bias=False, compute_dtype=torch.float32,
                                quant_type="nf4"))
layer = layer.to(device)
x = torch.randn(4, 64, device=device, requires_grad=True)
y = layer(x.to(torch.float16) if sys.argv[1] == "8bit" and device == "cuda" else x)
y.float().sum().backward()
assert torch.isfinite(y).all() and x.grad is not None and torch.isfinite(x.grad).all()
print("ok")
"""


@dataclass
class Check:
    """One line of the report: what, how it stands, and whether it is a problem."""

    what: str
    result: str
    ok: bool = True


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "doctor", parents=[common], help="check what this machine can run (and a recipe)",
        description="Check Python, torch, CUDA, the GPUs, bitsandbytes, disk, hub access and "
        "plugins; with a recipe, whether this machine can run it (exit 1 if not).",
    )
    parser.add_argument("recipe", nargs="?", help="a recipe to check against this machine")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.FIELD=VALUE", help="override a recipe field (repeatable)")
    parser.set_defaults(handler=handle)


def bitsandbytes_runs(bits: str, device: str) -> tuple[bool, str]:
    """Whether a real 8-bit or 4-bit layer trains here: a child process tries one."""
    try:
        done = subprocess.run([sys.executable, "-c", SMOKE, bits, device], capture_output=True,
                              text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return False, "the test layer did not finish in 3 minutes"
    if done.returncode == 0 and done.stdout.strip().endswith("ok"):
        return True, f"a {bits} layer trains on the {device}"
    lines = (done.stderr or done.stdout).strip().splitlines()
    return False, lines[-1] if lines else f"exit code {done.returncode}"


def machine_checks() -> tuple[list[Check], dict]:
    import torch

    checks = [Check("python", platform.python_version()),
              Check("torch", f"{torch.__version__}, " + (f"built for CUDA {torch.version.cuda}"
                                                          if torch.version.cuda else "CPU build"))]
    gpus = []
    if torch.cuda.is_available():
        driver = shutil.which("nvidia-smi") and subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True).stdout.strip().splitlines()
        checks.append(Check("driver", driver[0] if driver else "unknown"))
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            gpus.append((index, torch.cuda.get_device_name(index), free, total))
            checks.append(Check(f"GPU {index}", f"{torch.cuda.get_device_name(index)}: "
                                f"{free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"))
    else:
        checks.append(Check("GPU", "none usable (training runs on the CPU, slowly)"))
    device = "cuda" if gpus else "cpu"
    runs = {}
    for bits in ("8bit", "4bit"):
        runs[bits] = bitsandbytes_runs(bits, device)
        checks.append(Check(f"bitsandbytes {bits}", runs[bits][1], runs[bits][0]))
    return checks, {"gpus": gpus, "device": device, "bitsandbytes": runs}


def disk_checks(folders: list[tuple[str, Path]]) -> list[Check]:
    checks = []
    for what, folder in folders:
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free
        checks.append(Check(f"disk: {what}", f"{free / 1e9:.1f} GB free ({folder})",
                            free > 1e9))
    return checks


def hub_check() -> Check:
    offline = [name for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
               if os.environ.get(name, "").upper() in {"1", "ON", "YES", "TRUE"}]
    try:
        from huggingface_hub import get_token

        token = get_token() is not None
    except Exception:
        token = bool(os.environ.get("HF_TOKEN"))
    state = f"offline ({', '.join(offline)} set)" if offline else "online allowed"
    return Check("hub", f"{state}; a token is {'set' if token else 'not set'}")


def plugin_checks() -> list[Check]:
    from loraforge.cli.recipe_args import loaded_plugins
    from loraforge.plugins import plugin_warnings

    plugins = loaded_plugins()
    checks = [Check("plugins", ", ".join(sorted(plugins.info)) or "none loaded")]
    checks += [Check("plugin", message, False) for _, message in plugin_warnings(plugins)]
    return checks


def recipe_checks(recipe, machine: dict) -> list[Check]:
    """Whether this machine can run ``recipe``: bitsandbytes, the device, the memory."""
    from loraforge.cli.recipe_args import loaded_plugins
    from loraforge.engine.quiet import quiet_libraries
    from loraforge.errors import LoraforgeError

    checks = []
    bits = recipe.model.quantization
    if bits != "none":
        ok, why = machine["bitsandbytes"][bits]
        checks.append(Check(f"recipe: {bits}", "bitsandbytes runs it here" if ok else
                            f"bitsandbytes cannot run {bits} here: {why}", ok))
    if recipe.train.device == "cuda" and not machine["gpus"]:
        checks.append(Check("recipe: device", 'train.device = "cuda" but no GPU is usable', False))
    try:
        from loraforge.estimate import estimate

        with quiet_libraries():
            needed = estimate(recipe, plugins=loaded_plugins()).total
    except LoraforgeError as exc:
        checks.append(Check("recipe: memory", f"not estimated: {exc.message}", True))
        return checks
    if machine["gpus"] and recipe.train.device != "cpu":
        _, name, free, _ = machine["gpus"][0]
        fits = needed <= free
        checks.append(Check("recipe: memory", f"needs about {needed / 2**30:.1f} GiB, "
                            f"{free / 2**30:.1f} GiB free on {name}", fits))
    else:
        checks.append(Check("recipe: memory", f"about {needed / 2**30:.1f} GiB on a GPU; "
                            "this machine trains on the CPU"))
    return checks


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console

    from loraforge.cache import cache_dir

    recipe = None
    if args.recipe:
        from loraforge.recipe import load_recipe

        recipe = load_recipe(args.recipe, args.overrides)
    checks, machine = machine_checks()
    folders = [("cache", cache_dir())]
    if recipe is not None:
        folders.append(("output", Path(recipe.output.dir).expanduser().absolute()))
    checks += disk_checks(folders) + [hub_check()] + plugin_checks()
    if recipe is not None:
        checks += recipe_checks(recipe, machine)
    from rich.markup import escape

    console = Console(highlight=False)
    for check in checks:
        mark = "[green]✓[/]" if check.ok else "[red]✗[/]"
        console.print(f"{mark} {escape(f'{check.what:20} {check.result}')}")
    blocking = [c for c in checks if not c.ok and c.what.startswith("recipe")]
    if recipe is not None:
        console.print("This machine can run the recipe." if not blocking else
                      "This machine cannot run the recipe as it is.")
    return 1 if blocking else 0

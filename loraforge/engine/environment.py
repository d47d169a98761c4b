"""What a run ran on, recorded in run.json so two runs can be compared, and which process this is.

Launchers (``torchrun``, ``accelerate launch``) start one process per device
and tell each its place through the environment variables ``RANK`` and
``WORLD_SIZE``; a plain ``loraforge run`` has neither and is process 0 of 1.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

PACKAGES = ("torch", "transformers", "peft", "accelerate", "datasets", "bitsandbytes", "pluggy")


def process_index() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Process 0 alone writes the output directory and talks to the user."""
    return process_index() == 0


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def accelerators() -> dict[str, Any]:
    """The CUDA build and the GPUs this process can see."""
    import torch

    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    return {
        "cuda": torch.version.cuda,
        "cuda_available": available,
        "gpu_count": count,
        "gpus": [torch.cuda.get_device_name(i) for i in range(count)],
    }


def describe_environment(plugin_versions: dict[str, str | None], processes: int) -> dict[str, Any]:
    """Python, packages, plugins, CUDA and GPUs, and how many processes train together."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loraforge": package_version("loraforge"),
        "packages": {name: package_version(name) for name in PACKAGES},
        "plugins": plugin_versions,
        **accelerators(),
        "world_size": processes,
        "argv": sys.argv,
    }

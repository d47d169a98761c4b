"""Will a recipe fit the GPU? The peak memory of its training by component, and fixes if not.

``estimate(recipe)`` needs no weights: the model is built on the meta device
from its config. ``loraforge estimate`` prints it, ``loraforge doctor``
checks it against this machine, the wizard's Fit step shows it live.
"""

from loraforge.estimate.estimator import estimate
from loraforge.estimate.fixes import Fix, fixes
from loraforge.estimate.gpus import GPU, GPUS, find_gpu
from loraforge.estimate.memory import Estimate, Part, size_text

__all__ = ["GPU", "GPUS", "Estimate", "Fix", "Part", "estimate", "find_gpu", "fixes", "size_text"]

"""litepose: real-time multi-person 2D pose estimation (Lite Pose, CVPR 2022) in modern PyTorch.

The public API is imported lazily, so torch-free parts (``litepose.decode``, skeletons, geometry)
work on a device that has only NumPy/SciPy installed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "create_model": "litepose.models.zoo",
    "list_models": "litepose.models.zoo",
    "load": "litepose.models.checkpoint",
    "save": "litepose.models.checkpoint",
    "ArchSpec": "litepose.models.spec",
    "SearchSpace": "litepose.models.space",
    "create_supernet": "litepose.models.supernet",
    "load_supernet": "litepose.models.supernet",
    "Skeleton": "litepose.skeleton",
    "get_skeleton": "litepose.skeleton",
    "load_skeleton": "litepose.skeleton",
    "decode": "litepose.decoding.grouping",
    "Predictor": "litepose.inference.predictor",
    "PoseResult": "litepose.inference.predictor",
    "Tracker": "litepose.tracking.tracker",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'litepose' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

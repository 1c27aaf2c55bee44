"""Decoding: network outputs -> maps (:mod:`~litepose.decoding.maps`, needs torch) and maps ->
people (:mod:`~litepose.decoding.grouping`, NumPy/SciPy only).

Importing this package never imports torch; ``outputs_to_maps`` and ``aggregate_scales`` are loaded
from :mod:`litepose.decoding.maps` on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from litepose.decoding.grouping import (
    DETECTION_THRESHOLD,
    Candidates,
    adjust_positions,
    decode,
    heatmap_nms,
    keypoints_to_image,
    match_by_tag,
    munkres_assignment,
    refine_person,
    resolve_joint_order,
    top_k_candidates,
)

__all__ = [
    "DETECTION_THRESHOLD",
    "Candidates",
    "adjust_positions",
    "aggregate_scales",
    "decode",
    "heatmap_nms",
    "keypoints_to_image",
    "match_by_tag",
    "munkres_assignment",
    "outputs_to_maps",
    "refine_person",
    "resolve_joint_order",
    "top_k_candidates",
]

_TORCH_NAMES = {"outputs_to_maps", "aggregate_scales"}


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        value = getattr(importlib.import_module("litepose.decoding.maps"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'litepose.decoding' has no attribute {name!r}")

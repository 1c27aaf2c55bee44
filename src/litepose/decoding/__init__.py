"""Decoding: network outputs -> maps (:mod:`~litepose.decoding.maps`, needs torch) and maps ->
people (:mod:`~litepose.decoding.grouping`, NumPy/SciPy only).

Importing this package never imports torch; ``outputs_to_maps`` and ``aggregate_scales`` are loaded
from :mod:`litepose.decoding.maps` on first use.

Two backends group maps into people with identical results (:data:`~litepose.decoding.grouping.BACKENDS`):
the NumPy modules (:mod:`~litepose.decoding.peaks`, :mod:`~litepose.decoding.matching`,
:mod:`~litepose.decoding.refine`), which need nothing compiled, and
:mod:`~litepose.decoding.numba_kernels`, ~10× faster (≈6-9 ms for 30 people on 512×512 maps, against
≈0.1 s and the official parser's ≈2 s), used by ``decode(backend="auto")`` whenever numba is installed
(the ``fast`` extra). Why numba rather than Cython or a C++ extension: the hot loops (refine's
branch-and-bound search, Munkres, NMS) are scalar code that needs a compiler, but a compiled extension
would turn this pure-Python package into per-platform wheels with a C toolchain in every install from
source, for Raspberry Pi and Jetson too; numba ships as wheels for those platforms, compiles for the
CPU it runs on (AVX-512 where there is one), keeps the kernels in Python next to the NumPy code they
must match line for line, and stays optional: without it the NumPy path runs, and the tests run both.
Its cost is a one-time compilation (about 15-20 s of CPU), cached on disk.
"""

from __future__ import annotations

import importlib
from typing import Any

from litepose.decoding.grouping import (
    BACKENDS,
    DETECTION_THRESHOLD,
    Candidates,
    adjust_positions,
    decode,
    heatmap_nms,
    keypoints_to_image,
    match_by_tag,
    munkres_assignment,
    numba_available,
    refine_person,
    resolve_joint_order,
    top_k_candidates,
)

__all__ = [
    "BACKENDS",
    "DETECTION_THRESHOLD",
    "Candidates",
    "adjust_positions",
    "aggregate_scales",
    "decode",
    "heatmap_nms",
    "keypoints_to_image",
    "match_by_tag",
    "munkres_assignment",
    "numba_available",
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

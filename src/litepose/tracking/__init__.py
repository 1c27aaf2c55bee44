"""Tracking: identities across video frames, and One-Euro smoothing of the tracked keypoints.

A core-level room: it works on the keypoints that :mod:`litepose.inference` produces and never
imports training, search or export. Pure NumPy/SciPy.

* :mod:`~litepose.tracking.tracker`: :class:`Tracker` (OKS association, motion model, life cycle).
* :mod:`~litepose.tracking.association`: OKS between poses and the gated Hungarian matching.
* :mod:`~litepose.tracking.motion`: the constant-velocity Kalman filter per keypoint.
* :mod:`~litepose.tracking.smoothing`: the One-Euro filter (seconds, Hz, confidence-aware, gap filling).
"""

from __future__ import annotations

from litepose.tracking.association import match, oks_matrix
from litepose.tracking.smoothing import (
    OneEuroConfig,
    OneEuroFilter,
    OneEuroState,
    lag_seconds,
    one_euro_start,
    one_euro_step,
    pose_size,
    smoothing_factor,
)
from litepose.tracking.tracker import TrackedPoses, Tracker, TrackerConfig

__all__ = [
    "OneEuroConfig",
    "OneEuroFilter",
    "OneEuroState",
    "TrackedPoses",
    "Tracker",
    "TrackerConfig",
    "lag_seconds",
    "match",
    "oks_matrix",
    "one_euro_start",
    "one_euro_step",
    "pose_size",
    "smoothing_factor",
]

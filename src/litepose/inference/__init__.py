"""Inference: preprocessing, the :class:`Predictor`, drawing, and prediction sources.

Importing this package does not import torch; the predictor imports it when it first runs.
"""

from __future__ import annotations

from litepose.inference.predictor import PoseResult, Predictor, RandomWeightsWarning, bboxes_from_keypoints
from litepose.inference.preprocess import load_image, preprocess, preprocess_numpy, to_rgb_uint8, warp_to_input
from litepose.inference.sources import AtomicVideoWriter, Frame, Source, open_source
from litepose.inference.visualize import draw_poses, limb_colors, track_color

__all__ = [
    "AtomicVideoWriter",
    "Frame",
    "PoseResult",
    "Predictor",
    "RandomWeightsWarning",
    "Source",
    "bboxes_from_keypoints",
    "draw_poses",
    "limb_colors",
    "load_image",
    "open_source",
    "preprocess",
    "preprocess_numpy",
    "to_rgb_uint8",
    "track_color",
    "warp_to_input",
]

"""Skeleton drawing."""

from __future__ import annotations

import numpy as np
import pytest

from litepose.inference.visualize import draw_poses, limb_colors
from litepose.skeleton import COCO, CROWDPOSE


def _person(skeleton_joints: int, conf: float = 0.9) -> np.ndarray:
    rng = np.random.default_rng(0)
    xy = rng.uniform(20, 100, size=(skeleton_joints, 2))
    return np.concatenate([xy, np.full((skeleton_joints, 1), conf)], axis=1)[None]


def test_draw_is_pure_and_draws_something() -> None:
    image = np.zeros((120, 120, 3), np.uint8)
    out = draw_poses(image, _person(17), COCO, scores=[0.8])
    assert image.max() == 0  # input untouched
    assert out.shape == image.shape and out.dtype == np.uint8 and out is not image
    assert (out.sum(axis=2) > 0).mean() > 0.02  # limbs and joints cover part of the canvas
    colours = {tuple(c) for c in out.reshape(-1, 3)[::7]}
    assert len(colours) > 10  # per-limb palette + anti-aliasing gives many distinct colours


def test_threshold_hides_low_confidence_people_and_empty_input() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    assert draw_poses(image, _person(14, conf=0.05), CROWDPOSE, threshold=0.1).max() == 0
    assert draw_poses(image, np.zeros((0, 14, 3)), CROWDPOSE).max() == 0
    assert draw_poses(image, _person(14, conf=0.05), CROWDPOSE, threshold=0.0).max() > 0


def test_bgr_flips_palette_and_gray_input_is_accepted() -> None:
    gray = np.zeros((120, 120), np.uint8)
    rgb = draw_poses(gray, _person(17), COCO, radius=0)
    bgr = draw_poses(gray, _person(17), COCO, bgr=True, radius=0)
    assert rgb.shape == (120, 120, 3)
    assert np.array_equal(rgb, bgr[..., ::-1])


def test_far_away_points_do_not_crash_and_wrong_joint_count_errors() -> None:
    kp = _person(17)
    kp[0, 0, :2] = [1e12, -1e12]
    draw_poses(np.zeros((50, 50, 3), np.uint8), kp, COCO)
    with pytest.raises(ValueError, match="17 joints but skeleton 'crowdpose' has 14"):
        draw_poses(np.zeros((50, 50, 3), np.uint8), kp, CROWDPOSE)


def test_limb_colors_are_distinct() -> None:
    colours = limb_colors(19)
    assert len(set(colours)) == 19 and all(0 <= c <= 255 for rgb in colours for c in rgb)

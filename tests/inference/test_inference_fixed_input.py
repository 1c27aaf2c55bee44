"""Networks exported at a fixed input size: the letterbox plan and the fixed canvas, and the normalisation
an exported model names."""

from __future__ import annotations

import numpy as np
import pytest

from litepose.geometry import test_resize_meta as resize_meta
from litepose.inference.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    plan_fixed_input,
    preprocess_numpy,
    warp_to_input,
)


@pytest.mark.parametrize(("wh", "fixed", "scales", "expect"), [
    # fits as it is: the official pipeline, untouched
    ((640, 480), (256, 384), (1.0,), (640, 480, 256)),
    ((480, 480), (256, 256), (1.0,), (480, 480, 256)),
    # 4:3 into a square: the largest short side whose long side fits (ceil64(192 * 4/3) = 256)
    ((640, 480), (256, 256), (1.0,), (640, 480, 192)),
    ((480, 640), (256, 256), (1.0,), (480, 640, 192)),
    # a free width: only the height binds
    ((480, 640), (256, None), (1.0,), (480, 640, 192)),
    ((640, 480), (256, None), (1.0,), (640, 480, 256)),
    # several scales: the largest must fit (2 x 128 = 256)
    ((480, 480), (256, 256), (1.0, 2.0), (480, 480, 128)),
    # 5:1 cannot fit a square even at 64 px: padded to 1:1 first
    ((500, 100), (256, 256), (1.0,), (500, 500, 256)),
    ((100, 500), (128, 256), (1.0,), (1000, 500, 128)),  # to the canvas's 2:1
])
def test_plan_fixed_input(wh: tuple[int, int], fixed: tuple[int | None, int | None], scales: tuple[float, ...],
                          expect: tuple[int, int, int]) -> None:
    plan = plan_fixed_input(*wh, 256, scales, fixed)
    assert (plan.width, plan.height, plan.input_size) == expect and plan.warning is None
    for s in scales:  # every scale's input fits the fixed sides
        meta = resize_meta(plan.width, plan.height, plan.input_size, s, min(scales))
        assert fixed[0] is None or meta.resized_h <= fixed[0]
        assert fixed[1] is None or meta.resized_w <= fixed[1]
    # and no larger input size would (the plan is the largest that fits, below the one asked for)
    larger = resize_meta(plan.width, plan.height, plan.input_size + 64, max(scales), min(scales))
    assert plan.input_size == 256 or (fixed[0] is not None and larger.resized_h > fixed[0]) or \
        (fixed[1] is not None and larger.resized_w > fixed[1])


def test_plan_fixed_input_refuses_scales_that_cannot_fit() -> None:
    with pytest.raises(ValueError, match=r"fixed 64x64 input, too small for test scales \[1\.0, 2\.0\]"):
        plan_fixed_input(64, 64, 64, (1.0, 2.0), (64, 64))


def test_fixed_canvas_pads_right_and_bottom() -> None:
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    plain, meta = warp_to_input(image, 128)
    canvas, same = warp_to_input(image, 128, canvas=(256, 256))
    assert plain.shape == (128, 192, 3) and canvas.shape == (256, 256, 3)
    assert (same.resized_w, same.resized_h) == (meta.resized_w, meta.resized_h) == (192, 128)
    np.testing.assert_array_equal(same.matrix, meta.matrix)
    np.testing.assert_array_equal(canvas[:128, :192], plain)
    assert not canvas[128:].any() and not canvas[:, 192:].any()
    # a free side follows pad_to: scale 1.25 of a 64 px square input is 80 px, padded to 96
    free, free_meta = warp_to_input(image[:, :96], 64, 1.25, pad_to=32, canvas=(256, None))
    assert (free_meta.resized_w, free_meta.resized_h) == (80, 80) and free.shape == (256, 96, 3)
    with pytest.raises(ValueError, match=r"does not fit the fixed input"):
        warp_to_input(image, 128, canvas=(128, 128))


def test_normalisation_of_an_exported_model() -> None:
    image = np.full((64, 64, 3), 128, np.uint8)
    default, _ = preprocess_numpy(image, 64)
    np.testing.assert_allclose(default[0, :, 0, 0], (128 / 255 - IMAGENET_MEAN) / IMAGENET_STD, atol=1e-6, rtol=0)
    other, _ = preprocess_numpy(image, 64, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    np.testing.assert_allclose(other[0, :, 0, 0], (128 / 255 - 0.5) / np.array([0.25, 0.5, 1.0]), atol=1e-6, rtol=0)

"""Size limits: no image and no option makes the network input explode; ordinary images are untouched.

Before: ``--scales 1.0 0.001`` raised ZeroDivisionError, ``1.0 0.01`` segfaulted, ``1.0 100`` needed
24 GB; a 2x1000 image became a 256x128000 input (42 s, 5.6 GB) and a 1x6000 one tried to allocate 6 GB.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from litepose.geometry import test_resize_meta as resize_meta
from litepose.inference.predictor import Predictor, check_predictor_options
from litepose.inference.preprocess import (
    MAX_ASPECT_RATIO,
    MAX_INPUT_PIXELS,
    MAX_INPUT_SIDE,
    InputPlan,
    pad_image,
    plan_input,
)
from litepose.models.zoo import create_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def xs_model() -> nn.Module:
    torch.manual_seed(0)
    return create_model("litepose-xs", num_keypoints=17, input_size=64).eval()


@pytest.mark.parametrize(("scales", "message"), [
    ((1.0, 0.001), "scales must be positive numbers between 0.25 and 4"),
    ((1.0, 0.01), "scales must be positive numbers between 0.25 and 4"),
    ((1.0, 100.0), "scales must be positive numbers between 0.25 and 4"),
    ((1.0, float("nan")), "scales must be positive numbers"),
    ((0.25, 1.0, 4.0), "at most 8 times the smallest"),
])
def test_extreme_scales_are_refused_before_a_model_is_loaded(scales: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Predictor("no-such-checkpoint.pt", scales=scales)  # the options are checked first


@pytest.mark.parametrize(("options", "name"), [
    ({"detection_threshold": -1.0}, "detection_threshold"),
    ({"max_people": 0}, "max_people"),
    ({"tag_threshold": 0.0}, "tag_threshold"),
    ({"input_size": 8}, "input_size"),
])
def test_predictor_names_the_bad_parameter_before_loading(options: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be"):
        Predictor("no-such-checkpoint.pt", **options)
    with pytest.raises(ValueError, match=f"^--{name.replace('_', '-')} must be"):
        check_predictor_options(**options, names={name: f"--{name.replace('_', '-')}"})  # type: ignore[arg-type]


@pytest.mark.parametrize(("w", "h", "size", "scales"), [
    (640, 480, 512, (2.0, 1.0)),  # COCO-sized image, L model, scale 2: 1408x1024, the largest official use
    (203, 77, 256, (0.5, 1.0, 1.5, 2.0)),
    (170, 33, 128, (1.0, 1.25)),  # 5.2:1, below the aspect limit
    (1, 1, 256, (1.0,)),
    (3200, 2400, 448, (1.0,)),
])
def test_ordinary_images_follow_the_official_pipeline(w: int, h: int, size: int, scales: tuple[float, ...]) -> None:
    assert plan_input(w, h, size, scales) == InputPlan(w, h, size, None)


@pytest.mark.parametrize(("w", "h"), [(2, 1000), (1000, 2), (6000, 1), (1, 6000), (7919, 13)])
@pytest.mark.parametrize(("size", "scales"), [(256, (1.0,)), (512, (2.0, 1.0)), (2048, (4.0, 1.0)),
                                              (2048, (0.25, 2.0)), (32, (0.25, 2.0))])
def test_extreme_images_and_scales_fit_the_limits(w: int, h: int, size: int, scales: tuple[float, ...]) -> None:
    plan = plan_input(w, h, size, scales)
    assert plan.warning is not None and plan.warning.startswith(f"image {w}x{h}: ")
    assert plan.width >= w and plan.height >= h
    assert max(plan.width, plan.height) <= MAX_ASPECT_RATIO * min(plan.width, plan.height) + 1
    for s in scales:
        meta = resize_meta(plan.width, plan.height, plan.input_size, s, min(scales))
        assert min(meta.resized_w, meta.resized_h) >= 32
        assert max(meta.resized_w, meta.resized_h) <= MAX_INPUT_SIDE
        assert meta.resized_w * meta.resized_h <= MAX_INPUT_PIXELS


def test_large_inputs_get_a_smaller_input_size_with_a_warning() -> None:
    plan = plan_input(640, 480, 2048, (4.0, 1.0))  # 8192x10880 at scale 4
    assert (plan.width, plan.height) == (640, 480) and plan.input_size < 2048
    assert "input size lowered from 2048" in str(plan.warning)


def test_pad_image_keeps_pixel_positions() -> None:
    image = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3) + 1
    padded = pad_image(image, 5, 4)
    assert padded.shape == (4, 5, 3) and (padded[:2] == image).all() and not padded[2:].any()
    assert pad_image(image, 5, 2) is image


@pytest.mark.parametrize(("h", "w"), [(2, 400), (400, 2), (1, 6000)])
def test_predictor_on_extreme_shapes_bounds_the_maps_and_warns(xs_model: nn.Module, h: int, w: int) -> None:
    pred = Predictor(xs_model, flip_test=False, max_people=2, detection_threshold=0.0)
    image = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match=rf"image {w}x{h}: more than 6:1, padded to"):
        heatmaps, _, meta = pred.predict_maps(image)
    # at input size 64 and 6:1 at most, the maps are at most 64 x ceil64(64*6)
    assert heatmaps.shape[1] * heatmaps.shape[2] <= 64 * 384 and meta.orig_w >= w and meta.orig_h >= h
    with pytest.warns(UserWarning, match="padded"):
        result = pred(image)
    assert result.keypoints.shape == (2, 17, 3) and np.isfinite(result.keypoints).all()

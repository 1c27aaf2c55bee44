"""One-Euro filter: hand-computed steps, seconds and Hz, confidence, gaps, variable frame rates, jitter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from litepose.data.synthetic_video import DetectorNoise, VideoConfig, Walker, render_frames, simulate_detections
from litepose.tracking import (
    OneEuroConfig,
    OneEuroFilter,
    lag_seconds,
    one_euro_start,
    one_euro_step,
    pose_size,
    smoothing_factor,
)

STILL = OneEuroConfig(min_cutoff=1.0, beta=0.0, d_cutoff=1.0, full_confidence=0.5, reset_distance=math.inf)


def test_smoothing_factor_is_the_reference_formula() -> None:
    # alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi fc): fc = 1 Hz, dt = 0.1 s -> 0.6283 / 1.6283
    assert smoothing_factor(1.0, 0.1) == pytest.approx(0.38586954509503757, abs=1e-12)
    assert smoothing_factor(np.array([1.0, 11.0]), 0.1) == pytest.approx([0.385869545, 0.873601780], abs=1e-9)


def test_a_few_steps_by_hand_without_speed_term() -> None:
    # beta = 0: a plain exponential filter with alpha = 0.385870 at 10 Hz sampling
    state = one_euro_start(np.array([[0.0]]), 0.0, config=STILL)
    state, out, conf, filled = one_euro_step(state, np.array([[1.0]]), 0.1, config=STILL, scale=1.0)
    assert out[0, 0] == pytest.approx(0.385869545, abs=1e-8)   # 0 + 0.385870 * (1 - 0)
    state, out, _, _ = one_euro_step(state, np.array([[1.0]]), 0.2, config=STILL, scale=1.0)
    assert out[0, 0] == pytest.approx(0.622843784, abs=1e-8)   # 0.385870 + 0.385870 * (1 - 0.385870)
    assert conf[0] == 1.0 and not filled[0]


def test_a_few_steps_by_hand_with_speed_term() -> None:
    cfg = OneEuroConfig(min_cutoff=1.0, beta=1.0, d_cutoff=1.0, reset_distance=math.inf)
    state = one_euro_start(np.array([[0.0]]), 0.0, config=cfg)
    # second sample: speed (1 - 0) / 0.1 = 10 px/s taken as is; cutoff 1 + 10 = 11 Hz; alpha = 0.873602
    state, out, _, _ = one_euro_step(state, np.array([[1.0]]), 0.1, config=cfg, scale=1.0)
    assert out[0, 0] == pytest.approx(0.873601780, abs=1e-8)
    assert state.derivative[0, 0] == pytest.approx(10.0)
    # third: raw speed (1 - 0.873602) / 0.1 = 1.26398; filtered 10 + 0.385870 (1.26398 - 10) = 6.629037;
    # cutoff 7.629037 Hz, alpha 0.827392; 0.873602 + 0.827392 * 0.126398 = 0.978183
    state, out, _, _ = one_euro_step(state, np.array([[1.0]]), 0.2, config=cfg, scale=1.0)
    assert state.derivative[0, 0] == pytest.approx(6.629036784, abs=1e-8)
    assert out[0, 0] == pytest.approx(0.978182622, abs=1e-8)


def test_speed_is_divided_by_the_person_size() -> None:
    cfg = OneEuroConfig(min_cutoff=1.0, beta=1.0, reset_distance=math.inf)
    small, big = OneEuroFilter(cfg), OneEuroFilter(cfg)
    for t, x in ((0.0, 0.0), (0.1, 1.0), (0.2, 2.0)):
        a, _, _ = small(np.array([[x, 0.0]]), t, scale=1.0)
        b, _, _ = big(np.array([[10 * x, 0.0]]), t, scale=10.0)  # the same motion, ten times larger
    assert b[0, 0] == pytest.approx(10 * a[0, 0])


def test_the_filter_is_isotropic() -> None:
    cfg = OneEuroConfig()
    rot = np.array([[0.6, -0.8], [0.8, 0.6]])
    rng = np.random.default_rng(0)
    path = np.cumsum(rng.normal(0, 3, (20, 1, 2)), axis=0)
    plain, turned = OneEuroFilter(cfg), OneEuroFilter(cfg)
    for i, p in enumerate(path):
        a, _, _ = plain(p, i / 30, scale=50.0)
        b, _, _ = turned(p @ rot.T, i / 30, scale=50.0)
    np.testing.assert_allclose(b, a @ rot.T, atol=1e-9)


def test_low_confidence_moves_less() -> None:
    cfg = OneEuroConfig(beta=0.0, min_confidence=0.1, full_confidence=0.3)
    start = one_euro_start(np.zeros((2, 2)), 0.0, np.array([0.9, 0.9]), config=cfg)
    _, out, _, _ = one_euro_step(start, np.ones((2, 2)), 0.1, np.array([0.9, 0.15]), config=cfg, scale=10.0)
    alpha = smoothing_factor(cfg.min_cutoff, 0.1)
    np.testing.assert_allclose(out[0], alpha)              # full step
    np.testing.assert_allclose(out[1], alpha * 0.15 / 0.3)  # half a step at half the full confidence


def test_short_gaps_are_filled_then_the_point_is_dropped() -> None:
    cfg = OneEuroConfig(beta=0.0, max_gap=2)
    f = OneEuroFilter(cfg)
    for i in range(6):  # a point moving right at 30 px/s, confidently seen
        f(np.array([[i * 1.0, 5.0]]), i / 30, np.array([0.9]), scale=100.0)
    before = f.state
    assert before is not None
    xy, conf, filled = f(np.array([[0.0, 0.0]]), 6 / 30, np.array([0.01]), scale=100.0)  # missing: filled
    assert filled[0] and conf[0] == pytest.approx(0.9)
    np.testing.assert_allclose(xy[0], before.value[0] + before.derivative[0] / 30)
    f(np.array([[0.0, 0.0]]), 7 / 30, np.array([0.01]), scale=100.0)
    xy, conf, filled = f(np.array([[3.0, 4.0]]), 8 / 30, np.array([0.02]), scale=100.0)  # third miss: raw
    assert not filled[0] and conf[0] == pytest.approx(0.02)
    np.testing.assert_allclose(xy[0], [3.0, 4.0])
    xy, _, _ = f(np.array([[6.0, 7.0]]), 9 / 30, np.array([0.9]), scale=100.0)  # seen again: starts afresh
    np.testing.assert_allclose(xy[0], [6.0, 7.0])


def test_variable_frame_rate_uses_the_real_intervals() -> None:
    cfg = OneEuroConfig(beta=0.0)
    state = one_euro_start(np.zeros((1, 1)), 0.0, config=cfg)
    state, out1, _, _ = one_euro_step(state, np.ones((1, 1)), 0.05, config=cfg, scale=10.0)
    state, out2, _, _ = one_euro_step(state, np.ones((1, 1)), 0.25, config=cfg, scale=10.0)   # a 200 ms gap
    a1, a2 = smoothing_factor(1.0, 0.05), smoothing_factor(1.0, 0.2)
    assert out1[0, 0] == pytest.approx(a1)
    assert out2[0, 0] == pytest.approx(a1 + a2 * (1 - a1))
    with pytest.raises(ValueError, match="timestamps must increase"):
        one_euro_step(state, np.ones((1, 1)), 0.25, config=cfg, scale=10.0)


def test_a_jump_restarts_the_point_instead_of_gliding() -> None:
    f = OneEuroFilter(OneEuroConfig(beta=0.0, reset_distance=0.3))
    for i in range(5):
        f(np.array([[100.0 + i, 50.0], [20.0, 20.0]]), i / 30, scale=100.0)
    xy, _, _ = f(np.array([[160.0, 50.0], [22.0, 20.0]]), 5 / 30, scale=100.0)  # 56 px = 0.56 sizes; 2 px
    assert xy[0, 0] == 160.0                     # taken as it is: another point now
    assert 20.0 < xy[1, 0] < 21.0                # a small move is smoothed as usual


def test_config_checks_name_the_field() -> None:
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0)
    with pytest.raises(ValueError, match="beta"):
        OneEuroConfig(beta=-1)
    with pytest.raises(ValueError, match="max_gap"):
        OneEuroConfig(max_gap=-1)
    assert lag_seconds(OneEuroConfig(), 0.0) == pytest.approx(1 / (2 * math.pi * OneEuroConfig().min_cutoff))


def test_pose_size_is_the_long_side_of_the_confident_joints() -> None:
    pose = np.array([[10, 10, 0.9], [30, 90, 0.9], [500, 500, 0.01]], dtype=float)
    assert pose_size(pose) == 80.0
    np.testing.assert_allclose(pose_size(np.stack([pose, pose * [2, 2, 1]])), [80.0, 160.0])
    assert pose_size(pose[:1]) == 1.0


def test_smoothing_halves_the_jitter_of_a_generated_noisy_track() -> None:
    """A person walking across a generated clip, as a detector would see it (bench_tracking's noise:
    jitter of 2% of the height, twice that on covered joints, 2% outlier joints)."""
    config = VideoConfig(image_size=(320, 240), fps=15, seconds=4.0, people=1, crossings=0)
    walker = Walker(track_id=0, start=0.0, x=30.0, y=200.0, height=120.0, speed=0.5, heading=math.pi / 2,
                    turn_time=None, turn_angle=0.0, pose="walking", seed=3)
    frames = [f for f in render_frames(config, "coco", 0, walkers=[walker]) if len(f.track_ids)]
    noise = DetectorNoise(miss_rate=0.0)
    detections = [simulate_detections(f, noise, np.random.default_rng([1, f.index]))[0][0] for f in frames]
    gt = np.array([f.keypoints[0] for f in frames])
    labelled = (gt[:, :, 2] > 0).all(axis=0)  # joints inside the frame all along
    assert len(frames) >= 55 and labelled.sum() >= 12
    f = OneEuroFilter()
    smooth = np.array([f(d[:, :2], fr.time, d[:, 2], scale=pose_size(d))[0] for d, fr in zip(detections, frames,
                                                                                               strict=True)])
    raw = np.array(detections)[:, :, :2]

    def accel(x: np.ndarray) -> np.ndarray:
        return x[2:] - 2 * x[1:-1] + x[:-2]

    def mean_norm(x: np.ndarray) -> float:
        return float(np.linalg.norm(x[:, labelled], axis=2).mean())

    jitter_raw = mean_norm(accel(raw) - accel(gt[:, :, :2]))
    jitter_smooth = mean_norm(accel(smooth) - accel(gt[:, :, :2]))
    assert jitter_smooth < 0.5 * jitter_raw
    assert mean_norm(smooth - gt[:, :, :2]) < mean_norm(raw - gt[:, :, :2])

"""OKS against pycocotools, the gated Hungarian match against brute force, pose NMS, the Kalman filter."""

from __future__ import annotations

import contextlib
import io
import itertools

import numpy as np
import pytest

from litepose.skeleton import get_skeleton
from litepose.tracking import match, oks_matrix
from litepose.tracking.association import pose_nms
from litepose.tracking.motion import kalman_predict, kalman_start, kalman_update

COCO = get_skeleton("coco")
SIGMAS = np.asarray(COCO.oks_sigmas)


def test_oks_matrix_equals_pycocotools() -> None:
    from pycocotools.coco import COCO as CocoApi
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(0)
    gt = np.concatenate([rng.uniform(50, 250, (3, 17, 2)), rng.integers(0, 3, (3, 17, 1))], axis=2)
    gt[:, :3, 2] = 2  # every person has visible joints (pycocotools has another rule for none)
    gt[gt[:, :, 2] == 0, :2] = 0
    areas = rng.uniform(2000, 9000, 3)
    det = gt[[0, 2, 1, 0]].copy()
    det[:, :, :2] += rng.normal(0, 8, (4, 17, 2))
    det[:, :, 2] = 0.9
    annotations = [{"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": float(areas[i]),
                    "bbox": [0, 0, 10, 10], "keypoints": g.reshape(-1).tolist(),
                    "num_keypoints": int((g[:, 2] > 0).sum())} for i, g in enumerate(gt)]
    dataset = {"images": [{"id": 1, "width": 400, "height": 400}], "categories": [{"id": 1, "name": "person"}],
               "annotations": annotations}
    with contextlib.redirect_stdout(io.StringIO()):
        api = CocoApi()
        api.dataset = dataset
        api.createIndex()
        results = api.loadRes([{"image_id": 1, "category_id": 1, "keypoints": d.reshape(-1).tolist(),
                                "score": 1.0 - 0.1 * i} for i, d in enumerate(det)])
        ev = COCOeval(api, results, "keypoints")
        ev.evaluate()
    expected = np.asarray(ev.ious[(1, 1)]).T  # pycocotools: (detections by score, ground truth)
    ours = oks_matrix(gt[:, :, :2], gt[:, :, 2] > 0, det, np.ones((4, 17), bool), SIGMAS, areas=areas)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    empty = oks_matrix(np.zeros((0, 17, 2)), np.zeros((0, 17), bool), det, np.ones((4, 17), bool), SIGMAS)
    assert empty.shape == (0, 4)


def _brute_force(sim: np.ndarray, threshold: float) -> tuple[int, float]:
    """Most allowed pairs, then the largest summed similarity, over every assignment."""
    rows, cols = sim.shape
    best = (0, 0.0)
    for perm in itertools.permutations(range(cols), min(rows, cols)) if rows <= cols else \
            itertools.permutations(range(rows), cols):
        pairs = list(zip(range(rows), perm, strict=False)) if rows <= cols else list(zip(perm, range(cols),
                                                                                          strict=False))
        ok = [sim[r, c] for r, c in pairs if sim[r, c] >= threshold]
        best = max(best, (len(ok), round(sum(ok), 9)))
    return best


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (4, 4), (2, 5)])
def test_match_is_the_best_gated_assignment(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    for _ in range(30):
        sim = rng.uniform(0, 1, shape) * (rng.random(shape) < 0.7)
        pairs, free_rows, free_cols = match(sim, 0.3)
        assert (sim[pairs[:, 0], pairs[:, 1]] >= 0.3).all()
        assert (len(pairs), round(float(sim[pairs[:, 0], pairs[:, 1]].sum()), 9)) == _brute_force(sim, 0.3)
        assert sorted([*pairs[:, 0], *free_rows]) == list(range(shape[0]))
        assert sorted([*pairs[:, 1], *free_cols]) == list(range(shape[1]))


def test_pose_nms_keeps_the_best_of_duplicates_only() -> None:
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.uniform(100, 200, (17, 2)), np.full((17, 1), 0.8)], axis=1)
    b = a + np.array([300.0, 0.0, 0.0])
    poses = np.stack([a + np.array([1.0, 1.0, 0.0]), a, b, b + np.array([0.5, 0.0, 0.0])])
    keep = pose_nms(poses, np.array([0.2, 0.9, 0.5, 0.6]), np.ones((4, 17), bool), SIGMAS, 0.5)
    assert keep.tolist() == [False, True, False, True]


def test_kalman_learns_a_constant_velocity_and_batches_agree() -> None:
    rng = np.random.default_rng(2)
    start = rng.uniform(0, 100, (17, 2))
    velocity = np.array([30.0, -12.0])
    states = []
    for scale in (1.0, 3.0):  # two people, run alone
        s = kalman_start(start * scale, np.ones(17, bool), 100.0, measurement_std=0.03, velocity_std=1.0)
        for k in range(1, 30):
            s = kalman_predict(s, 1 / 30, 100.0, accel_std=4.0)
            s = kalman_update(s, (start + velocity * k / 30) * scale, np.ones(17), 100.0, measurement_std=0.03)
        states.append(s)
    np.testing.assert_allclose(states[0].velocity, np.broadcast_to(velocity, (17, 2)), rtol=0.02)
    # the same two people in one batch
    b = kalman_start(start, np.ones(17, bool), 100.0, measurement_std=0.03, velocity_std=1.0)
    batch = type(b)(*(np.stack([x, x]) for x in (b.position, b.velocity, b.covariance, b.seen)))
    batch = type(b)(batch.position * np.array([1.0, 3.0])[:, None, None], batch.velocity, batch.covariance, batch.seen)
    for k in range(1, 30):
        batch = kalman_predict(batch, np.full(2, 1 / 30), np.full(2, 100.0), accel_std=4.0)
        z = np.stack([start + velocity * k / 30, (start + velocity * k / 30) * 3.0])
        batch = kalman_update(batch, z, np.ones((2, 17)), np.full(2, 100.0), measurement_std=0.03)
    np.testing.assert_allclose(batch.velocity[0], states[0].velocity, rtol=1e-12)
    np.testing.assert_allclose(batch.position[1], states[1].position, rtol=1e-12)

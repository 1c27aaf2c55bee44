"""The torch-free decoder: hand-built maps with known answers, parity with the loop reference,
and the exactness of every fast path (sparse NMS, vectorised Munkres, branch-and-bound refine)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from reference_parser import munkres_pairs, reference_decode, synthetic_crowd_maps

from litepose.decoding import matching, peaks, refine
from litepose.decoding.grouping import (
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
from litepose.geometry import test_resize_meta as resize_meta_for
from litepose.skeleton import COCO, CROWDPOSE


def _blank(num_joints: int, height: int = 32, width: int = 32, dim: int = 1) -> tuple[np.ndarray, np.ndarray]:
    return (np.zeros((num_joints, height, width), np.float32),
            np.zeros((num_joints, height, width, dim), np.float32))


def _put(hm: np.ndarray, tg: np.ndarray, j: int, x: int, y: int, val: float, tag: float) -> None:
    hm[j, y, x] = val
    tg[j, y, x] = tag


# --------------------------------------------------------------------------------------------
# Hand-built maps
# --------------------------------------------------------------------------------------------

def test_single_person_known_answer(backend):
    hm, tg = _blank(3)
    _put(hm, tg, 0, 5, 6, 0.9, 1.0)
    _put(hm, tg, 1, 10, 12, 0.8, 1.0)
    _put(hm, tg, 2, 20, 25, 0.7, 1.0)
    keypoints, scores = decode(hm, tg, backend=backend)
    assert keypoints.shape == (1, 3, 3) and keypoints.dtype == np.float32
    # Neighbours are all 0: ties move down by 0.25, then +0.5.
    np.testing.assert_array_equal(keypoints[0], np.array(
        [[5.25, 6.25, 0.9], [10.25, 12.25, 0.8], [20.25, 25.25, 0.7]], np.float32))
    assert scores[0] == np.float32(np.array([0.9, 0.8, 0.7], np.float32).mean())


def test_adjust_moves_toward_larger_neighbour_and_clamps_at_borders(backend):
    hm, tg = _blank(3)
    _put(hm, tg, 0, 0, 0, 0.9, 1.0)  # top-left corner: clamped neighbours equal the peak -> tie -> down
    _put(hm, tg, 1, 10, 12, 0.8, 1.0)
    hm[1, 12, 11], hm[1, 12, 9] = 0.5, 0.3  # right > left -> x + 0.25
    hm[1, 13, 10], hm[1, 11, 10] = 0.1, 0.4  # below < above -> y - 0.25
    _put(hm, tg, 2, 31, 31, 0.7, 1.0)  # bottom-right: left/above smaller than the clamped peak -> up
    hm[2, 31, 30], hm[2, 30, 31] = 0.2, 0.2
    keypoints, _ = decode(hm, tg, refine=False, backend=backend)
    np.testing.assert_array_equal(keypoints[0, :, :2], np.array(
        [[0.25, 0.25], [10.75, 12.25], [31.75, 31.75]], np.float32))
    # Without adjust: the raw integer pixel positions.
    raw, _ = decode(hm, tg, adjust=False, refine=False, backend=backend)
    np.testing.assert_array_equal(raw[0, :, :2], np.array([[0, 0], [10, 12], [31, 31]], np.float32))


def test_two_people_separated_by_tags_in_creation_order(backend):
    hm, tg = _blank(3)
    for j, (xa, xb) in enumerate([(4, 24), (5, 25), (6, 26)]):
        _put(hm, tg, j, xa, 8 + 4 * j, 0.9 - 0.1 * j, 0.0)  # person A: tag 0
        _put(hm, tg, j, xb, 8 + 4 * j, 0.5, 3.0)  # person B: tag 3
    keypoints, scores = decode(hm, tg, backend=backend)
    assert keypoints.shape == (2, 3, 3)
    np.testing.assert_array_equal(keypoints[0, :, 0], [4.25, 5.25, 6.25])  # A came first (larger value)
    np.testing.assert_array_equal(keypoints[1, :, 0], [24.25, 25.25, 26.25])
    assert scores[0] > scores[1]


def test_empty_and_below_threshold_maps(backend):
    hm, tg = _blank(17, 64, 64, 2)
    keypoints, scores = decode(hm, tg, backend=backend)
    assert keypoints.shape == (0, 17, 3) and scores.shape == (0,)
    hm[3, 10, 10] = 0.09
    assert decode(hm, tg, backend=backend)[0].shape == (0, 17, 3)
    # The threshold compares in float64 like the official code: float32(0.1) is just above 0.1.
    hm[3, 10, 10] = np.float32(0.1)
    keypoints, _ = decode(hm, tg, refine=False, backend=backend)
    assert keypoints.shape == (1, 17, 3) and keypoints[0, 3, 2] == np.float32(0.1)


def test_top_k_ties_take_lower_pixel_index_and_max_people_caps_candidates(backend):
    hm, tg = _blank(1, 32, 32)
    _put(hm, tg, 0, 20, 2, 0.5, 0.0)  # flat index 84
    _put(hm, tg, 0, 25, 10, 0.5, 5.0)  # 345
    _put(hm, tg, 0, 5, 10, 0.5, 10.0)  # 325
    keypoints, _ = decode(hm, tg, max_people=2, refine=False, backend=backend)
    np.testing.assert_array_equal(keypoints[:, 0, :2], [[20.25, 2.25], [5.25, 10.25]])
    cand = top_k_candidates(heatmap_nms(hm), tg, k=2)
    np.testing.assert_array_equal(cand.xy[0], [[20, 2], [5, 10]])


def test_max_people_limits_the_groups_offered_to_later_joints(backend):
    hm, tg = _blank(3, 40, 40)
    for n, tag in enumerate([0.0, 3.0, 6.0, 9.0]):
        _put(hm, tg, 0, 4 + 8 * n, 5, 0.9 - 0.1 * n, tag)
    _put(hm, tg, 1, 28, 15, 0.9, 9.0)
    _put(hm, tg, 2, 28, 25, 0.9, 9.1)  # 9.1, not 9.0: an equal first tag value would be the same key
    few, _ = decode(hm, tg, max_people=3, refine=False, backend=backend)
    # Joint 0 keeps 3 candidates; the tag-9 person created at joint 1 is 4th, never offered again.
    assert few.shape[0] == 5
    np.testing.assert_array_equal(few, reference_decode(hm, tg, max_people=3, refine=False)[0])
    enough, _ = decode(hm, tg, max_people=4, refine=False, backend=backend)
    assert enough.shape[0] == 4
    np.testing.assert_array_equal(enough[3, :, 2], np.float32([0.6, 0.9, 0.9]))


def test_nms_plateau_and_official_key_collision(backend):
    hm, tg = _blank(2)
    # Two equal neighbours both survive NMS; their equal tags make the same dict key.
    _put(hm, tg, 0, 10, 10, 0.6, 2.0)
    _put(hm, tg, 0, 11, 10, 0.6, 2.0)
    official, _ = decode(hm, tg, refine=False, adjust=False, backend=backend)
    assert official.shape[0] == 1
    np.testing.assert_array_equal(official[0, 0], np.float32([11, 10, 0.6]))  # the later candidate overwrote
    fixed, _ = decode(hm, tg, refine=False, adjust=False, fix_key_collisions=True, backend=backend)
    assert fixed.shape[0] == 2
    ref, _ = reference_decode(hm, tg, refine=False, adjust=False)
    np.testing.assert_array_equal(ref, official)


@pytest.mark.parametrize(("first_val", "expected_people"), [((0.9, 0.8), 2), ((0.8, 0.9), 3)])
def test_equal_cost_assignment_follows_munkres(first_val, expected_people, backend):
    # A later candidate at tag distance 0.7 from A (joins) and 1.2 from B (does not): both cost
    # round(D)*100 - val = 100 - val. Munkres takes the first group in creation order.
    hm, tg = _blank(2)
    _put(hm, tg, 0, 5, 5, first_val[0], 0.0)  # A
    _put(hm, tg, 0, 20, 5, first_val[1], 1.9)  # B
    _put(hm, tg, 1, 12, 20, 0.7, 0.7)
    keypoints, _ = decode(hm, tg, refine=False, backend=backend)
    assert keypoints.shape[0] == expected_people
    ref, _ = reference_decode(hm, tg, refine=False)
    np.testing.assert_array_equal(ref, keypoints)


def test_refine_fills_missing_joint_after_scoring(backend):
    hm, tg = _blank(3, 48, 48)
    _put(hm, tg, 0, 10, 10, 0.9, 2.0)  # person A, tag 2
    _put(hm, tg, 1, 20, 10, 0.8, 2.0)
    _put(hm, tg, 2, 30, 30, 0.05, 2.0)  # A's weak joint 2: below threshold, but its tag matches
    _put(hm, tg, 2, 5, 40, 0.95, 6.0)  # another person (tag 6) seen only at joint 2
    keypoints, scores = decode(hm, tg, backend=backend)
    assert keypoints.shape == (2, 3, 3)
    np.testing.assert_array_equal(keypoints[0, 2], np.float32([30.25, 30.25, 0.05]))
    # Scores are computed before refine: A's mean counts the missing joint as 0.
    assert scores[0] == np.float32(np.array([0.9, 0.8, 0.0], np.float32).mean())
    # Refine has no threshold: B's missing joints go to the best pixel whatever its tag distance.
    np.testing.assert_array_equal(keypoints[1, 0], np.float32([10.25, 10.25, 0.9]))
    unrefined, _ = decode(hm, tg, refine=False, backend=backend)
    assert unrefined[0, 2, 2] == 0 and unrefined[1, 0, 2] == 0
    single = refine_person(adjust_positions(unrefined_people(hm, tg), hm)[0], hm, tg)
    np.testing.assert_array_equal(single[:, :3], keypoints[0])


def unrefined_people(hm: np.ndarray, tg: np.ndarray) -> np.ndarray:
    cand = top_k_candidates(heatmap_nms(hm), tg, 30)
    return match_by_tag(cand)


def test_joint_order_resolution_and_effect(backend):
    assert resolve_joint_order(None, 17) == COCO.group_order
    assert resolve_joint_order(None, 14) == CROWDPOSE.group_order
    assert resolve_joint_order(None, 10) == tuple(range(10))  # the COCO cut is no permutation there
    assert resolve_joint_order(CROWDPOSE, 14) == CROWDPOSE.group_order
    assert resolve_joint_order(CROWDPOSE.anatomical_order, 14) == CROWDPOSE.anatomical_order
    with pytest.raises(ValueError, match="permutation"):
        resolve_joint_order([0, 1, 1], 3)
    with pytest.raises(ValueError, match="14 keypoints"):
        resolve_joint_order(CROWDPOSE, 17)
    hm, tg = _blank(3)
    _put(hm, tg, 0, 5, 5, 0.9, 0.0)
    _put(hm, tg, 2, 20, 20, 0.9, 5.0)
    forward, _ = decode(hm, tg, refine=False, backend=backend)
    backward, _ = decode(hm, tg, refine=False, joint_order=(2, 1, 0), backend=backend)
    np.testing.assert_array_equal(forward, backward[::-1])


def test_input_validation_and_batch_axis(backend):
    hm, tg = _blank(3)
    _put(hm, tg, 0, 5, 5, 0.9, 0.0)
    with pytest.raises(ValueError, match="heatmaps"):
        decode(hm[0], tg, backend=backend)
    with pytest.raises(ValueError, match="tags"):
        decode(hm, tg[:, :5], backend=backend)
    with pytest.raises(ValueError, match="detection_threshold"):
        decode(hm, tg, detection_threshold=-0.1, backend=backend)
    with pytest.raises(ValueError, match="nms_kernel"):
        decode(hm, tg, nms_kernel=4, backend=backend)
    with pytest.raises(ValueError, match="assignment"):
        decode(hm, tg, assignment="greedy", backend=backend)
    bad = tg.copy()
    bad[1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        decode(hm, bad, backend=backend)
    base = decode(hm, tg, backend=backend)
    batched = decode(hm[None], tg[None], backend=backend)
    squeezed = decode(hm, tg[..., 0], backend=backend)  # [J, H, W] tags mean L = 1
    for other in (batched, squeezed):
        np.testing.assert_array_equal(base[0], other[0])
        np.testing.assert_array_equal(base[1], other[1])


# --------------------------------------------------------------------------------------------
# Parity with the loop reference
# --------------------------------------------------------------------------------------------

PARITY_CASES = [
    # seed, people, height, width, joints, tag dim, tag spacing, extra decode kwargs
    (0, 5, 96, 128, 17, 2, 1.5, {}),
    (1, 12, 128, 96, 17, 1, 1.5, {}),
    (2, 30, 128, 128, 17, 2, 0.6, {}),  # crowded tag space: equal-cost assignments, near-threshold tags
    (3, 30, 112, 136, 14, 2, 1.0, {}),
    (4, 20, 128, 128, 14, 1, 0.5, {"joint_order": CROWDPOSE.anatomical_order}),
    (5, 30, 128, 128, 17, 2, 0.6, {"assignment": "scipy"}),
    (6, 25, 100, 120, 17, 2, 0.8, {"fix_key_collisions": True, "max_people": 12}),
    (7, 15, 128, 128, 17, 2, 1.0, {"adjust": False, "refine": False, "nms_kernel": 3}),
]


@pytest.mark.parametrize(("seed", "people", "height", "width", "joints", "dim", "spacing", "kwargs"),
                         PARITY_CASES)
def test_parity_with_reference_on_crowds(seed, people, height, width, joints, dim, spacing, kwargs, backend):
    hm, tg, _ = synthetic_crowd_maps(people, height, width, num_joints=joints, tag_dim=dim, seed=seed,
                                     tag_spacing=spacing)
    fast_kp, fast_sc = decode(hm, tg, **kwargs, backend=backend)
    ref_kp, ref_sc = reference_decode(hm, tg, **kwargs)
    assert fast_kp.shape[0] >= min(people, 3)
    np.testing.assert_array_equal(fast_kp, ref_kp)
    np.testing.assert_array_equal(fast_sc, ref_sc)


def test_parity_with_quantised_maps_full_of_ties_and_key_collisions(backend):
    # Heatmap values on a 1/32 grid and tags on a 0.5 grid: equal peaks, plateaus, equal neighbours,
    # equal refine maxima, exact half-integer tag distances and many equal dict keys.
    for seed in range(3):
        hm, tg, _ = synthetic_crowd_maps(20, 96, 96, seed=10 + seed, tag_spacing=0.7)
        hm = np.round(hm * 32) / 32
        tg = np.round(tg * 2) / 2
        fast = decode(hm, tg, backend=backend)
        ref = reference_decode(hm, tg)
        np.testing.assert_array_equal(fast[0], ref[0])
        np.testing.assert_array_equal(fast[1], ref[1])


# --------------------------------------------------------------------------------------------
# Exactness of the fast paths
# --------------------------------------------------------------------------------------------

def _naive_nms(det: np.ndarray, kernel: int) -> np.ndarray:
    num_joints, height, width = det.shape
    r = kernel // 2
    out = np.zeros_like(det)
    for j in range(num_joints):
        for y in range(height):
            for x in range(width):
                window = det[j, max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1]
                out[j, y, x] = det[j, y, x] if det[j, y, x] == window.max() else 0.0
    return out


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_sparse_peaks_equal_dense_nms_top_k(kernel):
    rng = np.random.default_rng(kernel)
    det = (np.round(rng.random((3, 23, 31)) * 6) / 6).astype(np.float32)  # plateaus, border peaks
    tag = rng.normal(size=(3, 23, 31, 2)).astype(np.float32)
    np.testing.assert_array_equal(heatmap_nms(det, kernel), _naive_nms(det, kernel))
    for threshold in (0.0, 0.3, 0.7):
        for k in (1, 5, 30):
            dense = top_k_candidates(heatmap_nms(det, kernel), tag, k)
            sparse = peaks.peak_candidates(det, tag, k, threshold, kernel)
            keep = dense.val.astype(np.float64) > threshold
            np.testing.assert_array_equal(np.where(keep, dense.val, -np.inf), sparse.val)
            np.testing.assert_array_equal(dense.xy[keep], sparse.xy[keep])
            np.testing.assert_array_equal(dense.tag[keep], sparse.tag[keep])


@pytest.mark.parametrize(("height", "width", "dim"), [(37, 53, 2), (64, 64, 1), (20, 100, 3), (16, 16, 2)])
def test_branch_and_bound_refine_search_equals_dense_argmax(height, width, dim):
    rng = np.random.default_rng(height * width + dim)
    num_joints = 4
    det = (np.round(rng.random((num_joints, height, width)) * 8) / 8 - 0.1).astype(np.float32)
    det[1] = 0.25  # a flat map: every pixel ties
    tag = (np.round(rng.normal(0, 2, (num_joints, height, width, dim)) * 2) / 2).astype(np.float32)
    tag[2] += rng.normal(0, 0.01, tag[2].shape).astype(np.float32)
    joints = np.repeat(np.arange(num_joints), 12)
    means = np.concatenate([np.zeros((num_joints, dim)), rng.normal(0, 3, (num_joints * 11, dim))])
    means = (np.round(means * 4) / 4).astype(np.float32)[rng.permutation(joints.size)]
    found = refine._BestPixels(det, tag, joints, means).index
    for j, mu, idx in zip(joints, means, found, strict=True):
        diff = tag[j] - mu
        square = diff * diff
        dist2 = square[..., 0]
        for d in range(1, dim):
            dist2 = dist2 + square[..., d]
        goal = det[j] - np.rint(np.sqrt(dist2))
        assert idx == int(np.argmax(goal)), (j, mu)


def test_munkres_assignment_matches_the_munkres_package_on_tie_heavy_matrices():
    rng = np.random.default_rng(0)
    for trial in range(300):
        rows, cols = (int(v) for v in rng.integers(1, 12, 2))
        if trial % 2:
            cost = rng.integers(0, 3, (rows, cols)).astype(np.float64)
        else:
            groups = rng.uniform(-4, 4, (cols, 2))
            cands = groups[rng.integers(0, cols, rows)] + rng.normal(0, 0.6, (rows, 2))
            dist = np.linalg.norm(cands[:, None] - groups[None], axis=2)
            cost = np.round(dist) * 100 - rng.uniform(0.1, 1, (rows, 1))
            if rows > cols:
                cost = np.concatenate([cost, np.zeros((rows, rows - cols)) + 1e10], axis=1)
        assert munkres_assignment(cost) == munkres_pairs(cost)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_group_tag_means_follow_numpy_mean(dim):
    rng = np.random.default_rng(dim)
    groups = matching._Groups(40, 17, dim, fix_key_collisions=True)
    history: dict[int, list[np.ndarray]] = {}
    for p in range(40):
        first = rng.normal(0, 5, dim).astype(np.float32)
        groups.start(0, np.zeros(3 + dim, np.float32), first)
        history[p] = [first]
        for j in range(int(rng.integers(0, 17))):
            t = rng.normal(0, 5, dim).astype(np.float32)
            groups.join(p, j, np.zeros(3 + dim, np.float32), t)
            history[p].append(t)
    means = groups.means(40)
    for p in range(40):
        np.testing.assert_array_equal(means[p], np.mean(history[p], axis=0))


def test_match_by_tag_accepts_official_candidate_layout():
    xy = np.array([[[3, 4], [9, 9]], [[3, 5], [9, 10]]])
    val = np.array([[0.9, 0.8], [0.7, 0.05]], np.float32)
    tag = np.array([[[0.0], [4.0]], [[0.1], [4.0]]], np.float32)
    people = match_by_tag(Candidates(xy, val, tag), joint_order=(0, 1))
    assert people.shape == (2, 2, 4)
    np.testing.assert_array_equal(people[0, 1], np.float32([3, 5, 0.7, 0.1]))
    assert people[1, 1, 2] == 0  # 0.05 is below the detection threshold


# --------------------------------------------------------------------------------------------
# Mapping back, packaging
# --------------------------------------------------------------------------------------------

def test_keypoints_to_image_inverts_the_test_resize():
    meta = resize_meta_for(640, 480, 256)  # short side 480 -> 256; width padded to 384
    assert (meta.resized_w, meta.resized_h) == (384, 256)
    kp = np.array([[[100.0, 50.0, 0.7], [192.0, 128.0, 0.2]]], np.float32)
    out = keypoints_to_image(kp, meta, 384, 256)
    np.testing.assert_allclose(out[0, :, :2], [[320 + (100 - 192) * 1.875, 240 + (50 - 128) * 1.875],
                                               [320.0, 240.0]], atol=1e-6)
    np.testing.assert_array_equal(out[..., 2], kp[..., 2])
    half = keypoints_to_image(kp / np.float32([2, 2, 1]), meta, 192, 128)  # a half-size map
    np.testing.assert_allclose(half[..., :2], out[..., :2], atol=1e-6)


def test_decoder_imports_and_runs_without_torch():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "import litepose\n"
        "import litepose.decoding\n"
        "from litepose.decoding.grouping import decode\n"
        "assert litepose.decode is decode and litepose.decoding.decode is decode\n"
        "hm = np.zeros((17, 32, 32), np.float32); hm[0, 5, 5] = 0.9\n"
        "kp, sc = decode(hm, np.zeros((17, 32, 32, 2), np.float32))\n"
        "assert kp.shape == (1, 17, 3), kp.shape\n"
        "try:\n"
        "    litepose.decoding.outputs_to_maps\n"
        "    raise SystemExit('maps should need torch')\n"
        "except ImportError:\n"
        "    pass\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"

"""The numba backend's kernels, each against the NumPy step it replaces or a dense recomputation: cell
statistics and the finiteness check, NMS + top-k with ties, NumPy's summation order, the Munkres tie
choice, tag matching with key collisions, and the refine search's early stops (ties, plateaus, exact
half-integer distances, split cells, overflowing tags). Decode-level parity on both backends is in
test_grouping.py."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from reference_parser import munkres_pairs, reference_decode, synthetic_crowd_maps

from litepose.decoding import matching, peaks
from litepose.decoding.grouping import BACKENDS, decode, numba_available, resolve_joint_order

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba (the 'fast' extra) is not installed")


@pytest.fixture(scope="module")
def kernels():
    from litepose.decoding import numba_kernels

    return numba_kernels


def _block_stats(det: np.ndarray, tag: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    num_joints, height, width = det.shape
    gh, gw = -(-height // side), -(-width // side)
    dmax = np.empty((num_joints, gh, gw), np.float32)
    lo = np.empty((num_joints, gh, gw, tag.shape[3]), np.float32)
    hi = np.empty_like(lo)
    for cy in range(gh):
        for cx in range(gw):
            block = (slice(None), slice(cy * side, (cy + 1) * side), slice(cx * side, (cx + 1) * side))
            dmax[:, cy, cx] = det[block].max(axis=(1, 2))
            lo[:, cy, cx] = tag[block].min(axis=(1, 2))
            hi[:, cy, cx] = tag[block].max(axis=(1, 2))
    return dmax, lo, hi


@pytest.mark.parametrize(("height", "width", "dim"), [(37, 53, 2), (64, 64, 1), (20, 100, 3), (8, 9, 2)])
def test_cell_stats_equal_block_reductions_and_catch_non_finite_values(kernels, height, width, dim):
    rng = np.random.default_rng(height * width + dim)
    det = rng.normal(size=(3, height, width)).astype(np.float32)
    tag = rng.normal(0, 4, (3, height, width, dim)).astype(np.float32)
    for side in (1, 2, 4, 8, 16):
        dmax, lo, hi, det_ok, tag_ok = kernels.cell_stats(det, tag, side)
        assert det_ok and tag_ok
        for got, want in zip((dmax, lo, hi), _block_stats(det, tag, side), strict=True):
            np.testing.assert_array_equal(got, want)
    for bad in (np.nan, np.inf, -np.inf):
        for y, x in ((0, 0), (height - 1, width - 1), (height // 2, width - 1)):
            broken = det.copy()
            broken[1, y, x] = bad
            assert kernels.cell_stats(broken, tag, 8)[3:] == (False, True)
            broken = tag.copy()
            broken[2, y, x, dim - 1] = bad
            assert kernels.cell_stats(det, broken, 8)[3:] == (True, False)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_peak_candidates_equal_the_numpy_step_on_plateaus(kernels, kernel):
    rng = np.random.default_rng(kernel)
    det = (np.round(rng.random((3, 45, 61)) * 6) / 6).astype(np.float32)  # plateaus, border peaks, equal peaks
    det[2] = 0.5  # one flat map: every pixel is a peak of the same value
    tag = rng.normal(size=(3, 45, 61, 2)).astype(np.float32)
    dmax = kernels.cell_stats(det, tag, kernels.CELL)[0]
    for threshold in (0.0, 0.3, 0.7):
        for k in (1, 5, 30, 5000):
            want = peaks.peak_candidates(det, tag, k, threshold, kernel)
            got = kernels.peak_candidates(det, tag, dmax, kernels.CELL, k, threshold, kernel)
            np.testing.assert_array_equal(got[1], want.val)  # unused slots hold -inf in both
            used = np.isfinite(want.val)
            np.testing.assert_array_equal(got[0][used], want.xy[used])
            np.testing.assert_array_equal(got[2][used], want.tag[used])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_sum_follows_numpy_summation_order(kernels, dtype):
    rng = np.random.default_rng(0)
    for n in range(1, 129):
        for _ in range(5):
            a = (rng.normal(0, 5, n) * rng.choice([1e-4, 1.0, 1e4], n)).astype(dtype)
            assert kernels.pairwise_sum(a) == np.add.reduce(a), n


def test_munkres_kernel_matches_the_munkres_package_on_tie_heavy_matrices(kernels):
    rng = np.random.default_rng(1)
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
        columns = kernels.munkres(cost)
        assert [(r, int(c)) for r, c in enumerate(columns) if c < cost.shape[1]] == munkres_pairs(cost)


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("fix", [False, True])
def test_match_kernel_equals_numpy_matching_with_collisions(kernels, dim, fix):
    for seed in range(3):
        hm, tg, _ = synthetic_crowd_maps(25, 96, 96, tag_dim=dim, seed=20 + seed, tag_spacing=0.6)
        if seed:  # tags on a 0.5 grid: equal dict keys, exact half-integer distances, equal costs
            tg = (np.round(tg * 2) / 2).astype(np.float32)
        cand = peaks.peak_candidates(hm, tg, 30, 0.1, 5)
        for max_people in (30, 7):
            want = matching.match_by_tag(cand, max_people=max_people, fix_key_collisions=fix)
            order = np.asarray(resolve_joint_order(None, 17), np.int64)
            got = kernels.match_by_tag(*cand, order, 0.1, 1.0, max_people, fix)
            np.testing.assert_array_equal(got, want)


def _dense_argmax(det: np.ndarray, tag: np.ndarray, mean: np.ndarray) -> int:
    with np.errstate(over="ignore", invalid="ignore"):
        diff = tag - mean
        square = diff * diff
        dist2 = square[..., 0]
        for d in range(1, square.shape[-1]):
            dist2 = dist2 + square[..., d]
        return int(np.argmax(det - np.rint(np.sqrt(dist2))))


def _search_every(kernels, det: np.ndarray, tag: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``[J, M]`` pixel found by the kernel's search for every joint and mean."""
    dmax, lo, hi, _, _ = kernels.cell_stats(det, tag, kernels.CELL)
    tree = kernels._new_tree(dmax.shape[1] * dmax.shape[2], tag.shape[3])
    room = kernels._search_room(dmax.shape[1] * dmax.shape[2])
    scratch, done, uniform = np.empty((6, room), np.float32), np.empty((2, room), bool), np.empty(room, bool)
    found = np.empty((det.shape[0], means.shape[0]), np.int64)
    for j in range(det.shape[0]):
        size = kernels._build_tree(det[j], tag[j], dmax[j], lo[j], hi[j], kernels.CELL, tree)
        for m, mean in enumerate(means):
            found[j, m] = kernels._search(det[j], tag[j], mean, tree, size, scratch, done, uniform)
    return found


@pytest.mark.parametrize(("height", "width", "dim"), [(150, 170, 2), (64, 64, 1), (37, 53, 3), (200, 120, 2)])
def test_refine_search_equals_dense_argmax_with_ties_and_split_cells(kernels, height, width, dim):
    rng = np.random.default_rng(height + width + dim)
    num_joints = 5
    det = (np.round(rng.random((num_joints, height, width)) * 8) / 8 - 0.1).astype(np.float32)
    det[1] = 0.25  # a flat map: every pixel ties
    det[2, 10:60, 20:90] = 0.875  # a plateau across many cells, equal to other maxima
    # Tags: patches of constant value on a 0.5 grid (exact half-integer distances; patch edges cut cells
    # in two, which the tree splits), plus noise on one joint and overflowing values on another.
    tag = np.zeros((num_joints, height, width, dim), np.float32)
    for j in range(num_joints):
        for _ in range(12):
            y, x = rng.integers(0, height), rng.integers(0, width)
            h, w = rng.integers(3, 40, 2)
            tag[j, y:y + h, x:x + w] = np.round(rng.normal(0, 3, dim) * 2) / 2
    tag[3] += rng.normal(0, 0.3, tag[3].shape).astype(np.float32)
    tag[4, :20] = 3e19  # squares overflow to inf in float32: those pixels are worth -inf
    means = np.concatenate([np.zeros((1, dim)), np.full((1, dim), 3e19), rng.normal(0, 3, (14, dim)),
                            rng.normal(0, 40, (4, dim))])
    means = (np.round(means * 4) / 4).astype(np.float32)
    found = _search_every(kernels, det, tag, means)
    for j in range(num_joints):
        for m, mean in enumerate(means):
            assert found[j, m] == _dense_argmax(det[j], tag[j], mean), (j, mean)


def test_refine_search_ties_resolve_to_the_first_pixel_whatever_the_visiting_order(kernels):
    # Two equal best values: the later one (in pixel order) sits in a leaf the search visits first
    # (its bound is larger), the earlier one in a split cell that only ties with it.
    det = np.zeros((1, 64, 128), np.float32)
    tag = np.zeros((1, 64, 128, 2), np.float32)
    det[0, 40, 100] = 0.5  # tag 0: value 0.5 - 0 = 0.5, alone in a uniform cell whose maximum is 0.9
    det[0, 41, 101] = 0.9
    tag[0, 41, 101] = 3.0  # ... but that pixel is 3 away: 0.9 - 3
    det[0, 2, 3] = 0.5  # earlier pixel, value 0.5, in a cell whose tags are split (0 and 5)
    tag[0, 0:8, 4:8] = 5.0
    found = _search_every(kernels, det, tag, np.zeros((1, 2), np.float32))
    assert found[0, 0] == 2 * 128 + 3 == _dense_argmax(det[0], tag[0], np.zeros(2, np.float32))
    flat = np.full((1, 64, 128), 0.3, np.float32)
    assert _search_every(kernels, flat, tag, np.zeros((1, 2), np.float32))[0, 0] == 0


def test_decode_backends_agree_on_large_crowds_and_with_the_reference():
    # Maps big enough for several top nodes in the refine tree; the NumPy path is the yardstick here,
    # and one crowd also goes through the loop reference.
    for seed, (h, w, dim) in enumerate([(256, 256, 2), (200, 320, 1), (288, 224, 2)]):
        hm, tg, _ = synthetic_crowd_maps(30, h, w, tag_dim=dim, seed=40 + seed, tag_spacing=0.8)
        got = decode(hm, tg, backend="numba")
        want = reference_decode(hm, tg) if seed == 0 else decode(hm, tg, backend="numpy")
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_backend_choice_and_fallback_without_numba():
    assert BACKENDS == ("auto", "numba", "numpy")
    hm = np.zeros((3, 16, 16), np.float32)
    with pytest.raises(ValueError, match="backend must be one of"):
        decode(hm, np.zeros((3, 16, 16, 1), np.float32), backend="cython")
    code = (
        "import sys\n"
        "sys.modules['numba'] = None\n"  # as if the 'fast' extra were not installed
        "import numpy as np\n"
        "from litepose.decoding.grouping import decode, numba_available\n"
        "assert not numba_available()\n"
        "hm = np.zeros((17, 32, 32), np.float32); hm[0, 5, 5] = 0.9; hm[3, 20, 9] = 0.7\n"
        "tg = np.zeros((17, 32, 32, 2), np.float32)\n"
        "auto, numpy_path = decode(hm, tg), decode(hm, tg, backend='numpy')\n"
        "assert all(np.array_equal(a, b) for a, b in zip(auto, numpy_path))\n"
        "assert 'litepose.decoding.numba_kernels' not in sys.modules\n"
        "try:\n"
        "    decode(hm, tg, backend='numba')\n"
        "    raise SystemExit('backend=numba should need numba')\n"
        "except ValueError as exc:\n"
        "    assert 'litepose[fast]' in str(exc), exc\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_threads_decode_in_parallel_with_the_same_results():
    from concurrent.futures import ThreadPoolExecutor

    crowds = [synthetic_crowd_maps(12, 96, 128, seed=60 + s)[:2] for s in range(4)]
    alone = [decode(hm, tg, backend="numba") for hm, tg in crowds]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda maps: decode(*maps, backend="numba"), crowds * 2))
    for got, want in zip(together, alone * 2, strict=True):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])

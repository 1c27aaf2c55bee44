from __future__ import annotations

import numpy as np
import pytest

from litepose.data.targets import gaussian_kernel, pack_joints, render_heatmaps


def _joints(*people: list[tuple[float, float, float]]) -> np.ndarray:
    return np.array(people, dtype=np.float32)


def test_gaussian_kernel_is_the_official_15x15() -> None:
    g = gaussian_kernel(2.0)
    assert g.shape == (15, 15)
    assert g[7, 7] == 1.0 and g.max() == 1.0
    np.testing.assert_allclose(g, g.T)
    np.testing.assert_allclose(g[7, 9], np.exp(-4 / 8), rtol=1e-6)
    with pytest.raises(ValueError):
        gaussian_kernel(0.0)


def test_render_heatmaps_peak_at_truncated_joint_and_exact_values() -> None:
    res = 32
    joints = _joints([(10.7, 20.3, 2), (0, 0, 0)])
    hm = render_heatmaps(joints, res, sigma=2.0)
    assert hm.shape == (2, res, res) and hm.dtype == np.float32
    assert np.unravel_index(hm[0].argmax(), hm[0].shape) == (20, 10)
    assert hm[0, 20, 10] == 1.0
    assert not hm[1].any()  # v = 0 is skipped
    yy, xx = np.mgrid[0:res, 0:res]
    expected = np.exp(-((xx - 10) ** 2 + (yy - 20) ** 2) / 8.0)
    window = (abs(xx - 10) <= 7) & (abs(yy - 20) <= 7)  # the 15x15 box only
    np.testing.assert_allclose(hm[0], np.where(window, expected, 0.0), atol=1e-6)


def test_render_heatmaps_merges_people_by_max_and_clips_at_borders() -> None:
    res = 16
    joints = _joints([(3, 3, 2)], [(5, 3, 1)], [(0.2, 15.9, 2)])
    hm = render_heatmaps(joints, res)
    assert hm[0, 3, 3] == 1.0 and hm[0, 3, 5] == 1.0
    assert hm[0, 3, 4] == pytest.approx(np.exp(-1 / 8), rel=1e-6)  # max of the two, not the sum
    assert hm[0, 15, 0] == 1.0  # corner joint: the kernel is clipped, not shifted


def test_render_heatmaps_skips_out_of_bounds_with_official_truncation() -> None:
    res = 8
    hm = render_heatmaps(_joints([(8.0, 2, 2)], [(3, -1.2, 2)], [(np.nan, 1, 2)]), res)
    assert not hm.any()
    # int(-0.5) == 0 in the official code: the joint is kept, on column 0
    hm = render_heatmaps(_joints([(-0.5, 2.9, 2)]), res)
    assert hm[0, 2, 0] == 1.0


def test_render_heatmaps_empty() -> None:
    assert render_heatmaps(np.zeros((0, 5, 3)), 8).shape == (5, 8, 8)
    with pytest.raises(ValueError):
        render_heatmaps(np.zeros((2, 5)), 8)


def test_pack_joints_layout_uses_slot_tot() -> None:
    res = 10
    joints = _joints(
        [(1.5, 2.5, 2), (0, 0, 0), (9.9, 9.9, 1), (12, 1, 2)],  # joint 1 unlabelled, joint 3 outside
        [(0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)],
        [(4, 5, 2), (6, 7, 2), (0, 0, 0), (3, 3, 2)],
    )
    out = pack_joints(joints, res, max_people=5)
    assert out.shape == (5, 4, 2) and out.dtype == np.int64
    np.testing.assert_array_equal(out[0], [[0 * 100 + 2 * 10 + 1, 1], [2 * 100 + 9 * 10 + 9, 1], [0, 0], [0, 0]])
    assert not out[1].any()
    np.testing.assert_array_equal(out[2], [[5 * 10 + 4, 1], [100 + 7 * 10 + 6, 1], [300 + 33, 1], [0, 0]])
    assert not out[3:].any()


def test_pack_joints_index_addresses_the_flat_tag_map() -> None:
    rng = np.random.default_rng(0)
    res, num_j = 16, 6
    joints = np.concatenate([rng.uniform(0, res, (3, num_j, 2)), rng.integers(0, 3, (3, num_j, 1))], axis=2)
    out = pack_joints(joints, res, max_people=3)
    tag = np.arange(num_j * res * res).reshape(num_j, res, res)
    for n in range(3):
        used = [k for k in range(num_j) if joints[n, k, 2] > 0]
        got = tag.reshape(-1)[out[n, : len(used), 0]]
        want = [tag[k, int(joints[n, k, 1]), int(joints[n, k, 0])] for k in used]
        np.testing.assert_array_equal(got, want)
        assert out[n, : len(used), 1].all() and not out[n, len(used):].any()


def test_pack_joints_rejects_too_many_people() -> None:
    with pytest.raises(ValueError, match="max_people"):
        pack_joints(np.ones((4, 2, 3)), 8, max_people=3)
    assert pack_joints(np.zeros((0, 2, 3)), 8, max_people=3).shape == (3, 2, 2)


def _official_heatmaps(joints: np.ndarray, res: int, sigma: float) -> np.ndarray:
    """A plain re-statement of the official ``HeatmapGenerator`` (kernel once, per-joint rounded box)."""
    size = 6 * sigma + 3
    xs = np.arange(0, size, 1, float)
    ys = xs[:, None]
    x0 = y0 = 3 * sigma + 1
    g = np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * sigma**2))
    hms = np.zeros((joints.shape[1], res, res), dtype=np.float32)
    for person in joints:
        for idx, pt in enumerate(person):
            if pt[2] <= 0:
                continue
            x, y = int(pt[0]), int(pt[1])
            if x < 0 or y < 0 or x >= res or y >= res:
                continue
            ul = int(np.round(x - 3 * sigma - 1)), int(np.round(y - 3 * sigma - 1))
            br = int(np.round(x + 3 * sigma + 2)), int(np.round(y + 3 * sigma + 2))
            c, d = max(0, -ul[0]), min(br[0], res) - ul[0]
            a, b = max(0, -ul[1]), min(br[1], res) - ul[1]
            cc, dd = max(0, ul[0]), min(br[0], res)
            aa, bb = max(0, ul[1]), min(br[1], res)
            hms[idx, aa:bb, cc:dd] = np.maximum(hms[idx, aa:bb, cc:dd], g[a:b, c:d])
    return hms


@pytest.mark.parametrize("sigma", [1.5, 2.0, 2.5])
def test_render_heatmaps_matches_the_official_box_for_any_sigma(sigma: float) -> None:
    rng = np.random.default_rng(7)
    res = 24
    # Even and odd pixels (a non-integer sigma's round-half-even box depends on the parity), borders included.
    xy = rng.uniform(-2, res + 2, (6, 5, 2))
    xy[0, :, 0] = [0.3, 1.7, 2.2, res - 1.5, res - 0.2]
    xy[1, :, 1] = [0.1, 1.9, 11.5, 12.5, res - 1.1]
    v = rng.integers(0, 3, (6, 5, 1)).astype(np.float64)
    v[:2] = 2
    joints = np.concatenate([xy, v], axis=2)
    got = render_heatmaps(joints, res, sigma)
    want = _official_heatmaps(joints, res, sigma)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    # an odd pixel p with sigma 1.5: round(p - 5.5) rounds up to even, so the box is [p-5, p+7), not [p-6, p+6)
    if sigma == 1.5:
        hm = render_heatmaps(np.array([[[11.0, 11.0, 2.0]]]), res, sigma)
        assert hm[0, 11, 6:18].all() and not hm[0, 11, :6].any() and not hm[0, 11, 18:].any()


def test_joints_are_truncated_in_float64() -> None:
    # float32(63.9999999) == 64.0, which would leave the 64-pixel map; the official int() gives 63.
    joints = np.array([[[63.9999999, 10.0, 2.0], [5.0, 63.9999999, 2.0]]], dtype=np.float64)
    hm = render_heatmaps(joints, 64)
    assert hm[0, 10, 63] == 1.0 and hm[1, 63, 5] == 1.0
    packed = pack_joints(joints, 64, max_people=2)
    np.testing.assert_array_equal(packed[0], [[10 * 64 + 63, 1], [64 * 64 + 63 * 64 + 5, 1]])


def test_subpixel_heatmaps_centre_the_gaussian_half_a_pixel_before_the_joint() -> None:
    res = 32
    joints = _joints([(10.7, 20.3, 2), (3, 3, 0)], [(12.0, 21.0, 1), (31.9, -0.4, 2)])
    hm = render_heatmaps(joints, res, sigma=2.0, center="subpixel")
    yy, xx = np.mgrid[0:res, 0:res]

    def blob(cx: float, cy: float) -> np.ndarray:
        g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0)
        return np.where((xx - cx) ** 2 <= 49 + 1e-9, 1.0, 0.0) * np.where((yy - cy) ** 2 <= 49 + 1e-9, g, 0.0)

    np.testing.assert_allclose(hm[0], np.maximum(blob(10.2, 19.8), blob(11.5, 20.5)), atol=1e-6)
    # The same joints are used as with truncation: (31.9, -0.4) truncates to row 0, v = 0 is skipped.
    np.testing.assert_allclose(hm[1], blob(31.4, -0.9), atol=1e-6)
    truncated = render_heatmaps(joints, res, sigma=2.0)
    assert np.array_equal(hm.reshape(2, -1).any(1), truncated.reshape(2, -1).any(1))
    # The Gaussian's centre of mass sits at the joint minus half a pixel, with no quantisation.
    one = render_heatmaps(_joints([(15.3, 16.8, 2)]), res, sigma=2.0, center="subpixel")[0]
    centre = np.array([(one * xx).sum(), (one * yy).sum()]) / one.sum()
    np.testing.assert_allclose(centre, [14.8, 16.3], atol=5e-3)  # the box clips the far tail
    with pytest.raises(ValueError, match="center"):
        render_heatmaps(joints, res, center="rounded")

from __future__ import annotations

import numpy as np
import pytest

from litepose.data.augment import AugmentConfig, random_affine_params, warp_sample
from litepose.geometry import apply_affine, training_affine

# Four joints: 0/1 and 2/3 are left/right pairs.
FLIP_INDEX = (1, 0, 3, 2)
COLORS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], dtype=np.uint8)


def _dotted_image(width: int, height: int, points: np.ndarray) -> np.ndarray:
    """Black image with a 5x5 square of a distinct colour centred on each (integer) point."""
    img = np.zeros((height, width, 3), dtype=np.uint8)
    for (x, y), color in zip(points.astype(int), COLORS, strict=True):
        img[y - 2:y + 3, x - 2:x + 3] = color
    return img


def _centroid(img: np.ndarray, color: np.ndarray) -> np.ndarray:
    """Weighted centroid (x, y) of pixels close to ``color`` (bilinear blur makes edges darker)."""
    c = color.astype(np.float64) / 255.0
    pix = img.astype(np.float64) / 255.0
    # weight = the weakest of the colour's channels, where every other channel is near zero
    w = np.where(c > 0, pix, np.inf).min(axis=2) * ((pix * (1 - c)).max(axis=2) < 0.05)
    w = np.where(w > 0.3, w, 0.0)
    assert w.sum() > 0, "dot not found"
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def test_config_defaults_are_official_and_validated() -> None:
    cfg = AugmentConfig()
    assert (cfg.max_rotation, cfg.min_scale, cfg.max_scale, cfg.max_translate, cfg.flip_prob, cfg.scale_type) == (
        30.0, 0.75, 1.5, 40.0, 0.5, "short")
    assert cfg.joint_flip == "exact"  # the one deliberate fix of the official augmentation
    for bad in ({"min_scale": 2.0}, {"flip_prob": 1.5}, {"scale_type": "diag"}, {"max_rotation": -1},
                {"joint_flip": "mirror"}):
        with pytest.raises(ValueError):
            AugmentConfig(**bad)


def test_random_affine_params_ranges_and_determinism() -> None:
    cfg = AugmentConfig()
    w, h = 640, 400
    draws = [random_affine_params(np.random.default_rng(i), w, h, cfg) for i in range(400)]
    assert draws[:5] == [random_affine_params(np.random.default_rng(i), w, h, cfg) for i in range(5)]
    base = min(w, h) / 200
    for (cx, cy), scale, rot, _ in draws:
        assert 0.75 * base <= scale < 1.5 * base
        assert -30 <= rot < 30
        lim = int(40 * scale)
        assert float(cx - w / 2).is_integer() and -lim <= cx - w / 2 < lim
        assert -lim <= cy - h / 2 < lim
    flips = np.mean([d[3] for d in draws])
    assert 0.4 < flips < 0.6
    none = AugmentConfig(max_rotation=0, min_scale=1, max_scale=1, max_translate=0, flip_prob=0)
    assert random_affine_params(np.random.default_rng(0), w, h, none) == ((320.0, 200.0), 2.0, 0.0, False)
    long = AugmentConfig(min_scale=1, max_scale=1, scale_type="long")
    assert random_affine_params(np.random.default_rng(0), w, h, long)[1] == pytest.approx(3.2)


@pytest.mark.parametrize("joint_flip", ["exact", "official"])
@pytest.mark.parametrize(("rot", "scale", "flip"), [(0.0, 0.9, False), (25.0, 1.1, False), (-17.0, 0.8, True),
                                                    (30.0, 1.4, True)])
def test_warp_keeps_keypoints_on_the_warped_image(rot: float, scale: float, flip: bool, joint_flip: str) -> None:
    w, h, size = 220, 170, 128
    points = np.array([[80.0, 60.0], [130.0, 70.0], [100.0, 110.0], [150.0, 120.0]])
    image = _dotted_image(w, h, points)
    joints = np.concatenate([points, np.full((4, 1), 2.0)], axis=1)[None]
    center, s = (w / 2 + 7, h / 2 - 5), scale * min(w, h) / 200
    img, masks, out = warp_sample(image, np.ones((h, w), np.uint8), joints, center, s, rot, flip, size,
                                  (size // 4, size // 2), FLIP_INDEX, joint_flip=joint_flip)
    assert img.shape == (size, size, 3) and img.dtype == np.uint8
    assert [m.shape for m in masks] == [(32, 32), (64, 64)] and [j.shape for j in out] == [(1, 4, 3), (1, 4, 3)]
    for res, jr in zip((size // 4, size // 2), out, strict=True):
        factor = size / res
        for slot in range(4):
            source = FLIP_INDEX[slot] if flip else slot  # the flip re-indexes joints left <-> right
            found = _centroid(img, COLORS[source]) / factor  # dot position, in output-map pixels
            # Without flip the maps are exactly M(in)/factor; so are they with the exact flip. The official
            # flip uses x <- res-1-x on the maps while the image flips pixel for pixel: a (1 - 1/factor) px
            # shift on the maps, which is what joint_flip="exact" fixes.
            shift = np.array([-(1 - 1 / factor) if flip and joint_flip == "official" else 0.0, 0.0])
            np.testing.assert_allclose(jr[0, slot, :2] - found, shift, atol=0.15)
            assert jr[0, slot, 2] == 2.0


def test_warp_joints_follow_the_official_affine() -> None:
    joints = np.array([[[10.0, 20.0, 2.0], [30.0, 5.0, 0.0]]])
    c, s, r = (50.0, 40.0), 0.6, 12.0
    _, _, out = warp_sample(np.zeros((80, 100, 3), np.uint8), np.ones((80, 100)), joints, c, s, r, False, 64,
                            (16, 32), (0, 1))
    for res, jr in zip((16, 32), out, strict=True):
        np.testing.assert_allclose(jr[0, :, :2], apply_affine(joints[0, :, :2], training_affine(c, s, r, res)),
                                   atol=1e-4)
        np.testing.assert_array_equal(jr[0, :, 2], [2.0, 0.0])
    _, _, official = warp_sample(np.zeros((80, 100, 3), np.uint8), np.ones((80, 100)), joints, c, s, r, True, 64,
                                 (16, 32), (1, 0), joint_flip="official")
    _, _, exact = warp_sample(np.zeros((80, 100, 3), np.uint8), np.ones((80, 100)), joints, c, s, r, True, 64,
                              (16, 32), (1, 0))
    for res, jr, fo, fe in zip((16, 32), out, official, exact, strict=True):
        np.testing.assert_array_equal(fo[0, :, 0], res - jr[0, ::-1, 0] - 1)  # bit for bit, official order
        np.testing.assert_allclose(fe[0, :, 0], 63 * res / 64 - jr[0, ::-1, 0], atol=1e-12)
        for fr in (fo, fe):
            np.testing.assert_array_equal(fr[0, :, 1:], jr[0, ::-1, 1:])
    with pytest.raises(ValueError, match="joint_flip"):
        warp_sample(np.zeros((80, 100, 3), np.uint8), np.ones((80, 100)), joints, c, s, r, True, 64, (16, 32),
                    (1, 0), joint_flip="mirror")


def test_warp_masks_move_with_the_image_and_outside_is_ignored() -> None:
    h, w = 100, 200
    mask = np.ones((h, w), np.uint8)
    mask[20:60, 120:180] = 0  # an ignored region on the right
    # Zoom out (scale 1.5) so the crop extends beyond the image top and bottom.
    c, s = (100.0, 50.0), 1.5 * min(h, w) / 200
    for flip in (False, True):
        _, masks, _ = warp_sample(np.zeros((h, w, 3), np.uint8), mask, np.zeros((0, 1, 3)), c, s, 0.0, flip, 64,
                                  (32,), (0,))
        m = masks[0]
        assert m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
        centre = apply_affine(np.array([150.0, 40.0]), training_affine(c, s, 0.0, 32))
        x, y = int(centre[0]), int(centre[1])
        if flip:
            x = 31 - x
        assert m[y, x] == 0.0  # the ignored region, at its warped place
        inside = apply_affine(np.array([40.0, 50.0]), training_affine(c, s, 0.0, 32)).astype(int)
        assert m[inside[1], 31 - inside[0] if flip else inside[0]] == 1.0
        assert not m[0].any() and not m[-1].any()  # beyond the image edges: ignored (official §8.12)


def test_warp_accepts_one_mask_per_output_and_checks_counts() -> None:
    img = np.zeros((40, 40, 3), np.uint8)
    m1, m2 = np.ones((40, 40), bool), np.zeros((40, 40), np.float32)
    _, masks, _ = warp_sample(img, [m1, m2], np.zeros((0, 2, 3)), (20, 20), 0.2, 0, False, 32, (8, 16), (0, 1))
    assert masks[0].all() and not masks[1].any()
    with pytest.raises(ValueError, match="masks"):
        warp_sample(img, [m1], np.zeros((0, 2, 3)), (20, 20), 0.2, 0, False, 32, (8, 16), (0, 1))
    with pytest.raises(ValueError, match="flip_index"):
        warp_sample(img, m1, np.zeros((1, 2, 3)), (20, 20), 0.2, 0, True, 32, (8, 16), (0,))


def test_warp_keeps_joints_in_float64() -> None:
    # centre (32, 32), scale 0.32 and a 64-pixel output make the exact identity affine
    joints = np.array([[[63.9999999, 10.0, 2.0], [20.25, 63.9999999, 1.0]]], dtype=np.float64)
    _, _, out = warp_sample(np.zeros((64, 64, 3), np.uint8), np.ones((64, 64)), joints, (32.0, 32.0), 0.32, 0.0,
                            False, 64, (64,), (0, 1))
    assert out[0].dtype == np.float64
    np.testing.assert_array_equal(out[0], joints)
    assert int(out[0][0, 0, 0]) == 63 and int(out[0][0, 1, 1]) == 63  # float32 would give 64 (off the map)

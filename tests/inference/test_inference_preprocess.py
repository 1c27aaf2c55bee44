"""Image loading and the official test-time resize (reference §5.1)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from litepose.geometry import apply_affine
from litepose.inference.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_image,
    preprocess,
    preprocess_numpy,
    to_rgb_uint8,
    warp_to_input,
)


def _write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def test_load_image_colour_is_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((8, 10, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV order
    img = load_image(_write(tmp_path / "b.png", bgr))
    assert img.shape == (8, 10, 3) and img.dtype == np.uint8
    assert (img[..., 2] == 200).all() and (img[..., 0] == 0).all()


def test_load_image_gray_rgba_16bit(tmp_path: Path) -> None:
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    img = load_image(_write(tmp_path / "g.png", gray))
    assert img.shape == (6, 8, 3) and (img[..., 0] == gray).all() and (img[..., 2] == gray).all()

    bgra = np.zeros((5, 7, 4), np.uint8)
    bgra[..., 1] = 90
    bgra[..., 3] = 0  # fully transparent: alpha is dropped like IMREAD_COLOR does
    img = load_image(_write(tmp_path / "a.png", bgra))
    assert img.shape == (5, 7, 3) and (img[..., 1] == 90).all()

    deep = np.full((4, 4, 3), 65535, np.uint16)
    deep[0, 0] = 0
    deep[1, 1] = 257 * 100
    img = load_image(_write(tmp_path / "d.png", deep))
    assert img.dtype == np.uint8 and img[0, 0, 0] == 0 and img[1, 1, 0] == 100 and img[3, 3, 0] == 255


def test_load_image_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg"):
        load_image(tmp_path / "missing.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ValueError, match=r"corrupt\.jpg: cannot decode"):
        load_image(corrupt)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty file"):
        load_image(empty)
    with pytest.raises(ValueError, match="not a file"):
        load_image(tmp_path)


def test_to_rgb_uint8_variants() -> None:
    assert to_rgb_uint8(np.zeros((3, 4), np.float32) + 0.5)[0, 0, 0] == 128
    assert to_rgb_uint8(np.ones((3, 4, 2), np.uint8))[..., 2].all()
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 1
    assert to_rgb_uint8(bgr, bgr=True)[0, 0].tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="shape"):
        to_rgb_uint8(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        to_rgb_uint8(np.zeros((0, 2, 3), np.uint8))


@pytest.mark.parametrize(("w", "h", "expect"), [(640, 425, (512, 832)), (425, 640, (832, 512)),
                                                (1, 1, (512, 512)), (1, 300, (153600, 512))])
def test_resize_sizes_follow_reference(w: int, h: int, expect: tuple[int, int]) -> None:
    if w * h == 300:  # a 1 x 300 image would be 153600 px tall: only check the meta, not the warp
        from litepose.geometry import test_resize_meta

        meta = test_resize_meta(w, h, 512)
        assert (meta.resized_h, meta.resized_w) == expect
        return
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    warped, meta = warp_to_input(img, 512)
    assert warped.shape[:2] == expect == (meta.resized_h, meta.resized_w)
    assert meta.resized_h % 64 == 0 and meta.resized_w % 64 == 0


def test_warp_is_the_recorded_affine_and_pads_black() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 90:110] = 255  # a white square centred at (99.5, 49.5)
    warped, meta = warp_to_input(img, 128)
    assert warped.shape == (128, 256, 3)  # short side 100 -> 128, long 256 (= ceil64(256))
    ys, xs = np.nonzero(warped[..., 0] > 127)
    centre = np.array([xs.mean(), ys.mean()])
    assert np.allclose(centre, apply_affine(np.array([99.5, 49.5]), meta.matrix), atol=0.6)
    assert np.allclose(meta.to_original(apply_affine(np.array([[3.0, 7.0]]), meta.matrix)), [[3.0, 7.0]])
    # the long side is padded only when it is not already a multiple of 64
    tall, meta2 = warp_to_input(np.full((100, 150, 3), 255, np.uint8), 128)
    assert tall.shape == (128, 192, 3) and meta2.resized_w == 192
    assert tall[1:-1, 1:-1].min() > 100  # 150*1.28 = 192: no padding (edges blend with the border)
    padded, _ = warp_to_input(np.full((100, 130, 3), 255, np.uint8), 128)
    assert padded.shape == (128, 192, 3)
    assert padded[:, :5].max() == 0 and padded[:, -5:].max() == 0  # black border on both sides


def test_preprocess_normalisation_and_tensor() -> None:
    img = np.full((64, 64, 3), 255, np.uint8)
    batch, meta = preprocess_numpy(img, 64)
    assert batch.shape == (1, 3, 64, 64) and batch.dtype == np.float32
    assert np.allclose(batch[0, :, 32, 32], (1.0 - IMAGENET_MEAN) / IMAGENET_STD, atol=1e-5)
    tensor, meta_t = preprocess(img, 64)
    assert tuple(tensor.shape) == (1, 3, 64, 64)
    assert np.allclose(tensor.numpy(), batch) and meta_t.resized_w == meta.resized_w


def test_large_image_preprocess() -> None:
    img = np.zeros((3000, 4000, 3), np.uint8)
    batch, meta = preprocess_numpy(img, 128)
    assert batch.shape == (1, 3, 128, 192) and meta.orig_w == 4000


def _official_resize_matrix(center: tuple[float, float], scale_w: float, size: tuple[int, int],
                            inv: bool = False) -> np.ndarray:
    """The reference's recipe (§5.1): three point pairs in float32 — the centre onto the output centre,
    the centre moved up by half the box width (scale·200) onto the output centre moved up by half the
    output width, and each set's third point (the first turned 90° about the second) — solved by
    ``cv2.getAffineTransform``."""
    w, h = size
    src = np.float32([center, (center[0], center[1] - scale_w * 200.0 / 2), (0, 0)])
    dst = np.float32([(w / 2, h / 2), (w / 2, h / 2 - w / 2), (0, 0)])
    for p in (src, dst):
        p[2] = p[1] + np.float32([-(p[0] - p[1])[1], (p[0] - p[1])[0]])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def test_resize_affine_is_the_official_float32_one() -> None:
    from litepose.geometry import get_affine_transform

    # 48 x 26 at scale 1.0 of (0.75, 1.0): the float64 solve differs from the official float32 matrix by
    # ~7e-6, enough to move OpenCV's 1/32-px interpolation grid and change warped pixels.
    img = np.random.default_rng(3).integers(0, 255, (26, 48, 3), dtype=np.uint8)
    warped, meta = warp_to_input(img, 128, 1.0, 0.75)
    official = _official_resize_matrix(meta.center, meta.scale[0], (meta.resized_w, meta.resized_h))
    np.testing.assert_array_equal(meta.matrix, official)
    np.testing.assert_array_equal(warped, cv2.warpAffine(img, official, (meta.resized_w, meta.resized_h)))
    float64 = get_affine_transform(meta.center, meta.scale, 0, (meta.resized_w, meta.resized_h))
    assert not np.array_equal(cv2.warpAffine(img, float64, (meta.resized_w, meta.resized_h)), warped)
    # the inverse (get_final_preds) too, for the map size passed in
    pts = np.array([[10.25, 3.75], [100.5, 60.25]])
    inv = _official_resize_matrix(meta.center, meta.scale[0], (96, 64), inv=True)
    np.testing.assert_array_equal(meta.to_original(pts, 96, 64), pts @ inv[:, :2].T + inv[:, 2])


def test_load_image_reads_like_the_official_imread(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ramp16 = np.arange(0, 65536, 16, dtype=np.uint16).reshape(64, 64)
    files = {
        "c.jpg": rng.integers(0, 255, (20, 30, 3), dtype=np.uint8),
        "g.jpg": rng.integers(0, 255, (20, 30), dtype=np.uint8),
        "a.png": rng.integers(0, 255, (20, 30, 4), dtype=np.uint8),
        "d.png": np.stack([ramp16, ramp16[::-1], ramp16.T], axis=-1),  # 16-bit: PNG keeps the high byte
        "d.tiff": np.stack([ramp16, ramp16.T, ramp16[::-1]], axis=-1),
    }
    for name, pixels in files.items():
        path = _write(tmp_path / name, pixels)
        official = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION),
                                cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(load_image(path), official, err_msg=name)

"""load_image, the one image reader: truncated files are errors whatever the OpenCV build does with them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from litepose.inference.preprocess import load_image


def _jpeg(h: int, w: int, seed: int = 0) -> bytes:
    ok, data = cv2.imencode(".jpg", np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def _with_exif_thumbnail(main: bytes, thumbnail: bytes) -> bytes:
    """``main`` with an APP1 (EXIF) segment that holds a whole JPEG, end marker included, as cameras write."""
    payload = b"Exif\x00\x00" + thumbnail
    return main[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + main[2:]


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_jpeg_is_an_error_even_where_opencv_decodes_it(tmp_path: Path, keep: float) -> None:
    data = _jpeg(120, 160)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"cut\.jpg: cannot decode image \(truncated: a JPEG without its end"):
        load_image(path)


def test_thumbnail_end_marker_does_not_hide_a_truncated_image(tmp_path: Path) -> None:
    data = _with_exif_thumbnail(_jpeg(120, 160), _jpeg(8, 8, seed=1))
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(data)
    assert load_image(whole).shape == (120, 160, 3)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:-200])
    with pytest.raises(ValueError, match="truncated"):
        load_image(cut)


def test_bytes_after_the_end_marker_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "trailer.jpg"
    path.write_bytes(_jpeg(40, 30) + b"\x00" * 64 + b"camera trailer")
    assert load_image(path).shape == (40, 30, 3)


def test_png_without_iend_is_an_error(tmp_path: Path) -> None:
    ok, data = cv2.imencode(".png", np.zeros((20, 30, 3), np.uint8))
    assert ok
    path = tmp_path / "cut.png"
    path.write_bytes(data.tobytes()[:-12])  # the IEND chunk is the last 12 bytes
    with pytest.raises(ValueError, match=r"cut\.png: cannot decode image \(truncated: a PNG without its IEND"):
        load_image(path)


def test_real_samples_read(shared_data: Path) -> None:
    for path in sorted((shared_data / "coco-sample" / "images").iterdir())[:5]:
        assert load_image(path).ndim == 3

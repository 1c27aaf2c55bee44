"""Pure geometry: 2x3 affine matrices for training crops and test-time resizing.

Conventions: points are ``(..., 2)`` arrays of ``(x, y)`` pixels; an affine ``M`` is a ``(2, 3)``
float array mapping source pixels to destination pixels, ``dst = M @ [x, y, 1]``. "scale" follows
the official code: a box side in source pixels divided by 200.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ResizeMeta",
    "apply_affine",
    "ceil_to_multiple",
    "compose_affine",
    "get_affine_transform",
    "test_resize_meta",
    "training_affine",
]


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` points through a ``(2, 3)`` affine."""
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner``: first ``inner``, then ``outer``."""
    o = np.vstack([np.asarray(outer, np.float64), [0.0, 0.0, 1.0]])
    i = np.vstack([np.asarray(inner, np.float64), [0.0, 0.0, 1.0]])
    return (o @ i)[:2]


def ceil_to_multiple(value: float, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= value (the official ``ceil64`` for 64)."""
    return int((value + multiple - 1) // multiple * multiple)


def _rotate_point(point: np.ndarray, angle_rad: float) -> np.ndarray:
    sn, cs = math.sin(angle_rad), math.cos(angle_rad)
    return np.array([point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs], dtype=np.float64)


def get_affine_transform(center: tuple[float, float], scale: tuple[float, float], rot: float,
                         output_size: tuple[int, int], *, inv: bool = False) -> np.ndarray:
    """The official three-point similarity from a box ``(center, scale·200)`` to ``output_size=(w, h)``.

    The box width ``scale[0]·200`` maps onto the output width; ``rot`` is in degrees. Solved in
    float64; the official code goes through float32 points and ``cv2.getAffineTransform``, which
    differs by up to ~1e-3 px. The test-time resize, where bit parity matters, uses the official
    float32 construction (:func:`test_resize_meta`).
    """
    src_w = scale[0] * 200.0
    dst_w, dst_h = output_size
    rot_rad = math.pi * rot / 180.0
    src_dir = _rotate_point(np.array([0.0, src_w * -0.5]), rot_rad)
    dst_dir = np.array([0.0, dst_w * -0.5])
    c = np.asarray(center, dtype=np.float64)
    src = np.stack([c, c + src_dir, np.zeros(2)])
    dst = np.stack([np.array([dst_w * 0.5, dst_h * 0.5]), np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir,
                    np.zeros(2)])
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    if inv:
        src, dst = dst, src
    return _affine_from_3_points(src, dst)


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return b + np.array([-d[1], d[0]])


def _affine_from_3_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    a = np.concatenate([src, np.ones((3, 1))], axis=1)  # (3, 3)
    return np.linalg.solve(a, dst).T  # (2, 3)


def training_affine(center: tuple[float, float], scale: float, rot: float, res: int) -> np.ndarray:
    """Training crop affine (reference §4.2): a square box of side ``200·scale`` around ``center``
    onto a ``res × res`` map, rotated by ``rot`` degrees about the output centre."""
    h = 200.0 * scale
    a = res / h
    m = np.array([[a, 0.0, res * (0.5 - center[0] / h)], [0.0, a, res * (0.5 - center[1] / h)]])
    if rot != 0:
        t = math.radians(-rot)
        cs, sn = math.cos(t), math.sin(t)
        rotation = np.array([[cs, -sn, 0.0], [sn, cs, 0.0]])
        half = res / 2.0
        to_origin = np.array([[1.0, 0.0, -half], [0.0, 1.0, -half]])
        back = np.array([[1.0, 0.0, half], [0.0, 1.0, half]])
        m = compose_affine(back, compose_affine(rotation, compose_affine(to_origin, m)))
    return m


def _test_resize_affine(center: tuple[float, float], scale: tuple[float, float], output_size: tuple[int, int],
                        *, inv: bool = False) -> np.ndarray:
    """The test-time resize affine exactly as the official code computes it (reference §5.1).

    Same three point pairs as :func:`get_affine_transform` with ``rot = 0``, but built in float32 and
    solved by ``cv2.getAffineTransform``, as the official ``get_affine_transform`` does. The float64
    construction differs by up to ~1e-3 output px on extreme aspect ratios, which is enough to flip
    OpenCV's 1/32-px interpolation grid and change some warped pixels by one grey level; this
    version gives the official matrix bit for bit (on the same OpenCV build).
    """
    import cv2  # a hard dependency; imported here so that importing geometry stays light

    half_src = np.float64(scale[0]) * 200.0 * -0.5  # the box width (scale·200) is what maps onto W
    dst_w, dst_h = output_size
    c = np.asarray(center, dtype=np.float64)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = c
    src[1] = c + np.array([0.0, half_src])
    dst[0] = (dst_w * 0.5, dst_h * 0.5)
    dst[1] = (dst_w * 0.5, dst_h * 0.5 + dst_w * -0.5)
    for pts in (src, dst):  # third point: the first rotated by 90° about the second, in float32
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]], dtype=np.float32)
    if inv:
        src, dst = dst, src
    return np.asarray(cv2.getAffineTransform(src, dst), dtype=np.float64)


@dataclass(frozen=True)
class ResizeMeta:
    """How an original image was resized for the network (reference §5.1).

    ``matrix`` maps original pixels to resized-input pixels; the resized input is
    ``(resized_h, resized_w)`` (multiples of 64 at the smallest test scale; other scales multiply
    both by ``scale_factor / min_scale``, truncated, as the official code does).
    """

    orig_w: int
    orig_h: int
    resized_w: int
    resized_h: int
    center: tuple[float, float]
    scale: tuple[float, float]
    matrix: np.ndarray

    def to_original(self, points: np.ndarray, map_w: int | None = None, map_h: int | None = None) -> np.ndarray:
        """Map ``(..., 2)`` points from a map of size ``(map_w, map_h)`` (default: the resized input) back to
        original image pixels, through the inverse affine the official ``get_final_preds`` builds.

        Returns float64; the official code stores the result in float32 (round with
        ``.astype(np.float32)`` for bit parity).
        """
        w = self.resized_w if map_w is None else map_w
        h = self.resized_h if map_h is None else map_h
        inv = _test_resize_affine(self.center, self.scale, (int(w), int(h)), inv=True)
        return apply_affine(points, inv)


def test_resize_meta(width: int, height: int, input_size: int, scale_factor: float = 1.0,
                     min_scale: float = 1.0) -> ResizeMeta:
    """The official test-time resize (``get_multi_scale_size``): at the smallest test scale the short
    side becomes ``ceil64(input_size·min_scale)`` and the long side is padded to a multiple of 64; other
    scales multiply both by ``scale_factor / min_scale`` (truncated to integers, so they are multiples
    of 32 only when that ratio is a multiple of 0.5, for every image)."""
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    center = (float(int(width / 2.0 + 0.5)), float(int(height / 2.0 + 0.5)))
    base = ceil_to_multiple(min_scale * input_size, 64)
    ratio = scale_factor / min_scale
    if width < height:
        w_r = int(base * ratio)
        h_r = int(ceil_to_multiple(base / width * height, 64) * ratio)
        scale = (width / 200.0, h_r / w_r * width / 200.0)
    else:
        h_r = int(base * ratio)
        w_r = int(ceil_to_multiple(base / height * width, 64) * ratio)
        scale = (w_r / h_r * height / 200.0, height / 200.0)
    matrix = _test_resize_affine(center, scale, (w_r, h_r))
    return ResizeMeta(width, height, w_r, h_r, center, scale, matrix)

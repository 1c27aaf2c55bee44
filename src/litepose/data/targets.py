"""Training targets (reference §4.3): Gaussian heatmaps and packed joint indices for the tag loss.

Both functions take joints already mapped into the pixels of one square output map of side ``res``.
As in the official generators, a joint's pixel is its coordinates **truncated toward zero** (Python's
``int``), so a joint at ``x = -0.5`` still lands on column 0; a joint is used only if ``v > 0`` and its
truncated position lies in ``[0, res)``. Coordinates are truncated in float64 as the official code does:
rounding them to float32 first would move e.g. ``63.9999999`` to ``64`` and change its pixel.

``render_heatmaps(..., center="subpixel")`` is an option beyond the official code: the Gaussian is drawn
at the joint's real position shifted by half a pixel, ``(x − 0.5, y − 0.5)``, instead of at the
truncated pixel. Truncation puts the peak ``0.5`` px to the upper left on average and the official
decoder adds ``+0.5`` back, so both targets agree in the mean and decode the same way; the sub-pixel
one has no quantisation noise (a uniform ±0.5 map pixel, i.e. ±1 input pixel at stride 2 and ±2 at
stride 4), which the network otherwise has to average out. Which joints are used does not change.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["HEATMAP_CENTERS", "gaussian_kernel", "pack_joints", "render_heatmaps"]

HEATMAP_CENTERS = ("truncated", "subpixel")


@lru_cache(maxsize=8)
def gaussian_kernel(sigma: float) -> np.ndarray:
    """The official ``(6σ+3) × (6σ+3)`` Gaussian with its peak (1.0) at ``(3σ+1, 3σ+1)``; 15×15 for σ = 2.

    The array is shared between calls; do not modify it.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    size = 6 * sigma + 3
    x = np.arange(0, size, 1, dtype=np.float64)
    y = x[:, None]
    c = 3 * sigma + 1
    g = np.exp(-((x - c) ** 2 + (y - c) ** 2) / (2 * sigma**2)).astype(np.float32)
    g.setflags(write=False)
    return g


def _truncated_pixels(joints: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truncated integer ``x, y`` and the mask of joints used as targets (``v > 0``, finite, in bounds)."""
    xy = joints[..., :2]
    finite = np.isfinite(xy).all(axis=-1)
    t = np.trunc(np.where(finite[..., None], xy, -1.0))
    x, y = t[..., 0].astype(np.int64), t[..., 1].astype(np.int64)
    valid = finite & (joints[..., 2] > 0) & (x >= 0) & (y >= 0) & (x < res) & (y < res)
    return x, y, valid


def render_heatmaps(joints: np.ndarray, res: int, sigma: float = 2.0, center: str = "truncated") -> np.ndarray:
    """Ground-truth heatmaps of one output resolution (official ``HeatmapGenerator``).

    Each used joint stamps the :func:`gaussian_kernel` into its joint's channel over the official box
    ``[round(p − 3σ − 1), round(p + 3σ + 2))`` around its truncated pixel ``p`` (NumPy's round half to
    even, so for a non-integer σ the box depends on the parity of ``p``), clipped to the map; overlapping
    people merge by an element-wise maximum. ``center="subpixel"`` draws ``exp(−d²/2σ²)`` around
    ``(x − 0.5, y − 0.5)`` instead, over the pixels within ``3σ + 1`` of it (see the module docstring).

    Shapes:
        joints ``(N, J, 3)`` ``(x, y, v)`` in output-map pixels -> heatmaps ``(J, res, res)`` float32.
    """
    if center not in HEATMAP_CENTERS:
        raise ValueError(f"render_heatmaps: center must be one of {HEATMAP_CENTERS}, got {center!r}")
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[2] != 3:
        raise ValueError(f"render_heatmaps: joints must be (N, J, 3), got {joints.shape}")
    num_joints = joints.shape[1]
    hms = np.zeros((num_joints, res, res), dtype=np.float32)
    if joints.shape[0] == 0:
        return hms
    sigma = float(sigma)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    x, y, valid = _truncated_pixels(joints, res)
    if center == "subpixel":
        _stamp_subpixel(hms, joints, valid, sigma)
        return hms
    g = gaussian_kernel(sigma)
    # The official box, evaluated in the same float64 operation order (the int pixel minus 3σ, minus 1)
    # so that half-way cases round identically; the box can be one pixel narrower than the kernel.
    ul_x, ul_y = np.round(x - 3 * sigma - 1).astype(np.int64), np.round(y - 3 * sigma - 1).astype(np.int64)
    br_x, br_y = np.round(x + 3 * sigma + 2).astype(np.int64), np.round(y + 3 * sigma + 2).astype(np.int64)
    for n, k in zip(*np.nonzero(valid), strict=True):
        ux, uy, bx, by = int(ul_x[n, k]), int(ul_y[n, k]), int(br_x[n, k]), int(br_y[n, k])
        x0, x1 = max(0, ux), min(bx, res)
        y0, y1 = max(0, uy), min(by, res)
        patch = g[y0 - uy:y1 - uy, x0 - ux:x1 - ux]
        np.maximum(hms[k, y0:y1, x0:x1], patch, out=hms[k, y0:y1, x0:x1])
    return hms


def _stamp_subpixel(hms: np.ndarray, joints: np.ndarray, valid: np.ndarray, sigma: float) -> None:
    """Max-merge a Gaussian centred at each used joint's ``(x − 0.5, y − 0.5)`` into ``hms`` (in place)."""
    res = hms.shape[-1]
    radius = 3 * sigma + 1
    for n, k in zip(*np.nonzero(valid), strict=True):
        cx, cy = joints[n, k, 0] - 0.5, joints[n, k, 1] - 0.5
        x0, x1 = max(0, int(np.ceil(cx - radius))), min(res, int(np.floor(cx + radius)) + 1)
        y0, y1 = max(0, int(np.ceil(cy - radius))), min(res, int(np.floor(cy + radius)) + 1)
        gx = np.exp(-((np.arange(x0, x1) - cx) ** 2) / (2 * sigma**2))
        gy = np.exp(-((np.arange(y0, y1) - cy) ** 2) / (2 * sigma**2))
        patch = (gy[:, None] * gx[None, :]).astype(np.float32)
        np.maximum(hms[k, y0:y1, x0:x1], patch, out=hms[k, y0:y1, x0:x1])


def pack_joints(joints: np.ndarray, res: int, max_people: int) -> np.ndarray:
    """Joint indices for the associative-embedding loss (official ``JointsGenerator``).

    For person ``n`` (in input order) the used joints are packed contiguously from slot 0 (slot
    ``tot``, not slot ``k``) as ``(k·res² + y·res + x, 1)``: the index addresses the flattened
    ``(J, res, res)`` tag map. Unused slots are ``(0, 0)``.

    Shapes:
        joints ``(N, J, 3)`` in output-map pixels, ``N <= max_people`` -> ``(max_people, J, 2)`` int64.

    Raises:
        ValueError: if there are more than ``max_people`` people; choosing whom to keep is the
            caller's job (:class:`~litepose.data.dataset.KeypointDataset` keeps the largest).
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[2] != 3:
        raise ValueError(f"pack_joints: joints must be (N, J, 3), got {joints.shape}")
    num_people, num_joints = joints.shape[:2]
    if num_people > max_people:
        raise ValueError(f"pack_joints: {num_people} people > max_people={max_people}; select people first")
    out = np.zeros((max_people, num_joints, 2), dtype=np.int64)
    if num_people == 0:
        return out
    x, y, valid = _truncated_pixels(joints, res)
    slots = np.cumsum(valid, axis=1) - 1
    n_idx, k_idx = np.nonzero(valid)
    s_idx = slots[n_idx, k_idx]
    out[n_idx, s_idx, 0] = k_idx * res * res + y[n_idx, k_idx] * res + x[n_idx, k_idx]
    out[n_idx, s_idx, 1] = 1
    return out

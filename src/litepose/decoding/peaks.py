"""Peak candidates: NMS and per-joint top-k (steps 1 and 2 of :func:`~litepose.decoding.grouping.decode`).

:func:`heatmap_nms` and :func:`top_k_candidates` are the official dense operations;
:func:`peak_candidates`, what ``decode`` runs, gives the same thresholded candidates while looking
only at pixels above the detection threshold.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Candidates", "heatmap_nms", "peak_candidates", "top_k_candidates"]

_DENSE_FRACTION = 0.05  # above this share of pixels over threshold, dense NMS is cheaper than sparse


class Candidates(NamedTuple):
    """Top-k peaks per joint (the official ``tag_k``, ``loc_k``, ``val_k``).

    Attributes:
        xy: ``[J, K, 2]`` int64 pixel positions ``(x, y)``.
        val: ``[J, K]`` float32 heatmap values; unused slots hold ``-inf``.
        tag: ``[J, K, L]`` float32 tags at those pixels.
    """

    xy: np.ndarray
    val: np.ndarray
    tag: np.ndarray


def heatmap_nms(heatmaps: np.ndarray, kernel: int = 5) -> np.ndarray:
    """Keep local maxima: ``det · (maxpool(det, kernel, stride 1, pad kernel//2) == det)``.

    Args:
        heatmaps: ``[J, H, W]`` maps.
        kernel: odd window side.

    Returns:
        ``[J, H, W]`` float32, zero except at pixels equal to their window maximum.

    Shapes:
        ``[J, H, W]`` -> ``[J, H, W]``.
    """
    from scipy.ndimage import maximum_filter

    det = np.asarray(heatmaps, dtype=np.float32)
    if det.ndim != 3:
        raise ValueError(f"heatmaps: expected shape [J, H, W], got {list(det.shape)}")
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"kernel must be a positive odd integer, got {kernel}")
    pooled = maximum_filter(det, size=(1, kernel, kernel), mode="constant", cval=-np.inf)
    return det * (pooled == det).astype(np.float32)


def top_k_candidates(nms_heatmaps: np.ndarray, tags: np.ndarray, k: int = 30) -> Candidates:
    """The ``k`` largest values per joint with their positions and tags.

    Equal values are ordered by ascending pixel index (row-major), so the result is deterministic.

    Args:
        nms_heatmaps: ``[J, H, W]`` (normally the output of :func:`heatmap_nms`).
        tags: ``[J, H, W, L]`` tag maps.
        k: candidates per joint (``min(k, H·W)`` are returned).

    Returns:
        :class:`Candidates` with ``K = min(k, H·W)``.

    Shapes:
        ``[J, H, W]``, ``[J, H, W, L]`` -> xy ``[J, K, 2]``, val ``[J, K]``, tag ``[J, K, L]``.
    """
    det = np.asarray(nms_heatmaps, dtype=np.float32)
    tag = np.asarray(tags, dtype=np.float32)
    if tag.ndim == 3:
        tag = tag[..., None]
    num_joints, height, width = det.shape
    flat = det.reshape(num_joints, -1)
    k = min(int(k), flat.shape[1])
    kth = np.partition(flat, flat.shape[1] - k, axis=1)[:, flat.shape[1] - k]
    index = np.empty((num_joints, k), dtype=np.int64)
    for j in range(num_joints):
        above = np.flatnonzero(flat[j] > kth[j])
        equal = np.flatnonzero(flat[j] == kth[j])[: k - above.size]
        chosen = np.concatenate([above, equal])
        index[j] = chosen[np.argsort(-flat[j, chosen], kind="stable")]
    val = np.take_along_axis(flat, index, axis=1)
    tag_k = np.take_along_axis(tag.reshape(num_joints, height * width, -1), index[:, :, None], axis=1)
    xy = np.stack([index % width, index // width], axis=2)
    return Candidates(xy, val, tag_k)


def _largest_f32_not_above(value: float) -> np.float32:
    v = np.float32(value)
    return v if float(v) <= value else np.nextafter(v, np.float32(-np.inf))


def peak_candidates(det: np.ndarray, tag: np.ndarray, k: int, threshold: float, kernel: int) -> Candidates:
    """Top-k NMS peaks with value ``> threshold``, looking only at pixels above the threshold.

    Equals ``top_k_candidates(heatmap_nms(det), tag, k)`` with every value ``<= threshold`` dropped.
    """
    num_joints, height, width = det.shape
    plane = height * width
    flat = det.reshape(-1)
    idx = np.flatnonzero(flat > _largest_f32_not_above(threshold))
    if idx.size > _DENSE_FRACTION * flat.size:
        cand = top_k_candidates(heatmap_nms(det, kernel), tag, k)
        val = np.where(cand.val.astype(np.float64) > threshold, cand.val, np.float32(-np.inf))
        return Candidates(cand.xy, val.astype(np.float32), cand.tag)
    vals = flat[idx]
    keep = vals.astype(np.float64) > threshold
    idx, vals = idx[keep], vals[keep]
    joint = idx // plane
    rest = idx - joint * plane
    y = rest // width
    x = rest - y * width
    r = kernel // 2
    # Nearest neighbours first: most non-peaks fail there, and later checks run on fewer pixels.
    offsets = sorted(((dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy or dx),
                     key=lambda o: (max(abs(o[0]), abs(o[1])), o))
    for dy, dx in offsets:
        # Clamping keeps the neighbour inside the window cut to the map, which is what -inf padding means.
        yy = np.clip(y + dy, 0, height - 1)
        xx = np.clip(x + dx, 0, width - 1)
        ok = flat[joint * plane + yy * width + xx] <= vals
        if not ok.all():
            idx, vals, joint, y, x = idx[ok], vals[ok], joint[ok], y[ok], x[ok]
    order = np.lexsort((idx, -vals, joint))
    idx, vals, joint, y, x = idx[order], vals[order], joint[order], y[order], x[order]
    counts = np.bincount(joint, minlength=num_joints)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(idx.size) - starts[joint]
    keep = rank < k
    k_out = min(k, plane)
    xy = np.zeros((num_joints, k_out, 2), dtype=np.int64)
    val = np.full((num_joints, k_out), -np.inf, dtype=np.float32)
    tag_k = np.zeros((num_joints, k_out, tag.shape[3]), dtype=np.float32)
    jk, rk = joint[keep], rank[keep]
    xy[jk, rk, 0] = x[keep]
    xy[jk, rk, 1] = y[keep]
    val[jk, rk] = vals[keep]
    tag_k[jk, rk] = tag[jk, y[keep], x[keep]]
    return Candidates(xy, val, tag_k)

"""Matching detected poses to tracks: object keypoint similarity (OKS) and a gated Hungarian assignment.

OKS is COCO's keypoint similarity: for joint ``k`` at distance ``d`` with per-joint sigma ``s_k`` and
person area ``A``, ``exp(-d^2 / (2 A (2 s_k)^2))``, averaged over the joints both poses have. Here
``A`` is the area of the box around the track's (predicted) joints, since a detection has no
segmentation; a pair that shares fewer than ``min_common`` joints has OKS 0.

Shapes: ``T`` tracks, ``N`` detections, ``K`` joints.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["box_area", "match", "oks_matrix", "pose_nms"]


def box_area(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Area (pixels^2, at least 1) of the box around each pose's valid points.

    Shapes: points ``(T, K, 2)``, valid ``(T, K)`` -> ``(T,)``.
    """
    pts = np.asarray(points, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool)[..., None]
    span = np.where(ok, pts, -np.inf).max(axis=1) + np.where(ok, -pts, -np.inf).max(axis=1)  # max - min
    span = np.where(np.isfinite(span), span, 0.0)  # no valid point: no extent
    return np.maximum(span[:, 0] * span[:, 1], 1.0)


def oks_matrix(track_points: np.ndarray, track_valid: np.ndarray, detections: np.ndarray, det_valid: np.ndarray,
               sigmas: np.ndarray, *, areas: np.ndarray | None = None, min_common: int = 1) -> np.ndarray:
    """OKS of every (track, detection) pair.

    Args:
        track_points: ``(T, K, 2)`` where the tracks are expected.
        track_valid: ``(T, K)`` joints of the tracks that can be compared.
        detections: ``(N, K, 2+)`` detected joints (``x, y, ...``).
        det_valid: ``(N, K)`` confident detected joints.
        sigmas: ``(K,)`` OKS sigmas (as in pycocotools, already divided by 10).
        areas: ``(T,)`` person areas in pixels^2; default :func:`box_area` of the tracks.
        min_common: fewer joints in common than this gives OKS 0.

    Returns:
        ``(T, N)`` OKS in [0, 1].
    """
    tp = np.asarray(track_points, dtype=np.float64)
    det = np.asarray(detections, dtype=np.float64)
    t, n = tp.shape[0], det.shape[0]
    if t == 0 or n == 0:
        return np.zeros((t, n))
    tv = np.asarray(track_valid, dtype=np.float64)
    dv = np.asarray(det_valid, dtype=np.float64)
    area = box_area(tp, tv > 0) if areas is None else np.maximum(np.asarray(areas, np.float64), 1.0)
    # exp(-d^2 / (2 A (2 sigma)^2)) as exp(-(dx^2 + dy^2) * c): x and y apart (a 2-wide last axis reduces slowly)
    c = 1.0 / (2.0 * area[:, None, None] * (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2)   # (T, 1, K)
    dx = tp[:, None, :, 0] - det[None, :, :, 0]
    dy = tp[:, None, :, 1] - det[None, :, :, 1]
    similarity = np.exp(-(dx * dx + dy * dy) * c)                                           # (T, N, K)
    count = tv @ dv.T                                                                        # joints in common
    total = np.einsum("tnk,tk,nk->tn", similarity, tv, dv, optimize=False)
    return np.where(count >= max(1, min_common), total / np.maximum(count, 1), 0.0)


def match(similarity: np.ndarray, threshold: float, *, allowed: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The assignment that maximises the summed similarity, keeping pairs at or above ``threshold``.

    Uses :func:`scipy.optimize.linear_sum_assignment` (Hungarian / Jonker-Volgenant) on ``1 - s``;
    pairs below the threshold are excluded before the assignment (so they cannot displace a valid
    pair), not dropped after it. ``allowed`` (a bool matrix) replaces the threshold test as the gate.

    Returns:
        ``(pairs (M, 2) as (row, column), unmatched rows, unmatched columns)``.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    rows, cols = sim.shape
    if rows == 0 or cols == 0:
        return np.zeros((0, 2), dtype=np.int64), np.arange(rows), np.arange(cols)
    allowed = sim >= threshold if allowed is None else np.asarray(allowed, dtype=bool)
    # A forbidden pair costs more than any set of allowed ones, so it is only chosen when nothing else is.
    cost = np.where(allowed, 1.0 - sim, 1.0 + min(rows, cols))
    r, c = linear_sum_assignment(cost)
    keep = allowed[r, c]
    pairs = np.stack([r[keep], c[keep]], axis=1).astype(np.int64)
    row_free = np.ones(rows, dtype=bool)
    col_free = np.ones(cols, dtype=bool)
    row_free[pairs[:, 0]] = False
    col_free[pairs[:, 1]] = False
    return pairs, np.flatnonzero(row_free), np.flatnonzero(col_free)


def pose_nms(keypoints: np.ndarray, scores: np.ndarray, valid: np.ndarray, sigmas: np.ndarray,
             threshold: float) -> np.ndarray:
    """Which poses to keep: a pose is a duplicate when its OKS with a kept, higher-scored pose is >= ``threshold``.

    Bottom-up decoders sometimes return a person twice (a fragment completed by refinement): those
    copies have OKS 0.6-1.0 with the original, while different people rarely exceed 0.4.

    Shapes: keypoints ``(N, K, 2+)``, scores ``(N,)``, valid ``(N, K)`` -> keep ``(N,)`` bool.
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool)
    n = kpts.shape[0]
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    sim = oks_matrix(kpts[:, :, :2], ok, kpts, ok, sigmas)  # row i: OKS in pose i's area
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    for i in order:
        if keep[i]:
            keep[(sim[i] >= threshold) & (rank > rank[i])] = False
    return keep

"""A loop-based restatement of the official grouping (a test oracle), plus synthetic crowd maps to test it on.

:func:`reference_decode` follows the official ``HeatmapParser.parse`` (reference §5.3) step by step,
with the same loops, the same dictionaries and the same dtypes: dense NMS, per-joint top-k, tag
matching person by person through Python dicts, per-joint adjust loops, and a refine pass that
evaluates the full ``J × H × W`` distance map for every person. The dense tensor work the official
code does in PyTorch is done here with NumPy; the assignment step calls the ``munkres`` 1.1.x package
the official code calls (a dev dependency), so ties between equal-cost assignments resolve the same way.

It is the yardstick for :func:`litepose.decoding.grouping.decode`: the parity tests compare the two
person by person, and ``benchmarks/bench_decode.py`` times the two side by side. Nothing here is
optimised on purpose, and nothing in the package imports it: it lives with the tests.

:func:`synthetic_crowd_maps` (deterministic heatmaps and tag maps for a crowd: Gaussian peaks,
per-person tags with noise, invisible joints, weak spurious blobs and background noise) lives in the
package, :mod:`litepose.export.crowd_maps`, where decode-latency measurement uses it; it is
re-exported here for the tests and the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from munkres import Munkres

from litepose.decoding.grouping import resolve_joint_order
from litepose.export.crowd_maps import synthetic_crowd_maps

__all__ = ["munkres_pairs", "reference_decode", "synthetic_crowd_maps"]


def munkres_pairs(cost: np.ndarray) -> list[tuple[int, int]]:
    """The official assignment: ``munkres.Munkres().compute`` (package 1.1.x), as ``(row, col)`` pairs.

    A rectangular matrix is padded with zeros to a square; pairs come sorted by row, for the original
    rows and columns only. Its scan order decides between equal-cost assignments.
    """
    return [(int(r), int(c)) for r, c in Munkres().compute(np.asarray(cost, dtype=np.float64).tolist())]


def _scipy_pairs(cost: np.ndarray) -> list[tuple[int, int]]:
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)]


def reference_decode(
    heatmaps: np.ndarray,
    tags: np.ndarray,
    *,
    detection_threshold: float = 0.1,
    tag_threshold: float = 1.0,
    max_people: int = 30,
    nms_kernel: int = 5,
    adjust: bool = True,
    refine: bool = True,
    joint_order: Any = None,
    assignment: str = "munkres",
    fix_key_collisions: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode people from maps exactly as the official parser does, with plain loops.

    Takes the same arguments as :func:`litepose.decoding.grouping.decode` and returns the same
    ``(keypoints [N, J, 3], scores [N])``; see that function for their meaning.

    Shapes:
        heatmaps ``[J, H, W]``, tags ``[J, H, W, L]`` (or ``[J, H, W]``) -> ``[N, J, 3]``, ``[N]``.
    """
    det = np.ascontiguousarray(heatmaps, dtype=np.float32)
    tag = np.ascontiguousarray(tags, dtype=np.float32)
    if tag.ndim == 3:
        tag = tag[..., None]
    num_joints, height, width = det.shape
    order = resolve_joint_order(joint_order, num_joints)
    solver: Callable[[np.ndarray], list[tuple[int, int]]]
    solver = munkres_pairs if assignment == "munkres" else _scipy_pairs

    # 1. NMS: keep a pixel where it equals the max of its window (padding never wins).
    pad = nms_kernel // 2
    padded = np.full((num_joints, height + 2 * pad, width + 2 * pad), -np.inf, dtype=np.float32)
    padded[:, pad:pad + height, pad:pad + width] = det
    pooled = np.full_like(det, -np.inf)
    for dy in range(nms_kernel):
        for dx in range(nms_kernel):
            pooled = np.maximum(pooled, padded[:, dy:dy + height, dx:dx + width])
    suppressed = det * (pooled == det).astype(np.float32)

    # 2. Top-k per joint; equal values are taken in ascending pixel order.
    k = min(max_people, height * width)
    loc_k = np.zeros((num_joints, k, 2), dtype=np.int64)
    val_k = np.zeros((num_joints, k), dtype=np.float32)
    tag_k = np.zeros((num_joints, k, tag.shape[-1]), dtype=np.float32)
    for j in range(num_joints):
        flat = suppressed[j].ravel()
        kth = np.partition(flat, flat.size - k)[flat.size - k]
        above = np.flatnonzero(flat > kth)
        equal = np.flatnonzero(flat == kth)[: k - above.size]
        chosen = np.concatenate([above, equal])
        chosen = chosen[np.argsort(-flat[chosen], kind="stable")]
        for slot, index in enumerate(chosen):
            loc_k[j, slot] = (index % width, index // width)
            val_k[j, slot] = flat[index]
            tag_k[j, slot] = tag[j].reshape(-1, tag.shape[-1])[index]

    # 3. match_by_tag.
    people = _match_reference(tag_k, loc_k, val_k, order, detection_threshold, tag_threshold, max_people,
                              solver, fix_key_collisions)

    # 4. Adjust: a quarter pixel toward the larger neighbour (ties go down), then +0.5.
    if adjust:
        for person in people:
            for j in range(num_joints):
                if person[j, 2] > 0:
                    x, y = person[j, 0], person[j, 1]
                    xi, yi = int(x), int(y)
                    hm = det[j]
                    x = x + 0.25 if hm[yi, min(xi + 1, width - 1)] > hm[yi, max(xi - 1, 0)] else x - 0.25
                    y = y + 0.25 if hm[min(yi + 1, height - 1), xi] > hm[max(yi - 1, 0), xi] else y - 0.25
                    person[j, 0] = x + 0.5
                    person[j, 1] = y + 0.5

    # 5. Score before refine: mean joint value, missing joints counting 0.
    scores = np.array([person[:, 2].mean() for person in people], dtype=np.float32)

    # 6. Refine.
    if refine:
        for p in range(len(people)):
            people[p] = _refine_reference(det, tag, people[p])

    keypoints = np.zeros((len(people), num_joints, 3), dtype=np.float32)
    for p, person in enumerate(people):
        keypoints[p] = person[:, :3]
    return keypoints, scores


def _match_reference(tag_k: np.ndarray, loc_k: np.ndarray, val_k: np.ndarray, order: Sequence[int],
                     detection_threshold: float, tag_threshold: float, max_people: int,
                     solver: Callable[[np.ndarray], list[tuple[int, int]]],
                     fix_key_collisions: bool) -> list[np.ndarray]:
    num_joints = tag_k.shape[0]
    empty = np.zeros((num_joints, 3 + tag_k.shape[2]))
    joint_dict: dict[Any, np.ndarray] = {}
    tag_dict: dict[Any, list[np.ndarray]] = {}
    counter = 0

    def new_key(tag: np.ndarray) -> Any:
        nonlocal counter
        counter += 1
        # Official: the first tag value is the key, so equal values land on the same person.
        return ("person", counter) if fix_key_collisions else float(tag[0])

    for idx in order:
        tags = tag_k[idx]
        joints = np.concatenate((loc_k[idx].astype(np.float64), val_k[idx, :, None].astype(np.float64),
                                 tags.astype(np.float64)), axis=1)
        keep = joints[:, 2] > detection_threshold  # compared in float64, as the official code does
        tags, joints = tags[keep], joints[keep]
        if joints.shape[0] == 0:
            continue
        if not joint_dict:
            for tag, joint in zip(tags, joints, strict=True):
                key = new_key(tag)
                joint_dict.setdefault(key, empty.copy())[idx] = joint
                tag_dict[key] = [tag]
            continue
        keys = list(joint_dict)[:max_people]
        means = [np.mean(tag_dict[key], axis=0) for key in keys]
        diff = joints[:, None, 3:] - np.array(means)[None, :, :]
        dist = np.linalg.norm(diff, ord=2, axis=2)
        cost = np.round(dist) * 100 - joints[:, 2:3]
        added, grouped = dist.shape
        if added > grouped:
            cost = np.concatenate((cost, np.zeros((added, added - grouped)) + 1e10), axis=1)
        for row, col in solver(cost):
            if row < added and col < grouped and dist[row][col] < tag_threshold:
                key = keys[col]
                joint_dict[key][idx] = joints[row]
                tag_dict[key].append(tags[row])
            else:
                key = new_key(tags[row])
                joint_dict.setdefault(key, empty.copy())[idx] = joints[row]
                tag_dict[key] = [tags[row]]
    return [person.astype(np.float32) for person in joint_dict.values()]


def _refine_reference(det: np.ndarray, tag: np.ndarray, person: np.ndarray) -> np.ndarray:
    num_joints, height, width = det.shape
    dim = tag.shape[-1]
    person = person.copy()
    total = np.zeros(dim, dtype=np.float32)
    count = 0
    for j in range(num_joints):
        if person[j, 2] > 0:
            x, y = person[j, :2].astype(np.int32)
            total = total + tag[j, y, x]
            count += 1
    mean_tag = total / np.float32(count)
    diff = tag - mean_tag
    square = diff * diff
    dist2 = square[..., 0]
    for d in range(1, dim):
        dist2 = dist2 + square[..., d]
    goal = det - np.rint(np.sqrt(dist2))
    best = goal.reshape(num_joints, -1).argmax(axis=1)
    for j in range(num_joints):
        y, x = divmod(int(best[j]), width)
        hm = det[j]
        val = hm[y, x]
        fx = x + 0.5 + (0.25 if hm[y, min(x + 1, width - 1)] > hm[y, max(x - 1, 0)] else -0.25)
        fy = y + 0.5 + (0.25 if hm[min(y + 1, height - 1), x] > hm[max(y - 1, 0), x] else -0.25)
        if val > 0 and person[j, 2] == 0:
            person[j, 0], person[j, 1], person[j, 2] = fx, fy, val
    return person


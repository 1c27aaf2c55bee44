"""Tag matching: candidates -> people (step 3 of :func:`~litepose.decoding.grouping.decode`, the
official ``match_by_tag``), in the official joint order unless told otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np

from litepose.decoding.assignment import ASSIGNMENT_SOLVERS
from litepose.decoding.peaks import Candidates
from litepose.skeleton import COCO

__all__ = ["DETECTION_THRESHOLD", "match_by_tag", "resolve_joint_order"]

#: The official test-time candidate threshold (``TEST.DETECTION_THRESHOLD``): a joint needs a heatmap
#: value above it to take part in the grouping.
DETECTION_THRESHOLD = 0.1


def resolve_joint_order(joint_order: Any, num_joints: int) -> tuple[int, ...]:
    """The order in which tag matching visits joints.

    Args:
        joint_order: ``None`` for the official order (the COCO order cut to ``num_joints``, when that
            is a permutation, else ``0..J-1``); a :class:`~litepose.skeleton.Skeleton` (its
            ``group_order``; pass ``skeleton.anatomical_order`` for the fixed CrowdPose order); or a
            sequence of joint indices.
        num_joints: ``J``.

    Returns:
        A permutation of ``0..J-1``.
    """
    if joint_order is None:
        cut = tuple(COCO.group_order[:num_joints])
        return cut if sorted(cut) == list(range(num_joints)) else tuple(range(num_joints))
    if hasattr(joint_order, "group_order") and hasattr(joint_order, "num_keypoints"):
        if joint_order.num_keypoints != num_joints:
            raise ValueError(f"joint_order: skeleton {joint_order.name!r} has {joint_order.num_keypoints} "
                             f"keypoints but the maps have {num_joints} joints")
        return tuple(joint_order.group_order)
    try:
        order = tuple(int(i) for i in joint_order)
    except (TypeError, ValueError):
        raise ValueError(f"joint_order: expected None, a Skeleton or a sequence of ints, got {joint_order!r}") \
            from None
    if sorted(order) != list(range(num_joints)):
        raise ValueError(f"joint_order: must be a permutation of 0..{num_joints - 1}, got {list(order)}")
    return order


class _Groups:
    """People being built: joint rows, dict keys and tag lists whose means follow ``np.mean``."""

    def __init__(self, capacity: int, num_joints: int, dim: int, fix_key_collisions: bool) -> None:
        self.rows = np.zeros((capacity, num_joints, 3 + dim), dtype=np.float32)
        self.history = np.zeros((capacity, num_joints + 1, dim), dtype=np.float32)
        self.count = np.zeros(capacity, dtype=np.int64)
        self.total = np.zeros((capacity, dim), dtype=np.float32)
        self.mean = np.zeros((capacity, dim), dtype=np.float32)
        self.dirty: set[int] = set()
        self.keys: dict[Any, int] = {}
        self.size = 0
        self.fix = fix_key_collisions

    def start(self, joint: int, row: np.ndarray, tag: np.ndarray) -> None:
        """A candidate that starts a new person (or, on a key collision, lands on an old one)."""
        key: Any = ("new", self.size) if self.fix else float(tag[0])
        person = self.keys.get(key)
        if person is None:
            person = self.keys[key] = self.size
            self.size += 1
        self.rows[person, joint] = row
        self.history[person, 0] = tag
        self.count[person] = 1
        self.total[person] = tag
        self.dirty.add(person)

    def join(self, person: int, joint: int, row: np.ndarray, tag: np.ndarray) -> None:
        self.rows[person, joint] = row
        n = self.count[person]
        if n >= self.history.shape[1]:  # cannot happen with one join per joint, but keep it safe
            self.history = np.concatenate([self.history, np.zeros_like(self.history)], axis=1)
        self.history[person, n] = tag
        self.count[person] = n + 1
        self.total[person] = self.total[person] + tag  # sequential float32, as np.mean(axis=0) sums rows
        self.dirty.add(person)

    def means(self, limit: int) -> np.ndarray:
        dim = self.mean.shape[1]
        todo = [p for p in self.dirty if p < limit]
        if todo:
            sel = np.array(todo)
            if dim >= 2:
                self.mean[sel] = self.total[sel] / self.count[sel, None].astype(np.float32)
            else:
                # For one tag channel NumPy reduces the list with pairwise summation.
                for p in todo:
                    self.mean[p] = np.mean(self.history[p, : self.count[p]], axis=0)
            self.dirty.difference_update(todo)
        return self.mean[:limit]


def match_by_tag(
    candidates: Candidates,
    *,
    detection_threshold: float = DETECTION_THRESHOLD,
    tag_threshold: float = 1.0,
    max_people: int = 30,
    joint_order: Any = None,
    assignment: str = "munkres",
    fix_key_collisions: bool = False,
) -> np.ndarray:
    """Group candidates into people by their tags (the official ``match_by_tag``).

    Args:
        candidates: per-joint peaks, e.g. from :func:`top_k_candidates`.
        detection_threshold: candidates need a value above this.
        tag_threshold: a candidate joins a person when their tag distance is below this.
        max_people: only the first ``max_people`` people are offered to later joints.
        joint_order: see :func:`resolve_joint_order`.
        assignment: ``"munkres"`` (the official tie-breaking) or ``"scipy"``.
        fix_key_collisions: give every new person its own entry instead of merging people whose
            first tag values are equal (the official behaviour, kept by default).

    Returns:
        ``[N, J, 3 + L]`` float32 people in creation order, columns ``(x, y, val, tag...)``; joints
        not found are zero rows.

    Shapes:
        xy ``[J, K, 2]``, val ``[J, K]``, tag ``[J, K, L]`` -> ``[N, J, 3 + L]``.
    """
    xy, val, tag = (np.asarray(a) for a in candidates)
    num_joints, _, dim = tag.shape
    order = resolve_joint_order(joint_order, num_joints)
    if assignment not in ASSIGNMENT_SOLVERS:
        raise ValueError(f"assignment must be one of {sorted(ASSIGNMENT_SOLVERS)}, got {assignment!r}")
    solve = ASSIGNMENT_SOLVERS[assignment]
    groups = _Groups(max(1, int(np.isfinite(val).sum())), num_joints, dim, fix_key_collisions)
    for idx in order:
        keep = val[idx].astype(np.float64) > detection_threshold
        if not keep.any():
            continue
        tags = tag[idx][keep].astype(np.float32)
        vals = val[idx][keep].astype(np.float32)
        if not np.isfinite(tags).all():
            raise ValueError(f"tags: non-finite tag values at joint {idx}")
        rows = np.concatenate([xy[idx][keep].astype(np.float32), vals[:, None], tags], axis=1)
        if groups.size == 0:
            for r in range(rows.shape[0]):
                groups.start(idx, rows[r], tags[r])
            continue
        num_groups = min(groups.size, max_people)
        means = groups.means(num_groups)
        diff = tags.astype(np.float64)[:, None, :] - means[None, :, :]
        dist = np.linalg.norm(diff, ord=2, axis=2)
        cost = np.round(dist) * 100 - vals.astype(np.float64)[:, None]
        added = rows.shape[0]
        if added > num_groups:
            cost = np.concatenate([cost, np.zeros((added, added - num_groups)) + 1e10], axis=1)
        for r, col in solve(cost):
            if col < num_groups and dist[r, col] < tag_threshold:
                groups.join(col, idx, rows[r], tags[r])
            else:
                groups.start(idx, rows[r], tags[r])
    return groups.rows[: groups.size].copy()

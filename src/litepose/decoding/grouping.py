"""Associative-embedding grouping: heatmaps + tags -> people, with the official semantics, fast.

Pure NumPy/SciPy: this module (and :mod:`litepose.decoding`) never imports torch, so exported models
can be decoded on a device that has only NumPy.

:func:`decode` gives the same people, coordinates and scores as the official
``HeatmapParser.parse(det, tag, adjust=True, refine=True)`` (reference §5.3) on the same maps:

1. **NMS**: a pixel survives where it equals the maximum of its ``nms_kernel`` window
   (``max_pool2d(k=5, stride=1, pad=2) == det``; the padding never wins).
2. **Top-k**: per joint, the ``max_people`` largest surviving values. Equal values are taken in
   ascending pixel order (row-major). ``torch.topk`` leaves the order of equal values unspecified,
   so this is our definition; it matters only for exactly equal peak values.
3. **match_by_tag**: joints are visited in the official order (COCO order cut to ``J``; for
   CrowdPose that order is a permutation by accident, reference §8.10, kept by default). Candidates
   with value ``> detection_threshold`` (compared in float64, as the official code does) either start
   people (first joint) or are assigned to the first ``max_people`` people, each represented by the
   mean of its tags, by a minimum-cost assignment on ``round(D)·100 − val`` (``D`` = L2 tag distance),
   padded with ``1e10`` columns when there are more candidates than people. A pair joins when
   ``D < tag_threshold``; every other candidate starts a new person. The official code keys people by
   the first tag value of the candidate that created them, so a new candidate whose first tag value
   equals an existing key lands on that person: it overwrites that joint and resets the person's tag
   list. This is kept by default for parity; ``fix_key_collisions=True`` gives each new person its own
   entry instead. People are returned in creation order; there is no cap on their number.
4. **Adjust**: each found joint moves a quarter pixel toward its larger horizontal and vertical
   neighbour on the raw heatmap (ties move down; neighbours clamped to the border), then ``+0.5``.
5. **Score**: mean joint value over all ``J`` joints (missing ones count 0), after adjust, before refine.
6. **Refine**: per person, the mean tag ``μ`` of its found joints (read at their integer pixels); for
   every missing joint the pixel maximising ``det − round(‖tag − μ‖)`` on the full map (first pixel on
   ties) is filled in, with ``+0.5`` and the same quarter-pixel adjust, if its value is ``> 0``.

Official behaviours kept by default, and the fixes offered as options (reference §8):

* CrowdPose joint order (§8.10): the COCO order cut to 14 joints. Fix: ``joint_order=CROWDPOSE.anatomical_order``
  (head and neck first), or any permutation / :class:`~litepose.skeleton.Skeleton`.
* Dict-key collisions (people keyed by a float tag value). Fix: ``fix_key_collisions=True``.
* Score before refine, and refine fills every missing joint without a threshold (§8.11): kept as is
  (drop joints by value afterwards if needed).

Assignment. The official code uses the ``munkres`` package (1.1.x). When several assignments have the
same minimum cost (frequent: the cost only counts whole tag-distance units, so e.g. ``D = 0.7`` (joins)
and ``D = 1.2`` (does not) cost the same), which one is returned decides who joins whom. By default
(``assignment="munkres"``) :func:`munkres_assignment` reproduces that package's choice exactly (the
same algorithm steps, scan order and floating-point updates, vectorised). ``assignment="scipy"``
uses :func:`scipy.optimize.linear_sum_assignment` on the same matrix: also a minimum-cost assignment,
somewhat faster, but it may break such ties differently from the official code.

Float details, chosen so results are reproducible: group tag means follow NumPy's ``np.mean`` of the
tag list exactly (as the official code); refine's mean tag is a sequential float32 sum divided by
the count, and its distance map is IEEE float32 (``sqrt`` correctly rounded). The official code does
refine in PyTorch, whose reduction order and vectorised ``sqrt`` depend on the device, so official
results on different hardware can differ from each other (and from ours) when a tag distance falls
within a float32 ulp of a half-integer; with the top-k order of exactly equal peaks, that is the only
source of difference left.

Speed. NMS only inspects pixels above the threshold, tag matching is vectorised per joint, and refine
finds its argmax by branch and bound: 16×16 and 4×4 cells carry their maximum heatmap value and tag
range; where the rounded tag distance cannot change inside a cell, the cell's best value is known
exactly without reading its pixels, and other cells are opened (16 -> 4 -> pixels) only while their
upper bound reaches the best value found. The answer is the same pixel as the dense search's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from litepose.skeleton import COCO

if TYPE_CHECKING:
    from litepose.geometry import ResizeMeta

__all__ = [
    "DETECTION_THRESHOLD",
    "Candidates",
    "adjust_positions",
    "decode",
    "heatmap_nms",
    "keypoints_to_image",
    "match_by_tag",
    "munkres_assignment",
    "refine_person",
    "resolve_joint_order",
    "top_k_candidates",
]

#: The official test-time candidate threshold (``TEST.DETECTION_THRESHOLD``): a joint needs a heatmap
#: value above it to take part in the grouping.
DETECTION_THRESHOLD = 0.1

_TILE = 16  # refine search: coarse cell side, bounded for every person
_SUB = 4  # refine search: fine cell side, bounded only inside coarse cells that may win
_NO_PIXEL = np.iinfo(np.int64).max
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


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------

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


def _as_maps(heatmaps: Any, tags: Any) -> tuple[np.ndarray, np.ndarray]:
    det = np.asarray(heatmaps)
    tag = np.asarray(tags)
    if det.ndim == 4 and det.shape[0] == 1:  # a batch of one, as the map builder returns
        det = det[0]
    if tag.ndim == 5 and tag.shape[0] == 1:
        tag = tag[0]
    if det.ndim != 3:
        raise ValueError(f"heatmaps: expected shape [J, H, W], got {list(det.shape)}")
    if tag.ndim == 3:
        tag = tag[..., None]
    if tag.ndim != 4 or tag.shape[:3] != det.shape:
        raise ValueError(f"tags: expected shape [J, H, W, L] matching heatmaps {list(det.shape)}, "
                         f"got {list(np.shape(tags))}")
    if min(det.shape) < 1 or tag.shape[3] < 1:
        raise ValueError(f"heatmaps/tags: empty maps {list(det.shape)} / {list(tag.shape)}")
    det = np.ascontiguousarray(det, dtype=np.float32)
    tag = np.ascontiguousarray(tag, dtype=np.float32)
    # min/max propagate NaN and expose inf; a NaN tag would make the assignment meaningless.
    for name, arr in (("heatmaps", det), ("tags", tag)):
        if not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            raise ValueError(f"{name}: contains NaN or infinite values")
    return det, tag


def _check_params(detection_threshold: float, tag_threshold: float, max_people: int, nms_kernel: int) -> None:
    if not (np.isfinite(detection_threshold) and detection_threshold >= 0):
        # Below 0, zero-valued non-peaks would become candidates and refine would meet people
        # without any found joint (the official code crashes there).
        raise ValueError(f"detection_threshold must be a finite number >= 0, got {detection_threshold}")
    if not tag_threshold > 0:
        raise ValueError(f"tag_threshold must be > 0, got {tag_threshold}")
    if int(max_people) != max_people or max_people < 1:
        raise ValueError(f"max_people must be a positive integer, got {max_people}")
    if int(nms_kernel) != nms_kernel or nms_kernel < 1 or nms_kernel % 2 == 0:
        raise ValueError(f"nms_kernel must be a positive odd integer, got {nms_kernel}")


# --------------------------------------------------------------------------------------------
# NMS and top-k
# --------------------------------------------------------------------------------------------

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


def _peak_candidates(det: np.ndarray, tag: np.ndarray, k: int, threshold: float, kernel: int) -> Candidates:
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


# --------------------------------------------------------------------------------------------
# Assignment
# --------------------------------------------------------------------------------------------

def munkres_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment that returns exactly what the ``munkres`` 1.1.x package returns.

    That package (used by the official parser) pads a rectangular matrix with zeros to a square and
    runs Munkres' algorithm with a particular scan order; when several assignments tie, its choice
    follows from that order. This is the same algorithm, vectorised with NumPy, with the same scan
    order and the same floating-point updates.

    Args:
        cost: ``[R, C]`` cost matrix (finite).

    Returns:
        ``(row, col)`` pairs sorted by row, one per row when ``R <= C``, one per column otherwise.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost: expected a 2-D matrix, got shape {list(cost.shape)}")
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return []
    if not np.isfinite(cost).all():
        raise ValueError("cost: contains NaN or infinite values")
    n = max(rows, cols)
    c = np.zeros((n, n))
    c[:rows, :cols] = cost
    c -= c.min(axis=1, keepdims=True)  # step 1

    star_in_row = np.full(n, -1)
    star_in_col = np.full(n, -1)
    zr, zc = np.nonzero(c == 0)  # step 2: the first free zero of each row, row by row
    for r, col in zip(zr.tolist(), zc.tolist(), strict=True):
        if star_in_row[r] < 0 and star_in_col[col] < 0:
            star_in_row[r] = col
            star_in_col[col] = r

    prime_in_row = np.full(n, -1)
    while True:
        col_cov = star_in_col >= 0  # step 3
        if col_cov.all():
            break
        row_cov = np.zeros(n, dtype=bool)
        r0 = c0 = 0
        while True:  # step 4, with step 6 whenever no uncovered zero is left
            free = (c == 0) & ~row_cov[:, None] & ~col_cov[None, :]
            rows_with = np.flatnonzero(free.any(axis=1))
            if rows_with.size == 0:
                low = c[np.ix_(~row_cov, ~col_cov)].min()
                c[row_cov] += low
                c[:, ~col_cov] -= low
                r0 = c0 = 0
                continue
            later = rows_with[rows_with >= r0]
            zrow = int(later[0] if later.size else rows_with[0])
            zcols = np.flatnonzero(free[zrow])
            before = zcols[zcols < c0]
            zcol = int(before[-1] if before.size else zcols[-1])  # the last zero of a cyclic scan from c0
            prime_in_row[zrow] = zcol
            star = int(star_in_row[zrow])
            if star < 0:
                break
            row_cov[zrow] = True
            col_cov[star] = False
            r0, c0 = zrow, star
        # Step 5: walk prime -> star in its column -> prime in that star's row ..., then swap them.
        path_primes = [(zrow, zcol)]
        path_stars = []
        col = zcol
        while star_in_col[col] >= 0:
            r = int(star_in_col[col])
            path_stars.append((r, col))
            col = int(prime_in_row[r])
            path_primes.append((r, col))
        for r, col in path_stars:
            star_in_row[r] = -1
            star_in_col[col] = -1
        for r, col in path_primes:
            star_in_row[r] = col
            star_in_col[col] = r
        prime_in_row[:] = -1
    return [(r, int(star_in_row[r])) for r in range(rows) if star_in_row[r] < cols]


def _scipy_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(cost)
    return list(zip(r.tolist(), c.tolist(), strict=True))


_SOLVERS: dict[str, Callable[[np.ndarray], list[tuple[int, int]]]] = {
    "munkres": munkres_assignment,
    "scipy": _scipy_assignment,
}


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------

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
    if assignment not in _SOLVERS:
        raise ValueError(f"assignment must be one of {sorted(_SOLVERS)}, got {assignment!r}")
    solve = _SOLVERS[assignment]
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


# --------------------------------------------------------------------------------------------
# Adjust and refine
# --------------------------------------------------------------------------------------------

def _quarter_offsets(det: np.ndarray, joint: np.ndarray, x: np.ndarray, y: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """±0.25 toward the larger neighbour along x and y (ties go down), neighbours clamped."""
    _, height, width = det.shape
    right = det[joint, y, np.minimum(x + 1, width - 1)]
    left = det[joint, y, np.maximum(x - 1, 0)]
    below = det[joint, np.minimum(y + 1, height - 1), x]
    above = det[joint, np.maximum(y - 1, 0), x]
    quarter = np.float32(0.25)
    return np.where(right > left, quarter, -quarter), np.where(below > above, quarter, -quarter)


def adjust_positions(people: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Quarter-pixel adjust of every found joint (value > 0), then ``+0.5``.

    Args:
        people: ``[N, J, C]`` with columns ``(x, y, val, ...)`` at integer pixel positions.
        heatmaps: ``[J, H, W]`` raw (not NMS'd) heatmaps.

    Returns:
        A float32 copy of ``people`` with adjusted ``x, y``.

    Shapes:
        people ``[N, J, C]``, heatmaps ``[J, H, W]`` -> ``[N, J, C]``.
    """
    out = np.array(people, dtype=np.float32, copy=True)
    if out.size == 0:
        return out
    det = np.asarray(heatmaps, dtype=np.float32)
    n, j = np.nonzero(out[:, :, 2] > 0)
    x = out[n, j, 0]
    y = out[n, j, 1]
    dx, dy = _quarter_offsets(det, j, x.astype(np.int64), y.astype(np.int64))
    out[n, j, 0] = (x + dx) + np.float32(0.5)
    out[n, j, 1] = (y + dy) + np.float32(0.5)
    return out


def _person_scores(people: np.ndarray) -> np.ndarray:
    # Row-wise reduction = NumPy's pairwise sum of each person's value column, as ``person[:, 2].mean()``.
    vals = np.ascontiguousarray(people[:, :, 2], dtype=np.float32)
    return (np.add.reduce(vals, axis=1) / np.float32(vals.shape[1])).astype(np.float32)


def _refine_goal(det_px: np.ndarray, tag_px: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``det − round(‖tag − μ‖)`` in float32, summing tag channels in order (as the reference)."""
    diff = tag_px - mean
    square = diff * diff
    dist2 = square[..., 0]
    for d in range(1, square.shape[-1]):
        dist2 = dist2 + square[..., d]
    return det_px - np.rint(np.sqrt(dist2))


def _block_reduce(maps: np.ndarray, block: int, op: np.ufunc) -> np.ndarray:
    """``op``-reduce ``[J, H, W, ...]`` over ``block × block`` cells (the last ones may be partial).

    Strided slices combined elementwise: far faster than ``reduceat`` or a reshape-reduce on small
    blocks, and partial cells need no padding.
    """
    rows = maps[:, 0::block].copy()
    for i in range(1, block):
        part = maps[:, i::block]
        op(rows[:, : part.shape[1]], part, out=rows[:, : part.shape[1]])
    cells = rows[:, :, 0::block].copy()
    for i in range(1, block):
        part = rows[:, :, i::block]
        op(cells[:, :, : part.shape[2]], part, out=cells[:, :, : part.shape[2]])
    return cells


class _CellStats:
    """Per-cell heatmap maximum and per-channel tag range of every joint, on a grid of square cells."""

    def __init__(self, det_max: np.ndarray, tag_lo: np.ndarray, tag_hi: np.ndarray, side: int) -> None:
        self.side = side  # cell side in pixels
        self.grid = det_max.shape[1:3]
        count = self.grid[0] * self.grid[1]
        self.det_max = det_max.reshape(det_max.shape[0], count)
        self.tag_lo = tag_lo.reshape(det_max.shape[0], count, -1)
        self.tag_hi = tag_hi.reshape(det_max.shape[0], count, -1)

    @classmethod
    def of_maps(cls, det: np.ndarray, tag: np.ndarray, side: int) -> _CellStats:
        return cls(_block_reduce(det, side, np.maximum), _block_reduce(tag, side, np.minimum),
                   _block_reduce(tag, side, np.maximum), side)

    def coarser(self, factor: int) -> _CellStats:
        """Stats of cells ``factor`` times larger, from these (no pass over the pixels)."""
        grid = (self.det_max.shape[0], *self.grid)
        return _CellStats(_block_reduce(self.det_max.reshape(grid), factor, np.maximum),
                          _block_reduce(self.tag_lo.reshape(*grid, -1), factor, np.minimum),
                          _block_reduce(self.tag_hi.reshape(*grid, -1), factor, np.maximum),
                          self.side * factor)

    def bounds(self, joint: int, cells: np.ndarray | None, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Value of ``det − round(dist)`` over cells for people with tag means ``[M, L]``.

        ``cells`` is ``[M, C]`` cell ids per person, or None for all cells. Returns ``[M, C]`` values and
        a mask: where True the rounded distance is one integer ``q`` on the whole cell and the value is
        exactly the cell's best ``det − q``; elsewhere the value is an upper bound.
        """
        if cells is None:
            lo, hi, top = self.tag_lo[joint][None], self.tag_hi[joint][None], self.det_max[joint][None]
        else:
            lo, hi, top = self.tag_lo[joint][cells], self.tag_hi[joint][cells], self.det_max[joint][cells]
        near2 = np.zeros((means.shape[0], top.shape[1]), dtype=np.float32)
        far2 = np.zeros_like(near2)
        for d in range(means.shape[1]):
            mu = means[:, d, None]
            below = lo[..., d] - mu  # > 0 when the whole range lies above the mean
            above = mu - hi[..., d]  # > 0 when it lies below
            far = np.minimum(below, above)  # minus the largest distance along this channel
            near = np.maximum(np.maximum(below, above), np.float32(0))
            near2 += near * near
            far2 += far * far
        dist_lo = np.sqrt(near2)
        dist_hi = np.sqrt(far2)
        # Bounds and pixels are float32, each within a few ulps of the exact distance, so a 1e-5
        # relative margin keeps the bounds safe; rint(d) lies in [ceil(d - 0.5), floor(d + 0.5)].
        r_lo = np.maximum(np.ceil(dist_lo * np.float32(1 - 1e-5) - np.float32(0.5)), np.float32(0))
        r_hi = np.floor(dist_hi * np.float32(1 + 1e-5) + np.float32(0.5))
        return top - r_lo, r_lo == r_hi


class _BestPixels:
    """Exact ``argmax det[j] − round(‖tag[j] − μ‖)`` per (joint, mean) pair, by branch and bound.

    Cells of 16×16 and 4×4 pixels carry the heatmap maximum and the tag range. Where the rounded
    distance cannot vary inside a cell, the cell's best value is known exactly without touching its
    pixels; other cells are opened (16 -> 4 -> pixels) only while their upper bound reaches the best
    value found so far. Equal maxima resolve to the smallest pixel index, as a dense ``argmax``.
    """

    def __init__(self, det: np.ndarray, tag: np.ndarray, joints: np.ndarray, means: np.ndarray) -> None:
        self.det = det.reshape(det.shape[0], -1)
        self.tag = tag.reshape(tag.shape[0], -1, tag.shape[3])
        self.height, self.width = det.shape[1:]
        self.means = means
        self.fine = _CellStats.of_maps(det, tag, _SUB)
        self.coarse = self.fine.coarser(_TILE // _SUB)
        self.value = np.full(joints.size, -np.inf, dtype=np.float32)
        self.index = np.full(joints.size, _NO_PIXEL, dtype=np.int64)
        for joint in np.unique(joints).tolist():
            self._search(joint, np.flatnonzero(joints == joint))

    def _raise(self, pair: np.ndarray, value: np.ndarray, index: np.ndarray) -> None:
        """Fold candidates in: a larger value wins; an equal value keeps the smaller pixel index."""
        order = np.lexsort((index, -value, pair))
        pair, value, index = pair[order], value[order], index[order]
        first = np.concatenate([[True], pair[1:] != pair[:-1]])
        p, v, i = pair[first], value[first], index[first]
        better = (v > self.value[p]) | ((v == self.value[p]) & (i < self.index[p]))
        self.value[p[better]] = v[better]
        self.index[p[better]] = i[better]

    def _pixels(self, stats: _CellStats, cells: np.ndarray) -> np.ndarray:
        """``[M, side²]`` flat pixel indices of cells (clamped at the map edge; repeats are harmless)."""
        side = stats.side
        oy, ox = np.divmod(np.arange(side * side), side)
        cy, cx = np.divmod(cells, stats.grid[1])
        ys = np.minimum((cy * side)[:, None] + oy, self.height - 1)
        xs = np.minimum((cx * side)[:, None] + ox, self.width - 1)
        return ys * self.width + xs

    def _evaluate(self, joint: int, pair: np.ndarray, stats: _CellStats, cells: np.ndarray) -> None:
        pix = self._pixels(stats, cells)
        goal = _refine_goal(self.det[joint][pix], self.tag[joint][pix], self.means[pair][:, None, :])
        best = goal.max(axis=1)
        self._raise(pair, best, np.where(goal == best[:, None], pix, _NO_PIXEL).min(axis=1))

    def _children(self, tiles: np.ndarray) -> np.ndarray:
        """``[M, 16]`` ids of the 4×4 cells inside 16×16 tiles (clamped at the grid edge)."""
        k = _TILE // _SUB
        ty, tx = np.divmod(tiles, self.coarse.grid[1])
        dy, dx = np.divmod(np.arange(k * k), k)
        fy = np.minimum((ty * k)[:, None] + dy, self.fine.grid[0] - 1)
        fx = np.minimum((tx * k)[:, None] + dx, self.fine.grid[1] - 1)
        return fy * self.fine.grid[1] + fx

    def _search(self, joint: int, sel: np.ndarray) -> None:
        means = self.means[sel]
        value, uniform = self.coarse.bounds(joint, None, means)
        exact = np.where(uniform, value, np.float32(-np.inf))
        self.value[sel] = exact.max(axis=1)
        # Open the tiles that may hold something better, most promising first.
        rows, tiles = np.nonzero(~uniform & (value >= self.value[sel][:, None]))
        order = np.argsort(-value[rows, tiles], kind="stable")
        rows, tiles = rows[order], tiles[order]
        tied_pair, tied_cell = [], []
        chunk = 64
        while rows.size:
            pair, part = sel[rows[:chunk]], tiles[:chunk]
            rows, tiles = rows[chunk:], tiles[chunk:]
            cells = self._children(part)
            sub_value, sub_uniform = self.fine.bounds(joint, cells, self.means[pair])
            sub_exact = np.where(sub_uniform, sub_value, np.float32(-np.inf))
            self._raise(pair, sub_exact.max(axis=1), np.full(pair.size, _NO_PIXEL))
            reach = sub_value >= self.value[pair][:, None]
            r, c = np.nonzero(sub_uniform & reach)  # may tie with the final best: keep for the scan
            tied_pair.append(pair[r])
            tied_cell.append(cells[r, c])
            r, c = np.nonzero(~sub_uniform & reach)
            if r.size:
                self._evaluate(joint, pair[r], self.fine, cells[r, c])
            alive = value[rows, tiles] >= self.value[sel[rows]]
            rows, tiles = rows[alive], tiles[alive]
            chunk *= 2
        # Cells valued exactly that reach the final best: scan their pixels for the first index.
        r, t = np.nonzero(uniform & (exact == self.value[sel][:, None]))
        if r.size:
            self._evaluate(joint, sel[r], self.coarse, t)
        if tied_pair:
            pair, cells = np.concatenate(tied_pair), np.concatenate(tied_cell)
            fine_value, _ = self.fine.bounds(joint, cells[:, None], self.means[pair])
            keep = fine_value[:, 0] == self.value[pair]
            if keep.any():
                self._evaluate(joint, pair[keep], self.fine, cells[keep])


def _refine_people(det: np.ndarray, tag: np.ndarray, people: np.ndarray) -> np.ndarray:
    out = np.array(people, dtype=np.float32, copy=True)
    if out.shape[0] == 0:
        return out
    num_joints, _, width = det.shape
    found = out[:, :, 2] > 0
    count = found.sum(axis=1)
    if (count == 0).any():
        raise ValueError("refine: every person needs at least one joint with a value > 0")
    xi = np.where(found, out[:, :, 0], 0).astype(np.int32)
    yi = np.where(found, out[:, :, 1], 0).astype(np.int32)
    picked = tag[np.arange(num_joints)[None, :], yi, xi]  # [N, J, L]
    total = np.zeros((out.shape[0], tag.shape[3]), dtype=np.float32)
    for j in range(num_joints):  # sequential float32 sum in joint order
        total = np.where(found[:, j, None], total + picked[:, j], total)
    means = total / count.astype(np.float32)[:, None]
    person, joint = np.nonzero(out[:, :, 2] == 0)
    if person.size == 0:
        return out
    best = _BestPixels(det, tag, joint, means[person]).index
    y, x = np.divmod(best, width)
    val = det[joint, y, x]
    dx, dy = _quarter_offsets(det, joint, x, y)
    fill = val > 0
    half = np.float32(0.5)
    out[person[fill], joint[fill], 0] = (x[fill].astype(np.float32) + half) + dx[fill]
    out[person[fill], joint[fill], 1] = (y[fill].astype(np.float32) + half) + dy[fill]
    out[person[fill], joint[fill], 2] = val[fill]
    return out


def refine_person(person: np.ndarray, heatmaps: np.ndarray, tags: np.ndarray) -> np.ndarray:
    """Fill one person's missing joints from the full maps (the official ``refine``).

    Args:
        person: ``[J, C]`` rows ``(x, y, val, ...)`` (adjusted coordinates); at least one ``val > 0``.
        heatmaps: ``[J, H, W]`` raw heatmaps.
        tags: ``[J, H, W, L]`` (or ``[J, H, W]``) tag maps.

    Returns:
        A float32 copy of ``person`` with missing joints (``val == 0``) filled where the best pixel's
        value is ``> 0``.

    Shapes:
        person ``[J, C]``, heatmaps ``[J, H, W]``, tags ``[J, H, W, L]`` -> ``[J, C]``.
    """
    det, tag = _as_maps(heatmaps, tags)
    row = np.asarray(person, dtype=np.float32)
    if row.ndim != 2 or row.shape[0] != det.shape[0] or row.shape[1] < 3:
        raise ValueError(f"person: expected shape [J={det.shape[0]}, >=3], got {list(row.shape)}")
    return _refine_people(det, tag, row[None])[0]


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------

def decode(
    heatmaps: np.ndarray,
    tags: np.ndarray,
    *,
    detection_threshold: float = DETECTION_THRESHOLD,
    tag_threshold: float = 1.0,
    max_people: int = 30,
    nms_kernel: int = 5,
    adjust: bool = True,
    refine: bool = True,
    joint_order: Any = None,
    assignment: str = "munkres",
    fix_key_collisions: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Group heatmap peaks into people by their associative-embedding tags.

    Same people, coordinates and scores as the official ``HeatmapParser.parse`` (see the module
    docstring for every step and the few documented tie rules). Runs without PyTorch.

    Args:
        heatmaps: ``[J, H, W]`` heatmaps (a leading batch axis of size 1 is accepted).
        tags: ``[J, H, W, L]`` tag maps, ``L = 1``, or 2 with flip test (``[J, H, W]`` means ``L = 1``).
        detection_threshold: peaks need a value above this (>= 0).
        tag_threshold: a joint joins a person when their tag distance is below this.
        max_people: peaks per joint, and people offered to each joint's matching.
        nms_kernel: odd NMS window side.
        adjust: apply the quarter-pixel adjust and ``+0.5``.
        refine: fill missing joints from the full maps.
        joint_order: matching order; ``None`` is the official order for ``J`` joints. Pass
            ``CROWDPOSE.anatomical_order`` (or any permutation) for the fixed CrowdPose order.
        assignment: ``"munkres"`` reproduces the official tie-breaking; ``"scipy"`` uses
            ``scipy.optimize.linear_sum_assignment``.
        fix_key_collisions: see :func:`match_by_tag` (default: official behaviour).

    Returns:
        ``(keypoints, scores)``: ``[N, J, 3]`` float32 ``(x, y, value)`` in map pixels and ``[N]``
        float32 person scores, people in the official order.

    Shapes:
        heatmaps ``[J, H, W]``, tags ``[J, H, W, L]`` -> keypoints ``[N, J, 3]``, scores ``[N]``.
    """
    _check_params(detection_threshold, tag_threshold, max_people, nms_kernel)
    det, tag = _as_maps(heatmaps, tags)
    cand = _peak_candidates(det, tag, int(max_people), float(detection_threshold), int(nms_kernel))
    people = match_by_tag(cand, detection_threshold=detection_threshold, tag_threshold=tag_threshold,
                          max_people=int(max_people), joint_order=joint_order, assignment=assignment,
                          fix_key_collisions=fix_key_collisions)
    if adjust:
        people = adjust_positions(people, det)
    scores = _person_scores(people)
    if refine:
        people = _refine_people(det, tag, people)
    return np.ascontiguousarray(people[:, :, :3]), scores


def keypoints_to_image(keypoints: np.ndarray, resize_meta: ResizeMeta, map_w: int, map_h: int) -> np.ndarray:
    """Map decoded keypoints from map pixels back to original image pixels (``get_final_preds``).

    Args:
        keypoints: ``[..., 3]`` ``(x, y, value)`` in pixels of a ``map_w × map_h`` map.
        resize_meta: the test-time resize of the image (:func:`litepose.geometry.test_resize_meta`).
        map_w: width of the maps the keypoints were decoded from.
        map_h: height of those maps.

    Returns:
        float64 ``[..., 3]``: ``(x, y)`` in original image pixels, value unchanged.

    Shapes:
        ``[N, J, 3]`` -> ``[N, J, 3]`` (any leading axes).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape[-1] < 3:
        raise ValueError(f"keypoints: last axis must hold (x, y, value), got shape {list(kp.shape)}")
    out = kp[..., :3].copy()
    out[..., :2] = resize_meta.to_original(kp[..., :2], map_w, map_h)
    return out

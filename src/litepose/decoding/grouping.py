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

Speed. Two backends give identical results (``backend=``, :data:`BACKENDS`). The NumPy path: NMS only
inspects pixels above the threshold, tag matching is vectorised per joint, and refine finds its argmax
by branch and bound: 16×16 and 4×4 cells carry their maximum heatmap value and tag range; where the
rounded tag distance cannot change inside a cell, the cell's best value is known exactly without
reading its pixels, and other cells are opened (16 -> 4 -> pixels) only while their upper bound
reaches the best value found. The answer is the same pixel as the dense search's. The numba path
(:mod:`~litepose.decoding.numba_kernels`, the ``fast`` extra; the default when numba is installed)
runs the same steps as compiled loops after one pass over the maps, and refines over a per-joint tree
of cells sorted by tag: ~10× faster again, ≈6-9 ms for 30 people on 512×512 maps.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

# The steps live in their own modules; the public names are re-exported here, where they have always
# been imported from.
from litepose.decoding.assignment import ASSIGNMENT_SOLVERS, munkres_assignment
from litepose.decoding.matching import DETECTION_THRESHOLD, match_by_tag, resolve_joint_order
from litepose.decoding.peaks import Candidates, heatmap_nms, peak_candidates, top_k_candidates
from litepose.decoding.refine import adjust_positions, refine_people

if TYPE_CHECKING:
    from litepose.geometry import ResizeMeta

__all__ = [
    "BACKENDS",
    "DETECTION_THRESHOLD",
    "Candidates",
    "adjust_positions",
    "decode",
    "heatmap_nms",
    "keypoints_to_image",
    "match_by_tag",
    "munkres_assignment",
    "numba_available",
    "refine_person",
    "resolve_joint_order",
    "top_k_candidates",
]

#: ``backend=`` names accepted by :func:`decode`: ``"numba"`` (compiled kernels, the ``fast`` extra),
#: ``"numpy"`` (no compiler needed) or ``"auto"`` (numba when it is installed). Both give the same results.
BACKENDS = ("auto", "numba", "numpy")


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------

def _as_maps(heatmaps: Any, tags: Any, check_finite: bool = True) -> tuple[np.ndarray, np.ndarray]:
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
    # (The numba backend checks this in its first pass over the maps instead.)
    for name, arr in (("heatmaps", det), ("tags", tag)):
        if check_finite and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
            raise ValueError(f"{name}: contains NaN or infinite values")
    return det, tag


def numba_available() -> bool:
    """Whether the numba backend can run (the ``fast`` extra is installed)."""
    return importlib.util.find_spec("numba") is not None


def _numba_kernels(backend: str) -> ModuleType | None:
    """The compiled kernels for ``backend``, or None for the NumPy path."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if backend == "numpy" or (backend == "auto" and not numba_available()):
        return None
    try:
        return importlib.import_module("litepose.decoding.numba_kernels")
    except ImportError as exc:  # not installed, or an install that cannot load (e.g. a NumPy it does not support)
        if backend == "numba":
            raise ValueError(f"backend='numba' needs a working numba (pip install 'litepose[fast]'): {exc}") \
                from None
        return None


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
# Entry points
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
    backend: str = "auto",
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
        backend: ``"auto"`` (numba when installed), ``"numba"`` or ``"numpy"``; see :data:`BACKENDS`.
            The results are identical; numba is ~10× faster on crowds (the first call in a fresh
            environment compiles its kernels, 15-20 s of CPU, then they are cached on disk; the kernels
            release the GIL, so threads may decode in parallel).

    Returns:
        ``(keypoints, scores)``: ``[N, J, 3]`` float32 ``(x, y, value)`` in map pixels and ``[N]``
        float32 person scores, people in the official order.

    Shapes:
        heatmaps ``[J, H, W]``, tags ``[J, H, W, L]`` -> keypoints ``[N, J, 3]``, scores ``[N]``.
    """
    _check_params(detection_threshold, tag_threshold, max_people, nms_kernel)
    if assignment not in ASSIGNMENT_SOLVERS:
        raise ValueError(f"assignment must be one of {sorted(ASSIGNMENT_SOLVERS)}, got {assignment!r}")
    kernels = _numba_kernels(backend)
    det, tag = _as_maps(heatmaps, tags, check_finite=kernels is None)
    if kernels is not None:
        return _decode_numba(kernels, det, tag, detection_threshold=float(detection_threshold),
                             tag_threshold=float(tag_threshold), max_people=int(max_people),
                             nms_kernel=int(nms_kernel), adjust=adjust, refine=refine, joint_order=joint_order,
                             assignment=assignment, fix_key_collisions=bool(fix_key_collisions))
    cand = peak_candidates(det, tag, int(max_people), float(detection_threshold), int(nms_kernel))
    people = match_by_tag(cand, detection_threshold=detection_threshold, tag_threshold=tag_threshold,
                          max_people=int(max_people), joint_order=joint_order, assignment=assignment,
                          fix_key_collisions=fix_key_collisions)
    if adjust:
        people = adjust_positions(people, det)
    scores = _person_scores(people)
    if refine:
        people = refine_people(det, tag, people)
    return np.ascontiguousarray(people[:, :, :3]), scores


def _decode_numba(kernels: ModuleType, det: np.ndarray, tag: np.ndarray, *, detection_threshold: float,
                  tag_threshold: float, max_people: int, nms_kernel: int, adjust: bool, refine: bool,
                  joint_order: Any, assignment: str, fix_key_collisions: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`decode`'s steps with the compiled kernels (same results; see :mod:`~litepose.decoding.numba_kernels`)."""
    num_joints, height, width = det.shape
    dim = tag.shape[3]
    cells = kernels.CELL
    dmax, lo, hi, det_ok, tag_ok = kernels.cell_stats(det, tag, cells)
    if not det_ok:
        raise ValueError("heatmaps: contains NaN or infinite values")
    if not tag_ok:
        raise ValueError("tags: contains NaN or infinite values")
    # More people than pixels changes nothing; the cap keeps the kernels' integers and buffers small.
    max_people = min(max_people, num_joints * height * width)
    xy, val, tag_k = kernels.peak_candidates(det, tag, dmax, cells, max_people, detection_threshold, nms_kernel)
    order = resolve_joint_order(joint_order, num_joints)
    if assignment == "munkres" and num_joints < kernels.PAIRWISE_LIMIT and dim <= kernels.PAIRWISE_LIMIT:
        people = kernels.match_by_tag(xy, val, tag_k, np.asarray(order, np.int64), detection_threshold,
                                      tag_threshold, max_people, fix_key_collisions)
    else:  # scipy's assignment (or absurdly many joints or channels): the NumPy matcher
        people = match_by_tag(Candidates(xy, val, tag_k), detection_threshold=detection_threshold,
                              tag_threshold=tag_threshold, max_people=max_people, joint_order=order,
                              assignment=assignment, fix_key_collisions=fix_key_collisions)
    if adjust:
        people = adjust_positions(people, det)
    scores = _person_scores(people)
    if refine and people.shape[0]:
        people = kernels.refine_people(det, tag, people, dmax, lo, hi)
    return np.ascontiguousarray(people[:, :, :3]), scores


def _person_scores(people: np.ndarray) -> np.ndarray:
    # Row-wise reduction = NumPy's pairwise sum of each person's value column, as ``person[:, 2].mean()``.
    vals = np.ascontiguousarray(people[:, :, 2], dtype=np.float32)
    return (np.add.reduce(vals, axis=1) / np.float32(vals.shape[1])).astype(np.float32)


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
    return refine_people(det, tag, row[None])[0]


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

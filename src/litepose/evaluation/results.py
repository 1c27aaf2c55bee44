"""COCO keypoint *results* files: one entry per detected person.

The format is the one ``pycocotools`` ``COCO.loadRes`` reads and the official LitePose writer
produces (reference §5.4)::

    {"image_id": int, "category_id": 1, "keypoints": [x1, y1, s1, ..., xJ, yJ, sJ],
     "score": float, "bbox": [min_x, min_y, w, h]}

``s_j`` is the per-joint heatmap value. The bbox spans **all** J keypoints, as the official writer
does (it takes the min/max over every joint; after refine every joint of a person has a position).
It matters for evaluation: ``loadRes`` derives each detection's area from the bbox, and that area
decides which area range (medium/large) an unmatched detection counts against.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from litepose.io import atomic_write_json

__all__ = ["load_results", "to_coco_results", "validate_results", "write_results"]


def to_coco_results(image_id: int, keypoints: np.ndarray, scores: np.ndarray, *,
                    category_id: int = 1) -> list[dict[str, Any]]:
    """Convert the people found in one image to COCO results entries.

    Args:
        image_id: the image's id in the annotation file.
        keypoints: ``(x, y, score)`` per joint in original image pixels.
        scores: one instance score per person (used by COCOeval to rank detections).
        category_id: COCO category; 1 is ``person``.

    Returns:
        One dict per person with plain Python floats (JSON serialisable).

    Shapes:
        keypoints ``(N, J, 3)``, scores ``(N,)``.
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    if kpts.ndim != 3 or kpts.shape[2] != 3:
        raise ValueError(f"keypoints must have shape (N, J, 3), got {kpts.shape}")
    if kpts.shape[0] != sc.shape[0]:
        raise ValueError(f"{kpts.shape[0]} people in keypoints but {sc.shape[0]} scores")
    out: list[dict[str, Any]] = []
    for person, score in zip(kpts, sc, strict=True):
        lo = person[:, :2].min(axis=0)
        hi = person[:, :2].max(axis=0)
        out.append({
            "image_id": int(image_id),
            "category_id": int(category_id),
            "keypoints": [float(v) for v in person.reshape(-1)],
            "score": float(score),
            "bbox": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])],
        })
    return out


def validate_results(results: Any, *, source: str = "results",
                     num_keypoints: int | None = None) -> list[dict[str, Any]]:
    """Check that ``results`` is a list of COCO keypoint results; raise ``ValueError`` naming the entry.

    Args:
        results: the parsed JSON (should be a list of dicts).
        source: how to name the results in error messages (usually the file path).
        num_keypoints: when given, every ``keypoints`` list must hold ``3 * num_keypoints`` numbers.

    Returns:
        ``results`` itself, unchanged.
    """
    if not isinstance(results, list):
        raise ValueError(f"{source}: COCO results must be a JSON list of objects, got {type(results).__name__}")
    for i, entry in enumerate(results):
        where = f"{source}: entry {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be an object, got {type(entry).__name__}")
        for key in ("image_id", "keypoints", "score"):
            if key not in entry:
                raise ValueError(f"{where}: missing field {key!r}")
        if isinstance(entry["image_id"], bool) or not isinstance(entry["image_id"], int):
            raise ValueError(f"{where}: 'image_id' must be an integer, got {entry['image_id']!r}")
        kp = entry["keypoints"]
        if not isinstance(kp, list) or not kp or len(kp) % 3:
            raise ValueError(f"{where}: 'keypoints' must be a non-empty list of 3*J numbers")
        if num_keypoints is not None and len(kp) != 3 * num_keypoints:
            raise ValueError(f"{where}: 'keypoints' has {len(kp)} numbers, expected 3*{num_keypoints}="
                             f"{3 * num_keypoints}")
        if not all(_is_finite_number(v) for v in kp):
            raise ValueError(f"{where}: 'keypoints' must hold finite numbers")
        if not _is_finite_number(entry["score"]):
            raise ValueError(f"{where}: 'score' must be a finite number, got {entry['score']!r}")
        if "bbox" in entry:
            bb = entry["bbox"]
            if not isinstance(bb, list) or len(bb) != 4 or not all(_is_finite_number(v) for v in bb):
                raise ValueError(f"{where}: 'bbox' must be [x, y, w, h]")
    return results


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def write_results(path: str | os.PathLike[str], results: Sequence[dict[str, Any]]) -> Path:
    """Validate and write COCO results to ``path`` atomically (never a half-written file).

    Returns:
        The path written.
    """
    target = Path(path)
    validate_results(list(results), source=str(target))
    atomic_write_json(target, list(results))
    return target


def load_results(path: str | os.PathLike[str], *, num_keypoints: int | None = None) -> list[dict[str, Any]]:
    """Read and validate a COCO results file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not JSON, or not a list of keypoint results (the message names the entry and field).
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such results file")
    try:
        raw = json.loads(source.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{source}: not a JSON file: {err}") from None
    return validate_results(raw, source=str(source), num_keypoints=num_keypoints)

"""Keypoint AP on COCO and CrowdPose through the reference toolkits (reference §5.4).

* COCO: ``pycocotools`` ``COCOeval(iouType="keypoints")`` with the skeleton's OKS sigmas. The
  numbers are exactly those of calling pycocotools directly on the same results.
* CrowdPose: ``xtcocotools`` ``COCOeval(iouType="keypoints_crowd", use_area=False)`` with the
  CrowdPose sigmas; it reproduces the official ``crowdposetools`` evaluation (AP over all images,
  plus AP on the easy / medium / hard splits by each image's ``crowdIndex``: < 0.2, < 0.8, rest).
  The official code reads ``crowdposetools`` stats indices ``[0, 1, 2, 5, 6, 7, 8, 9, 10]``;
  xtcocotools returns the same nine numbers as ``stats[0:9]``.

As in pycocotools, ``-1.0`` means "no ground truth in this subset" (e.g. ``APm`` when no person has a
medium area, or ``AP_hard`` when no image has ``crowdIndex >= 0.8``).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from litepose.evaluation.results import load_results, validate_results
from litepose.skeleton import CROWDPOSE, get_skeleton, skeleton_from_coco_category

__all__ = ["COCO_METRICS", "CROWDPOSE_METRICS", "detect_kind", "evaluate_coco", "format_metrics"]

COCO_METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
CROWDPOSE_METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium",
                                      "AP_hard")

Kind = Literal["coco", "crowdpose"]


def _read_annotations(ann_file: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(ann_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such annotation file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a JSON file: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a COCO annotation file must hold an object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{path}: missing list field {key!r}")
    return data


def _keypoint_category(data: dict[str, Any], source: str) -> dict[str, Any]:
    cats = [c for c in data["categories"] if c.get("keypoints")]
    if cats:
        return cats[0]
    # Some converted datasets drop the keypoint names; infer J from the annotations.
    for ann in data["annotations"]:
        if ann.get("keypoints"):
            return {"id": ann.get("category_id", 1), "num_keypoints_only": len(ann["keypoints"]) // 3}
    raise ValueError(f"{source}: no category with 'keypoints' and no annotation with keypoints")


def _num_keypoints(category: dict[str, Any]) -> int:
    if "num_keypoints_only" in category:
        return int(category["num_keypoints_only"])
    return len(category["keypoints"])


def detect_kind(data: dict[str, Any]) -> Kind:
    """``"crowdpose"`` when every image has a ``crowdIndex`` (the CrowdPose json), or when the file has
    14 keypoints and its annotations carry no ``area`` (CrowdPose without crowd indices, which then
    fails with a clear message); ``"coco"`` otherwise."""
    images = data.get("images") or []
    if images and all("crowdIndex" in im for im in images):
        return "crowdpose"
    anns = data.get("annotations") or []
    try:
        joints = _num_keypoints(_keypoint_category(data, "annotations"))
    except ValueError:
        return "coco"
    if joints == CROWDPOSE.num_keypoints and anns and not any("area" in a for a in anns):
        return "crowdpose"
    return "coco"


def _default_sigmas(kind: Kind, category: dict[str, Any], source: str) -> np.ndarray:
    if kind == "crowdpose":
        if _num_keypoints(category) != CROWDPOSE.num_keypoints:
            raise ValueError(f"{source}: the CrowdPose sigmas are for {CROWDPOSE.num_keypoints} keypoints but the "
                             f"file has {_num_keypoints(category)}; pass sigmas explicitly")
        return np.array(CROWDPOSE.oks_sigmas, dtype=np.float64)
    if "keypoints" in category:
        skeleton = skeleton_from_coco_category(category, source=source)
    else:
        skeleton = get_skeleton(_num_keypoints(category))
    return np.array(skeleton.oks_sigmas, dtype=np.float64)


def evaluate_coco(results: Sequence[dict[str, Any]] | str | os.PathLike[str], ann_file: str | os.PathLike[str],
                  *, kind: Kind | None = None, sigmas: Sequence[float] | None = None,
                  verbose: bool = False) -> dict[str, float]:
    """Keypoint AP/AR of ``results`` against the ground truth in ``ann_file``.

    Args:
        results: COCO keypoint results (a list of dicts) or the path of a results JSON file.
            Entries without ``category_id`` are given the file's keypoint category.
        ann_file: COCO-format annotation json (COCO person keypoints or CrowdPose).
        kind: ``"coco"`` (pycocotools, metrics :data:`COCO_METRICS`) or ``"crowdpose"``
            (xtcocotools ``keypoints_crowd``, metrics :data:`CROWDPOSE_METRICS`); ``None`` picks by
            :func:`detect_kind`.
        sigmas: per-joint OKS sigmas; default: the skeleton's (COCO-17 for a COCO file, CrowdPose-14
            for CrowdPose, the named joints' COCO sigmas for custom skeletons).
        verbose: let the toolkit print its progress and summary table.

    Returns:
        Metric name -> value in [0, 1] (``-1.0`` where the subset has no ground truth). Empty
        results give 0.0 for every metric, with a warning.

    Raises:
        FileNotFoundError: ``ann_file`` or the results file is missing.
        ValueError: malformed results, results naming image ids or categories absent from
            ``ann_file``, a keypoint count that differs from the annotations', or a CrowdPose file
            without ``crowdIndex``.
    """
    source = str(ann_file)
    data = _read_annotations(ann_file)
    category = _keypoint_category(data, source)
    num_joints = _num_keypoints(category)
    if kind is None:
        kind = detect_kind(data)
    if kind not in ("coco", "crowdpose"):
        raise ValueError(f"unknown evaluation kind {kind!r}; choose 'coco' or 'crowdpose'")

    if isinstance(results, str | os.PathLike):
        entries = load_results(results, num_keypoints=num_joints)
    else:
        entries = validate_results(list(results), num_keypoints=num_joints)
    # loadRes adds fields (id, area, segmentation) to the dicts it is given: work on a copy.
    entries = copy.deepcopy(entries)

    image_ids = {im["id"] for im in data["images"]}
    unknown = sorted({e["image_id"] for e in entries} - image_ids)
    if unknown:
        shown = ", ".join(str(i) for i in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"results name {len(unknown)} image id(s) not in {source}: {shown}")
    cat_ids = {c["id"] for c in data["categories"]}
    for e in entries:
        e.setdefault("category_id", category["id"])
    bad_cats = sorted({e["category_id"] for e in entries} - cat_ids)
    if bad_cats:
        raise ValueError(f"results use category_id {bad_cats} not in {source} (categories {sorted(cat_ids)})")

    names = COCO_METRICS if kind == "coco" else CROWDPOSE_METRICS
    if kind == "crowdpose" and not all("crowdIndex" in im for im in data["images"]):
        raise ValueError(f"{source}: CrowdPose evaluation needs 'crowdIndex' on every image "
                         "(for the easy/medium/hard split); use kind='coco' for other files")
    if kind == "coco":
        missing_area = [a.get("id") for a in data["annotations"] if "area" not in a]
        if missing_area:
            raise ValueError(f"{source}: COCO evaluation needs 'area' on every annotation "
                             f"(missing on annotation id {missing_area[0]}); CrowdPose files need kind='crowdpose'")
    sig = _default_sigmas(kind, category, source) if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    if sig.shape != (num_joints,) or not np.all(sig > 0):
        raise ValueError(f"sigmas: need {num_joints} positive values for {source}, got {sig.tolist()}")

    if not entries:
        # The toolkits cannot score an empty list; every AP/AR is 0 then, which should not pass unnoticed.
        warnings.warn(f"no results to evaluate (no person detected in any image of {source}): every metric is 0",
                      stacklevel=2)
        return dict.fromkeys(names, 0.0)

    out_stream: contextlib.AbstractContextManager[Any] = (
        contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO()))
    with out_stream:
        if kind == "coco":
            stats = _run_pycocotools(data, entries, sig)
        else:
            stats = _run_xtcocotools(Path(ann_file), entries, sig)
    return {name: float(value) for name, value in zip(names, stats, strict=True)}


def _run_pycocotools(data: dict[str, Any], entries: list[dict[str, Any]], sigmas: np.ndarray) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO()
    # Same as COCO(ann_file) without reading the file a second time.
    gt.dataset = data
    gt.createIndex()
    dt = gt.loadRes(entries)
    ev = COCOeval(gt, dt, iouType="keypoints")
    ev.params.kpt_oks_sigmas = sigmas
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return np.asarray(ev.stats[: len(COCO_METRICS)], dtype=np.float64)


def _run_xtcocotools(ann_file: Path, entries: list[dict[str, Any]], sigmas: np.ndarray) -> np.ndarray:
    try:
        from xtcocotools.coco import COCO
        from xtcocotools.cocoeval import COCOeval
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError("CrowdPose evaluation needs xtcocotools: pip install --no-binary xtcocotools "
                         "--no-build-isolation xtcocotools (after numpy and cython)") from None

    # xtcocotools re-reads the annotation file by path for the crowdIndex split.
    gt = COCO(str(ann_file))
    dt = gt.loadRes(entries)
    ev = COCOeval(gt, dt, iouType="keypoints_crowd", sigmas=sigmas, use_area=False)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return np.asarray(ev.stats[: len(CROWDPOSE_METRICS)], dtype=np.float64)


def format_metrics(metrics: dict[str, float], *, title: str | None = None) -> str:
    """A two-row plain-text table (names over values, values in percent with one decimal)."""
    names = list(metrics)
    cells = [f"{100.0 * metrics[n]:.1f}" if metrics[n] >= 0 else "n/a" for n in names]
    widths = [max(len(n), len(c)) for n, c in zip(names, cells, strict=True)]
    head = " | ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))
    row = " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
    rule = "-+-".join("-" * w for w in widths)
    lines = [title] if title else []
    lines += [head, rule, row]
    return "\n".join(lines)

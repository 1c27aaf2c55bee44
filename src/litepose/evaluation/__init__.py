"""Evaluation: COCO keypoint results files and AP through pycocotools / xtcocotools."""

from __future__ import annotations

from litepose.evaluation.coco import COCO_METRICS, CROWDPOSE_METRICS, detect_kind, evaluate_coco, format_metrics
from litepose.evaluation.results import load_results, to_coco_results, validate_results, write_results

__all__ = [
    "COCO_METRICS",
    "CROWDPOSE_METRICS",
    "detect_kind",
    "evaluate_coco",
    "format_metrics",
    "load_results",
    "to_coco_results",
    "validate_results",
    "write_results",
]

"""Evaluation: COCO keypoint results files, AP through pycocotools / xtcocotools, and the AP of a model
on an annotated image folder (:func:`evaluate_model`)."""

from __future__ import annotations

from litepose.evaluation.coco import COCO_METRICS, CROWDPOSE_METRICS, detect_kind, evaluate_coco, format_metrics
from litepose.evaluation.model import ModelEvaluation, annotated_images, evaluate_model
from litepose.evaluation.results import load_results, to_coco_results, validate_results, write_results

__all__ = [
    "COCO_METRICS",
    "CROWDPOSE_METRICS",
    "ModelEvaluation",
    "annotated_images",
    "detect_kind",
    "evaluate_coco",
    "evaluate_model",
    "format_metrics",
    "load_results",
    "to_coco_results",
    "validate_results",
    "write_results",
]

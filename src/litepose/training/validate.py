"""Validation AP during training, with the project's predictor and evaluator.

The model runs through :class:`litepose.inference.predictor.Predictor` (the full test pipeline of
reference §5: resize, NMS, tag grouping, adjust/refine, back to image pixels) without flip test by
default, which halves the cost; the results are scored by :func:`litepose.evaluation.coco.evaluate_coco`
(pycocotools for COCO-style files, xtcocotools for CrowdPose). Under ``torchrun`` every process
predicts its share of the images and rank 0 evaluates the gathered results.

``subset=N`` evaluates the first ``N`` images of the JSON only; the ground truth is cut to those images
(written beside the run as ``val_subset.json``) so that AP is not diluted by images never predicted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from litepose.decoding.grouping import DETECTION_THRESHOLD
from litepose.skeleton import Skeleton
from litepose.training import distributed as D

__all__ = ["predict_images", "subset_annotations", "validate"]


def subset_annotations(ann_file: str | Path, num_images: int, out_file: str | Path) -> Path:
    """Write the first ``num_images`` images of ``ann_file`` (and only their annotations) to ``out_file``."""
    from litepose.io import atomic_write_json

    data = json.loads(Path(ann_file).read_text())
    images = data["images"][:num_images]
    keep = {im["id"] for im in images}
    subset = {**data, "images": images, "annotations": [a for a in data["annotations"] if a["image_id"] in keep]}
    atomic_write_json(out_file, subset)
    return Path(out_file)


def predict_images(model: nn.Module, images: Sequence[tuple[int, Path]], *, skeleton: Skeleton | None,
                   input_size: int, flip: bool = False, detection_threshold: float = DETECTION_THRESHOLD,
                   progress: bool = False, desc: str = "validate") -> list[dict[str, Any]]:
    """COCO keypoint results for ``(image_id, path)`` pairs (the model is put in eval mode).

    ``detection_threshold`` is the grouping's candidate threshold (official: 0.1), see :class:`Predictor`.
    """
    from litepose.data.dataset import read_image_rgb
    from litepose.inference.predictor import Predictor

    was_training = model.training
    model.eval()
    # The predictor moves the model to its device: give it the one the model is on.
    device = next(model.parameters()).device
    predictor = Predictor(model, device=device, skeleton=skeleton, flip_test=flip, input_size=input_size,
                          detection_threshold=detection_threshold)
    results: list[dict[str, Any]] = []
    iterator: Any = images
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(images, desc=desc, leave=False, unit="img", dynamic_ncols=True)
    try:
        with torch.inference_mode():
            for image_id, path in iterator:
                image = read_image_rgb(path)
                if image is None:
                    raise FileNotFoundError(f"validation image id={image_id}: cannot read {path}")
                results.extend(predictor(image, keep_image=False).to_coco(image_id))
    finally:
        model.train(was_training)
    return results


def validate(model: nn.Module, ann_file: str | Path, image_dir: str | Path, *, skeleton: Skeleton | None,
             input_size: int, flip: bool = False, detection_threshold: float = DETECTION_THRESHOLD,
             subset: int | None = None, info: D.DistInfo | None = None, work_dir: str | Path | None = None,
             progress: bool = True) -> dict[str, float]:
    """Validation metrics of ``model`` on ``ann_file`` (rank 0 gets them; other ranks get ``{}``).

    Args:
        model: the plain (unwrapped) model.
        ann_file: COCO-format validation JSON.
        image_dir: folder of its images.
        skeleton: keypoint layout (flip index for flip test).
        input_size: the network input side used for testing (the training input size).
        flip: flip test.
        detection_threshold: the grouping's candidate threshold (official: 0.1).
        subset: evaluate on the first ``subset`` images only.
        info: this process's place in a torchrun job (``None``: one process).
        work_dir: where ``val_subset.json`` goes (default: the working directory).
        progress: tqdm bar on rank 0.
    """
    info = info or D.DistInfo()
    ann_path = Path(ann_file)
    data = json.loads(ann_path.read_text())
    images = data.get("images", [])
    if subset is not None and subset < len(images):
        images = images[:subset]
        ann_path = Path(work_dir or ".") / "val_subset.json"
        if info.is_main:
            subset_annotations(ann_file, subset, ann_path)
    pairs = [(int(im["id"]), Path(image_dir) / im["file_name"]) for im in images]
    mine = pairs[info.rank::info.world_size]
    results = predict_images(model, mine, skeleton=skeleton, input_size=input_size, flip=flip,
                             detection_threshold=detection_threshold, progress=progress and info.is_main)
    gathered = D.all_gather_objects(results)
    if not info.is_main:
        return {}
    from litepose.evaluation.coco import evaluate_coco

    merged = [r for part in gathered for r in part]
    return evaluate_coco(merged, ann_path)

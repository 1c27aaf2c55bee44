"""Validation AP during training, through the shared :func:`litepose.evaluation.evaluate_model`.

The model runs through :class:`litepose.inference.predictor.Predictor` (the full test pipeline of
reference §5: resize, NMS, tag grouping, adjust/refine, back to image pixels) without flip test by
default, which halves the cost; the results are scored by :func:`litepose.evaluation.coco.evaluate_coco`
(pycocotools for COCO-style files, xtcocotools for CrowdPose). Under ``torchrun`` every process
predicts its share of the images (``rank::world_size``) and rank 0 evaluates the gathered results.

``subset=N`` evaluates the first ``N`` images of the JSON only; the ground truth is cut to those images
(written beside the run as ``val_subset.json``) so that AP is not diluted by images never predicted.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from litepose.decoding.grouping import DETECTION_THRESHOLD
from litepose.evaluation.model import evaluate_model
from litepose.skeleton import Skeleton
from litepose.training import distributed as D

__all__ = ["validate"]


def validate(model: nn.Module, ann_file: str | Path, image_dir: str | Path, *, skeleton: Skeleton | None,
             input_size: int, flip: bool = False, detection_threshold: float = DETECTION_THRESHOLD,
             subset: int | None = None, info: D.DistInfo | None = None, work_dir: str | Path | None = None,
             progress: bool = True) -> dict[str, float]:
    """Validation metrics of ``model`` on ``ann_file`` (rank 0 gets them; other ranks get ``{}``).

    Args:
        model: the plain (unwrapped) model; put back in its training mode afterwards.
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

    Raises:
        ValueError: a validation image cannot be read (the message names its id and file).
    """
    info = info or D.DistInfo()
    evaluation = evaluate_model(model, ann_file, image_dir, subset=subset,
                                subset_ann_file=Path(work_dir or ".") / "val_subset.json",
                                shard=(info.rank, info.world_size), gather=D.all_gather_objects,
                                progress=progress and info.is_main, desc="validate", skeleton=skeleton,
                                input_size=input_size, flip_test=flip, detection_threshold=detection_threshold)
    return evaluation.metrics if evaluation.metrics is not None else {}

"""The supernet evaluator: a candidate's accuracy is the AP of its sub-network after BN recalibration.

For each architecture (reference §2–3, ``calibrate_test.py`` + ``search.py``): the sub-network is
extracted from the supernet (:meth:`~litepose.models.supernet.SuperLitePose.extract`), its BatchNorm
statistics are re-estimated on calibration images (:func:`~litepose.search.calibrate.recalibrate_bn`),
and it is scored with pycocotools on the validation images by
:func:`~litepose.evaluation.evaluate_model`, the code ``litepose eval`` runs.

The calibration images are drawn once, with the training augmentation and a fixed seed, at the
space's largest resolution, and resized for each candidate (as supernet training resizes its batches):
every candidate is calibrated on the same images, so their APs differ by the architecture only.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from litepose.data.dataset import KeypointDataset
from litepose.decoding.grouping import DETECTION_THRESHOLD
from litepose.evaluation.model import evaluate_model, subset_annotations
from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec
from litepose.models.supernet import SuperLitePose, load_supernet
from litepose.search.calibrate import BnMode, recalibrate_bn
from litepose.search.config import SearchConfig
from litepose.skeleton import Skeleton
from litepose.training.distributed import DistInfo, select_device

__all__ = ["CalibrationImages", "SupernetEvaluator", "build_evaluator"]


@dataclass
class CalibrationImages:
    """A fixed set of augmented training images (``(N, 3, S, S)``, float16 on the CPU to halve memory)."""

    images: Tensor
    batch_size: int

    @classmethod
    def draw(cls, ann_file: str | Path, image_dir: str | Path, skeleton: Skeleton | None, *, size: int,
             count: int, batch_size: int, seed: int = 0, workers: int = 0) -> CalibrationImages:
        """``count`` images of ``ann_file`` (cycling if it has fewer) through the training augmentation."""
        dataset = KeypointDataset(ann_file, image_dir, skeleton, input_size=size, train=True, seed=seed)
        if len(dataset) == 0:
            raise ValueError(f"data.calib_ann {ann_file}: no images to calibrate on")
        indices = [i % len(dataset) for i in range(count)]
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size,
                                             num_workers=workers)
        images = torch.cat([batch["image"].half() for batch in loader])
        return cls(images, batch_size)

    def batches(self, size: int, device: torch.device) -> Iterator[Tensor]:
        """The images in batches, resized to ``size`` (bilinear, antialiased when shrinking) on ``device``."""
        side = self.images.shape[-1]
        for start in range(0, len(self.images), self.batch_size):
            batch = self.images[start:start + self.batch_size].to(device).float()
            if size != side:
                batch = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False,
                                      antialias=size < side)
            yield batch


@dataclass
class SupernetEvaluator:
    """Scores architectures by the AP of the supernet's recalibrated sub-networks (see the module docstring).

    ``__call__(archs)`` evaluates them one after the other on this process (the search splits a
    generation across processes before it calls this).
    """

    supernet: SuperLitePose
    skeleton: Skeleton | None
    calibration: CalibrationImages
    calib_batches: int
    val_ann: Path
    val_images: Path
    bn_mode: BnMode = "exact"
    flip_test: bool = True
    detection_threshold: float = DETECTION_THRESHOLD
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    workdir: tempfile.TemporaryDirectory[str] | None = None  # holds the cut ground truth; removed with it

    def evaluate(self, arch: ArchSpec) -> dict[str, float]:
        """Every COCO metric of ``arch``'s recalibrated sub-network."""
        net = self.supernet.extract(arch).to(self.device)
        recalibrate_bn(net, self.calibration.batches(arch.input_size, self.device), self.calib_batches,
                       mode=self.bn_mode)
        evaluation = evaluate_model(net, self.val_ann, self.val_images, skeleton=self.skeleton,
                                    input_size=arch.input_size, flip_test=self.flip_test,
                                    detection_threshold=self.detection_threshold)
        assert evaluation.metrics is not None  # one process: it scores
        return evaluation.metrics

    def __call__(self, archs: Sequence[ArchSpec]) -> list[float]:
        return [float(self.evaluate(arch)["AP"]) for arch in archs]


def build_evaluator(cfg: SearchConfig, supernet_path: str | Path | None, *, info: Any = None) -> SupernetEvaluator:
    """The supernet evaluator of a search config, on this process's device (``cfg.data.device``).

    Raises:
        ValueError, CheckpointError: the supernet does not fit the config (joint count, search space) or
            a data path is missing; the message names the file or field.
    """
    if supernet_path is None:
        raise ValueError("--supernet CKPT is required with --evaluator supernet")
    info = info or DistInfo()
    data = cfg.data
    for key in ("calib_ann", "calib_images", "val_ann", "val_images"):
        if getattr(data, key) is None:
            raise ValueError(f"data.{key} is required with --evaluator supernet")
    space: SearchSpace = cfg.space.build()
    loaded = load_supernet(supernet_path)
    supernet = loaded.model
    if supernet.num_keypoints != cfg.space.num_keypoints:
        raise ValueError(f"--supernet {supernet_path}: predicts {supernet.num_keypoints} keypoints, but "
                         f"space.num_keypoints is {cfg.space.num_keypoints}")
    supernet.check_arch(space.max_arch(), source=f"search space {space.name} (its largest sub-network)")
    device = select_device(data.device, info.local_rank)
    supernet.to(device).eval()
    count = data.calib_batches * data.calib_batch_size
    calibration = CalibrationImages.draw(data.calib_ann, data.calib_images, loaded.skeleton,
                                         size=max(space.resolutions), count=count,
                                         batch_size=data.calib_batch_size, seed=cfg.evolution.seed,
                                         workers=data.workers)
    skeleton = loaded.skeleton
    val_ann = Path(data.val_ann)  # type: ignore[arg-type]
    workdir = None
    if data.val_subset is not None:  # cut the ground truth once, not for every candidate
        total = len(json.loads(val_ann.read_text()).get("images", []))
        if data.val_subset < total:
            workdir = tempfile.TemporaryDirectory(prefix="litepose-search-")
            val_ann = subset_annotations(val_ann, data.val_subset, Path(workdir.name) / "val_subset.json")
    return SupernetEvaluator(supernet, skeleton, calibration, data.calib_batches, val_ann, Path(data.val_images),  # type: ignore[arg-type]
                             data.bn_mode, data.flip_test, data.detection_threshold, device, workdir)

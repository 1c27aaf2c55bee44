"""Heatmap distillation from a frozen teacher network (official ``trainer.py`` semantics, reference §4.5)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from litepose.models.families import PoseNetwork
from litepose.models.litepose import LitePoseOutput
from litepose.training.config import Config, ConfigError
from litepose.training.losses import distill_heatmap_loss

__all__ = ["Teacher", "distill_loss", "load_teacher"]


@dataclass
class Teacher:
    """A frozen teacher network (LitePose, or a HigherHRNet such as HigherHRNet-W32) and the input side it sees."""

    model: PoseNetwork
    input_size: int
    weight: float


def load_teacher(cfg: Config, num_keypoints: int, device: torch.device) -> Teacher | None:
    """The distillation teacher of ``cfg.distill`` (``None`` when distillation is off)."""
    dc = cfg.distill
    if dc.teacher is None or dc.weight == 0:
        return None
    teacher = _teacher_network(dc.teacher)
    if teacher.num_keypoints != num_keypoints:
        raise ConfigError(f"distill.teacher {dc.teacher}: the teacher predicts {teacher.num_keypoints} keypoints, "
                          f"the student {num_keypoints}")
    teacher.eval().requires_grad_(False).to(device)
    if cfg.train.channels_last:
        teacher.to(memory_format=torch.channels_last)
    return Teacher(teacher, dc.teacher_input_size or teacher.spec.input_size, dc.weight)


def _teacher_network(path: str) -> PoseNetwork:
    """A project checkpoint's network (any family), or a supernet checkpoint's largest sub-network (for fine-tuning a
    searched sub-network with distillation from the supernet)."""
    from litepose.models.checkpoint import FORMAT, load_checkpoint, read_checkpoint
    from litepose.models.supernet import SUPERNET_FAMILY, load_supernet

    raw = read_checkpoint(path)
    if isinstance(raw, dict) and raw.get("format") == FORMAT and raw.get("family") == SUPERNET_FAMILY:
        loaded = load_supernet(path)
        largest = loaded.space.max_arch() if loaded.space is not None else loaded.model.spec
        return loaded.model.extract(largest)
    return load_checkpoint(path).model


def distill_loss(teacher: Teacher, images: Tensor, student: LitePoseOutput, masks: list[Tensor],
                 num_keypoints: int) -> Tensor:
    """Official distillation: the input nearest-resized to the teacher's size, the teacher's heatmaps
    nearest-resized to each student output, masked MSE per stage, times the weight."""
    with torch.no_grad():
        x = images
        if x.shape[-1] != teacher.input_size or x.shape[-2] != teacher.input_size:
            x = F.interpolate(x, size=(teacher.input_size, teacher.input_size), mode="nearest")
        t_out = teacher.model(x)
    return teacher.weight * distill_heatmap_loss(list(student), list(t_out), masks, num_keypoints)

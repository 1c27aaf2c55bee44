"""Once-for-all supernet training: which sub-networks a step trains and how its batch is resized for them.

With ``model.supernet: true`` the trainer builds a :class:`~litepose.models.supernet.SuperLitePose` and
each step trains sub-networks of ``search_space`` instead of one network (official ``SuperLitePose``
+ ``trainer.py``, reference §2), through :class:`SupernetObjective`:

* the sub-network of step ``n`` is drawn from ``numpy.random.default_rng([seed, n])``: the same on every
  DDP process and after a resume (the official model re-samples inside ``forward``, independently per
  process);
* the batch, made at ``data.input_size``, is resized to the sub-network's resolution: images and target
  heatmaps bilinearly (antialiased when shrinking: pixel centres stay aligned, where the official
  nearest-neighbour resize shifts the targets by up to half an output pixel), loss masks by nearest
  neighbour, and the packed joint indices of the tag loss re-addressed with
  :func:`~litepose.training.losses.rescale_joint_indices` (the official rescale assumed a 512 grid and
  dropped the joint offset, reference §8.6);
* ``sampling: sandwich`` trains the largest, the smallest and one random sub-network per step (BigNAS);
  ``inplace_distill: w`` also fits every other sub-network of the step to the largest one's heatmaps
  (detached) with weight ``w``, so the largest is then trained every step. Gradients of the step's
  sub-networks are summed; under DDP all but the last backward run inside ``no_sync`` so the processes
  exchange gradients once per step.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec
from litepose.training.loop import Batch, PoseObjective
from litepose.training.losses import distill_heatmap_loss, rescale_joint_indices

__all__ = ["SupernetObjective", "resize_batch", "step_archs"]


def step_archs(space: SearchSpace, seed: int, step: int, sampling: str = "uniform",
               with_largest: bool = False) -> list[ArchSpec]:
    """The sub-networks that training step ``step`` trains, largest first when it is among them."""
    random = space.sample(np.random.default_rng([seed, step]))
    if sampling == "sandwich":
        return [space.max_arch(), space.min_arch(), random]
    return [space.max_arch(), random] if with_largest else [random]


def resize_batch(batch: Batch, size: int, num_keypoints: int) -> Batch:
    """``batch`` (images ``S × S``) resized to input side ``size``, targets and joint indices with it."""
    side = batch.images.shape[-1]
    if size == side:
        return batch

    def smooth(t: Tensor, to: int) -> Tensor:
        return F.interpolate(t, size=(to, to), mode="bilinear", align_corners=False, antialias=to < t.shape[-1])

    images = smooth(batch.images, size)
    heatmaps, masks, joints = [], [], []
    for hm, mask, jt in zip(batch.heatmaps, batch.masks, batch.joints, strict=True):
        stride = side // hm.shape[-1]
        to = size // stride
        heatmaps.append(smooth(hm, to))
        masks.append(F.interpolate(mask[:, None], size=(to, to), mode="nearest")[:, 0])
        joints.append(rescale_joint_indices(jt, hm.shape[-1], to, num_keypoints))
    return Batch(images, heatmaps, masks, joints)


@dataclass
class SupernetObjective:
    """The loss of one supernet training step (see the module docstring).

    Args:
        pose: the single-network objective (loss, external teacher, AMP) applied to each sub-network.
        space: the sub-networks to train.
        seed: with the step, decides the random sub-network.
        sampling: ``uniform`` or ``sandwich``.
        inplace_distill: weight of the largest sub-network's heatmaps as extra targets (0: off).
        scaler: the AMP GradScaler, for the backward passes run here (all but the step's last).
    """

    pose: PoseObjective
    space: SearchSpace
    seed: int
    sampling: str = "uniform"
    inplace_distill: float = 0.0
    scaler: torch.amp.GradScaler | None = None

    def archs(self, step: int) -> list[ArchSpec]:
        return step_archs(self.space, self.seed, step, self.sampling, with_largest=self.inplace_distill > 0)

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        archs = self.archs(step)
        j = self.pose.num_keypoints
        teacher_maps: list[Tensor] | None = None
        done = torch.zeros((), device=batch.images.device)  # detached losses of the sub-networks backwarded here
        sums: dict[str, Tensor] = {}
        last: Tensor | None = None
        for i, arch in enumerate(archs):
            sub = resize_batch(batch, arch.input_size, j)
            device_type = sub.images.device.type
            with torch.autocast(device_type=device_type, dtype=torch.float16, enabled=self.pose.amp):
                outputs = model(sub.images, arch)
            loss, parts = self.pose.loss_of(outputs, sub, sub.images)
            if teacher_maps is not None:
                kd = self.inplace_distill * distill_heatmap_loss(list(outputs), teacher_maps, sub.masks, j)
                loss = loss + kd
                parts["inplace_distill"] = kd
            if i == 0 and self.inplace_distill > 0:
                teacher_maps = [o.detach().float() for o in outputs]
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v.detach()  # type: ignore[assignment]
            if i < len(archs) - 1:  # backward now, so the step holds one sub-network's graph at a time
                sync = model.no_sync() if hasattr(model, "no_sync") else contextlib.nullcontext()
                with sync:
                    (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
                done = done + loss.detach()
            else:
                last = loss
        assert last is not None
        # The loop backwards this; its value is the step's whole loss (the sum over its sub-networks).
        return last + done, sums

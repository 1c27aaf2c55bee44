"""Training losses (reference §4.4): masked heatmap MSE and associative-embedding pull/push.

:class:`LitePoseLoss` combines them as the official ``MultiLossFactory``: a heatmap loss at every
output stage (stride 4 and stride 2) and the tag loss on stage 0 (stride 4) only, with the official
factors (1.0 for heatmaps, 1e-3 for push and pull) as defaults.

The AE loss is vectorised over people and batch (the official code loops over both in Python); it
computes the same values. Tags and heatmaps are promoted to float32, so the losses are safe under AMP.

**Index fix (reference §8.6).** Joint indices address a flattened ``(J, r, r)`` tag map, ``k·r² + y·r + x``.
When the supernet trains at a resolution other than the one the targets were built for, the official
trainer rescales these indices as if the grid were 512 wide and drops the joint offset ``k·r²``, so every
joint's tag is read from joint 0's channel at a wrong position. :func:`rescale_joint_indices` decomposes
the index into ``(k, y, x)``, scales ``x`` and ``y`` (``x' = ⌊x·r'/r⌋``) and recomposes it with the joint
offset of the new grid: ours reads each joint's own tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "HEATMAP_WEIGHTINGS",
    "AELoss",
    "HeatmapLoss",
    "LitePoseLoss",
    "LossBreakdown",
    "check_joint_indices",
    "distill_heatmap_loss",
    "rescale_joint_indices",
]


def _loss_dtype(t: Tensor) -> torch.dtype:
    """float32 for half/bfloat16 (AMP) outputs, otherwise the tensor's own float type."""
    return torch.promote_types(t.dtype, torch.float32)


class LossBreakdown(NamedTuple):
    """Scalar losses of one batch; ``total = heatmap + push + pull`` (factors already applied)."""

    total: Tensor
    heatmap: Tensor
    push: Tensor
    pull: Tensor

    def as_dict(self) -> dict[str, float]:
        """Plain floats for logging (detaches; synchronises with the device)."""
        return {name: float(value.detach()) for name, value in zip(self._fields, self, strict=True)}


HEATMAP_WEIGHTINGS = ("none", "adaptive")


class HeatmapLoss(nn.Module):
    """Masked MSE: ``mean_{k,y,x}((pred − target)² · mask)`` per sample.

    The target is the ground truth or, for distillation, a teacher's heatmaps of the same size (the
    same ignore mask applies).

    Args:
        weighting: ``"none"`` (official) or ``"adaptive"``: each squared error is also weighted by
            ``W = T^γ·|1 − P| + (1 − T^γ)·|P|`` (the weight-adaptive heatmap loss of SWAHR, Luo et al.,
            CVPR 2021), with ``T`` the target, ``P`` the prediction (no gradient through ``W``) and
            ``γ = adaptive_gamma``. Near a joint ``T^γ ≈ 1`` and the weight is how far the prediction still
            is from 1; on the background it is how far it is from 0, so easy pixels (most of the
            background) stop dominating the loss. SWAHR reports about +1 AP on COCO; in a 4-minute
            synthetic CPU run here it made no measurable difference (AP 0.203 against 0.204).
        adaptive_gamma: ``γ`` (SWAHR: 0.01, which makes every pixel of a Gaussian's support foreground).

    Shapes:
        pred ``(B, J, H, W)``, target ``(B, J, H, W)``, mask ``(B, H, W)`` (1 = use, 0 = ignore) -> ``(B,)``.
    """

    def __init__(self, weighting: str = "none", adaptive_gamma: float = 0.01) -> None:
        super().__init__()
        if weighting not in HEATMAP_WEIGHTINGS:
            raise ValueError(f"HeatmapLoss: weighting must be one of {HEATMAP_WEIGHTINGS}, got {weighting!r}")
        if not adaptive_gamma > 0:
            raise ValueError(f"HeatmapLoss: adaptive_gamma must be positive, got {adaptive_gamma}")
        self.weighting = weighting
        self.adaptive_gamma = float(adaptive_gamma)

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"HeatmapLoss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        if mask.shape != (pred.shape[0], *pred.shape[2:]):
            raise ValueError(f"HeatmapLoss: mask {tuple(mask.shape)} does not match pred {tuple(pred.shape)}")
        dtype = _loss_dtype(pred)
        p, t = pred.to(dtype), target.to(dtype)
        err = (p - t).square()
        if self.weighting == "adaptive":
            fg = t.clamp(min=0).pow(self.adaptive_gamma)
            q = p.detach()
            err = err * (fg * (1 - q).abs() + (1 - fg) * q.abs())
        return (err * mask.to(dtype)[:, None]).mean(dim=(1, 2, 3))


def check_joint_indices(joints: Tensor, entries: int) -> None:
    """Raise ``ValueError`` if a packed joint index (``joints[..., 0]``) falls outside ``[0, entries)``.

    On CUDA an out-of-range index would be a device-side assert that kills the process; checked on the
    CPU copy of a batch it costs no device synchronisation.
    """
    idx = joints[..., 0]
    if idx.numel() and bool(((idx < 0) | (idx >= entries)).any()):
        raise ValueError(f"AELoss: joint index outside the tag map of {entries} entries "
                         "(targets built for another resolution? see rescale_joint_indices)")


class AELoss(nn.Module):
    """Associative-embedding loss with the ``exp`` push (official ``AELoss('exp')``), per sample.

    For each person ``n`` with ``m_n ≥ 1`` used joints: ``μ_n`` is the mean of its tags and
    ``pull_n = mean_j (t_j − μ_n)²``. With ``N`` such people, ``pull = Σ_n pull_n / N`` (0 if ``N = 0``) and
    ``push = ½ Σ_{n≠m} exp(−(μ_n − μ_m)²) / (N(N−1))`` (0 if ``N < 2``), which equals the official
    ``½ (Σ_{n,m} exp(·) − N) / (N(N−1))``.

    Shapes:
        tags ``(B, J, H, W)`` (or already flat ``(B, J·H·W)``), joints ``(B, P, J, 2)`` int64 packed
        ``(k·H·W + y·W + x, used)`` -> ``(push, pull)``, each ``(B,)``.

    ``check_indices=False`` leaves the index check to the caller: on CUDA the check is a host sync per
    call, and the trainer runs it on the loader's CPU tensors instead (:func:`check_joint_indices`).
    """

    def __init__(self, check_indices: bool = True) -> None:
        super().__init__()
        self.check_indices = check_indices

    def forward(self, tags: Tensor, joints: Tensor) -> tuple[Tensor, Tensor]:
        batch = tags.shape[0]
        flat = tags.reshape(batch, -1).to(_loss_dtype(tags))
        if joints.ndim != 4 or joints.shape[0] != batch or joints.shape[-1] != 2:
            raise ValueError(f"AELoss: joints must be (B={batch}, P, J, 2), got {tuple(joints.shape)}")
        idx = joints[..., 0].long()
        used = (joints[..., 1] > 0).to(flat.dtype)  # (B, P, J)
        if self.check_indices:
            check_joint_indices(joints, flat.shape[1])
        picked = flat.gather(1, idx.reshape(batch, -1)).reshape(idx.shape) * used  # (B, P, J)
        count = used.sum(dim=-1)  # (B, P)
        person = count > 0
        num = person.sum(dim=-1).to(flat.dtype)  # (B,)
        mean = picked.sum(dim=-1) / count.clamp(min=1)  # (B, P)
        pull_n = ((picked - mean[..., None]).square() * used).sum(dim=-1) / count.clamp(min=1)
        pull = pull_n.sum(dim=-1) / num.clamp(min=1)

        pair = person[:, :, None] & person[:, None, :]
        pair &= ~torch.eye(pair.shape[1], dtype=torch.bool, device=pair.device)
        diff = mean[:, :, None] - mean[:, None, :]
        push_sum = (torch.exp(-diff.square()) * pair).sum(dim=(1, 2))
        push = torch.where(num > 1, 0.5 * push_sum / (num * (num - 1)).clamp(min=1), torch.zeros_like(num))
        return push, pull


class LitePoseLoss(nn.Module):
    """The full training loss over the model's stages.

    Args:
        num_joints: ``J``; stage outputs hold ``J`` heatmaps, then (with AE) ``J`` tag maps.
        heatmap_factors: weight of the heatmap loss per stage (official: 1.0, 1.0).
        ae_factors: per stage, ``(push_factor, pull_factor)`` or ``None`` for no tag loss (official:
            1e-3 for both on stage 0, none on stage 1).
        heatmap_weighting: ``"none"`` (official MSE) or ``"adaptive"``; see :class:`HeatmapLoss`.
        check_indices: check the tag-loss joint indices on every call (see :class:`AELoss`).

    ``forward(outputs, heatmaps, masks, joints)``: ``outputs`` is the model's tuple
    (stride 4 ``(B, 2J, H/4, W/4)``, stride 2 ``(B, J, H/2, W/2)``); ``heatmaps``, ``masks`` and
    ``joints`` are the dataset's per-stage tuples, batched: ``(B, J, r, r)``, ``(B, r, r)`` and
    ``(B, P, J, 2)``. Each term is averaged over the batch; returns a :class:`LossBreakdown`.
    """

    def __init__(self, num_joints: int, heatmap_factors: Sequence[float] = (1.0, 1.0),
                 ae_factors: Sequence[tuple[float, float] | None] = ((1e-3, 1e-3), None),
                 heatmap_weighting: str = "none", check_indices: bool = True) -> None:
        super().__init__()
        if len(heatmap_factors) != len(ae_factors):
            raise ValueError(f"LitePoseLoss: {len(heatmap_factors)} heatmap factors but "
                             f"{len(ae_factors)} AE factors; give one of each per stage")
        self.num_joints = int(num_joints)
        self.heatmap_factors = tuple(float(f) for f in heatmap_factors)
        self.ae_factors = tuple(None if f is None else (float(f[0]), float(f[1])) for f in ae_factors)
        self.heatmap_loss = HeatmapLoss(heatmap_weighting)
        self.ae_loss = AELoss(check_indices=check_indices)

    def forward(self, outputs: Sequence[Tensor], heatmaps: Sequence[Tensor], masks: Sequence[Tensor],
                joints: Sequence[Tensor]) -> LossBreakdown:
        stages = len(self.heatmap_factors)
        for name, seq in (("outputs", outputs), ("heatmaps", heatmaps), ("masks", masks)):
            if len(seq) != stages:
                raise ValueError(f"LitePoseLoss: {len(seq)} {name} for {stages} stages")
        j = self.num_joints
        zero = outputs[0].new_zeros((), dtype=torch.float32)
        heatmap, push, pull = zero, zero, zero
        for i in range(stages):
            out = outputs[i]
            ae = self.ae_factors[i]
            want = 2 * j if ae is not None else j
            if out.shape[1] < want:
                raise ValueError(f"LitePoseLoss: stage {i} output has {out.shape[1]} channels, expected "
                                 f">= {want} for {j} joints{' with tags' if ae is not None else ''}")
            if self.heatmap_factors[i] != 0:
                hm = self.heatmap_loss(out[:, :j], heatmaps[i], masks[i])
                heatmap = heatmap + self.heatmap_factors[i] * hm.mean()
            if ae is not None:
                push_b, pull_b = self.ae_loss(out[:, j:2 * j], joints[i])
                push = push + ae[0] * push_b.mean()
                pull = pull + ae[1] * pull_b.mean()
        return LossBreakdown(heatmap + push + pull, heatmap, push, pull)


def distill_heatmap_loss(student: Sequence[Tensor], teacher: Sequence[Tensor], masks: Sequence[Tensor],
                         num_joints: int, factors: Sequence[float] = (1.0, 1.0)) -> Tensor:
    """Heatmap distillation (official ``trainer.py``): per stage, the teacher's heatmap channels are
    nearest-resized to the student's map size and compared with :class:`HeatmapLoss` under the same
    ignore mask; the batch means are summed with ``factors`` (official: weight 1 per stage).

    Shapes:
        student/teacher: per stage ``(B, C, h, w)`` with the first ``num_joints`` channels heatmaps;
        masks: per stage ``(B, h, w)`` of the student's maps -> a scalar.
    """
    loss_fn = HeatmapLoss()
    total = student[0].new_zeros((), dtype=torch.float32)
    for s, t, m, f in zip(student, teacher, masks, factors, strict=False):
        target = t[:, :num_joints].detach().float()
        if target.shape[-2:] != s.shape[-2:]:
            target = F.interpolate(target, size=tuple(s.shape[-2:]), mode="nearest")
        total = total + float(f) * loss_fn(s[:, :num_joints], target, m).mean()
    return total


def rescale_joint_indices(joints: Tensor, r_from: int, r_to: int, num_joints: int) -> Tensor:
    """Re-address packed joint indices from an ``r_from`` square grid to an ``r_to`` one.

    ``k·r² + y·r + x`` becomes ``k·r'² + ⌊y·r'/r⌋·r' + ⌊x·r'/r⌋``; the used flag is unchanged and unused
    slots stay ``(0, 0)``. This is the corrected version of the official supernet's rescale, which
    assumed a 512 grid and dropped ``k·r²`` (reference §8.6).

    Shapes:
        joints ``(..., J, 2)`` int64 -> same shape and dtype.
    """
    if r_from <= 0 or r_to <= 0:
        raise ValueError(f"rescale_joint_indices: resolutions must be positive, got {r_from}, {r_to}")
    idx, used = joints[..., 0], joints[..., 1]
    area = r_from * r_from
    if bool(((idx < 0) | (idx >= num_joints * area)).any()):
        raise ValueError(f"rescale_joint_indices: index outside a ({num_joints}, {r_from}, {r_from}) grid")
    k = idx // area
    rem = idx % area
    y, x = rem // r_from, rem % r_from
    new = k * (r_to * r_to) + (y * r_to // r_from) * r_to + (x * r_to // r_from)
    new = torch.where(used > 0, new, torch.zeros_like(new))
    return torch.stack([new, used], dim=-1)

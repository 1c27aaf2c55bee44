"""Supernet training: the sub-networks of a step, the resized batch, the sandwich objective, a tiny run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import litepose
from litepose.models.space import get_search_space
from litepose.models.supernet import SuperLitePose
from litepose.training import trainer as T
from litepose.training.checkpoint import load_training_checkpoint
from litepose.training.config import load_config
from litepose.training.loop import Batch, PoseObjective
from litepose.training.losses import LitePoseLoss
from litepose.training.metrics_log import read_csv
from litepose.training.supernet import SupernetObjective, resize_batch, step_archs

torch.set_num_threads(1)
SPACE = replace(get_search_space("official"), resolutions=(32, 64), width_multipliers=(0.5, 0.25))
TINY = ["model.supernet=true", "search_space.resolutions=[32,64]", "search_space.width_multipliers=[0.5,0.25]"]


def test_step_archs_depend_only_on_seed_and_step() -> None:
    assert step_archs(SPACE, 0, 7) == step_archs(SPACE, 0, 7)
    assert len({step_archs(SPACE, 0, n)[0] for n in range(40)}) > 10
    assert step_archs(SPACE, 1, 7) != step_archs(SPACE, 0, 7) or step_archs(SPACE, 1, 8) != step_archs(SPACE, 0, 8)
    sandwich = step_archs(SPACE, 0, 3, "sandwich")
    assert sandwich[:2] == [SPACE.max_arch(), SPACE.min_arch()] and sandwich[2] == step_archs(SPACE, 0, 3)[0]
    assert step_archs(SPACE, 0, 3, with_largest=True) == [SPACE.max_arch(), step_archs(SPACE, 0, 3)[0]]


def _batch(side: int = 64, joints: int = 3) -> Batch:
    """One person per image with joint k at (8k + 4, 4k + 8) in input pixels (target maps at strides 4, 2)."""
    heatmaps, masks, packed = [], [], []
    for stride in (4, 2):
        r = side // stride
        hm = torch.zeros(2, joints, r, r)
        jt = torch.zeros(2, 1, joints, 2, dtype=torch.long)
        for k in range(joints):
            x, y = (8 * k + 4) // stride, (4 * k + 8) // stride
            hm[:, k, y, x] = 1.0
            jt[:, 0, k] = torch.tensor([k * r * r + y * r + x, 1])
        heatmaps.append(hm)
        masks.append(torch.ones(2, r, r))
        packed.append(jt)
    return Batch(torch.rand(2, 3, side, side), heatmaps, masks, packed)


def test_resize_batch_keeps_images_targets_and_joint_indices_together() -> None:
    batch = _batch()
    small = resize_batch(batch, 32, 3)
    assert small.images.shape == (2, 3, 32, 32)
    assert [h.shape[-1] for h in small.heatmaps] == [8, 16] and [m.shape[-1] for m in small.masks] == [8, 16]
    for hm, jt in zip(small.heatmaps, small.joints, strict=True):
        r = hm.shape[-1]
        for k in range(3):
            idx = int(jt[0, 0, k, 0])
            assert idx // (r * r) == k  # the joint offset k·r² survives (the official rescale dropped it)
            y, x = divmod(idx % (r * r), r)
            peak = int(hm[0, k].flatten().argmax())
            assert (y, x) == divmod(peak, r)  # the index points at the resized target's peak
    assert resize_batch(batch, 64, 3) is batch


def test_sandwich_gradient_is_the_sum_of_the_sub_network_gradients() -> None:
    torch.manual_seed(0)
    model = SuperLitePose(3).train()
    pose = PoseObjective(LitePoseLoss(3), 3)
    batch = _batch()
    objective = SupernetObjective(pose, SPACE, seed=0, sampling="sandwich")
    model.zero_grad()
    total, parts = objective(model, batch, step=5)
    total.backward()
    got = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    expected_total = 0.0
    model.zero_grad()
    for arch in step_archs(SPACE, 0, 5, "sandwich"):  # the same step, one sub-network at a time
        sub = resize_batch(batch, arch.input_size, 3)
        loss = pose.loss_of(model(sub.images, arch), sub, None)[0]
        loss.backward()
        expected_total += float(loss.detach())
    assert float(total) == pytest.approx(expected_total, rel=1e-5)
    assert float(parts["heatmap"]) > 0
    for k, p in model.named_parameters():
        if p.grad is not None:
            assert torch.allclose(got[k], p.grad, rtol=1e-4, atol=1e-7), k


def test_inplace_distillation_fits_the_largest_sub_network() -> None:
    torch.manual_seed(0)
    model = SuperLitePose(3).train()
    objective = SupernetObjective(PoseObjective(LitePoseLoss(3), 3), SPACE, seed=0, inplace_distill=0.5)
    assert objective.archs(2)[0] == SPACE.max_arch()
    _, parts = objective(model, _batch(), step=2)
    assert float(parts["inplace_distill"]) > 0


def test_tiny_supernet_run_checkpoints_validates_and_resumes_exactly(
        tmp_path: Path, tiny_overrides: Callable[..., list[str]]) -> None:
    def cfg(out: Path, **extra: object) -> object:
        return load_config(None, [*tiny_overrides(out, val=True, **{"optim.epochs": 2, **extra}), *TINY])

    full = T.fit(cfg(tmp_path / "full"), log=lambda _m: None, progress=False)
    ckpt = load_training_checkpoint(full.last)
    assert ckpt["family"] == "supernet" and ckpt["search_space"]["resolutions"] == [32, 64]
    loaded = litepose.load_supernet(full.last)
    assert isinstance(loaded.model, SuperLitePose) and loaded.space == SPACE.__class__.from_dict(ckpt["search_space"])
    rows = read_csv(tmp_path / "full" / "metrics.csv")
    assert rows[-1]["val_AP"] is not None and rows[-1]["val_AP_min"] is not None  # largest and smallest
    part_cfg = cfg(tmp_path / "part")
    T.fit(part_cfg, log=lambda _m: None, progress=False, stop_after_epochs=1)
    resumed = T.fit(part_cfg, resume=tmp_path / "part" / "last.pt", log=lambda _m: None, progress=False)
    a, b = load_training_checkpoint(full.last), load_training_checkpoint(resumed.last)
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    # the never-used kernel transforms are frozen (DDP and the optimizer skip them): the optimizer state has
    # no entry for them
    trained = sum(1 for p in T.build_model(part_cfg, 17).parameters() if p.requires_grad)  # type: ignore[arg-type]
    assert len(b["optimizer"]["state"]) == trained < len(b["state_dict"])


def test_subnetwork_fine_tuning_takes_the_arch_and_the_whole_network_from_subnet_pt(
        tmp_path: Path, tiny_overrides: Callable[..., list[str]]) -> None:
    torch.manual_seed(0)
    supernet = SuperLitePose(17).eval()
    arch = replace(SPACE.min_arch(), input_size=64)
    subnet = litepose.save(supernet.extract(SPACE.min_arch()), tmp_path / "subnet.pt")
    lines: list[str] = []
    out = tmp_path / "finetune"
    res = T.fit(load_config(None, tiny_overrides(out, **{
        "optim.epochs": 1, "model.arch": subnet, "init.backbone": subnet, "init.backbone_only": False})),
        log=lines.append, progress=False)
    assert any("initialised the whole network" in ln for ln in lines), lines
    model = litepose.load(res.last)
    assert model.spec.channels == arch.channels and model.spec.deconv_channels == arch.deconv_channels

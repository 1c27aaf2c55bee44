from __future__ import annotations

import numpy as np
import pytest
import torch

from litepose.data.targets import pack_joints
from litepose.training.losses import (
    AELoss,
    HeatmapLoss,
    LitePoseLoss,
    LossBreakdown,
    distill_heatmap_loss,
    rescale_joint_indices,
)

torch.set_num_threads(1)


def _official_ae(tags: torch.Tensor, joints: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The official loop (``AELoss.singleTagLoss`` with 'exp'), for one sample; tags flat ``(J·H·W,)``."""
    means, pull = [], torch.zeros(())
    for person in joints:
        picked = [tags[idx] for idx, used in person if used > 0]
        if not picked:
            continue
        t = torch.stack(picked)
        means.append(t.mean())
        pull = pull + ((t - means[-1]) ** 2).mean()
    n = len(means)
    if n == 0:
        return torch.zeros(()), torch.zeros(())
    if n == 1:
        return torch.zeros(()), pull / n
    m = torch.stack(means)
    diff = m[None, :] - m[:, None]
    push = torch.exp(-(diff**2)).sum() - n
    return push / ((n - 1) * n) * 0.5, pull / n


def _random_targets(rng: np.random.Generator, batch: int, people: int, num_j: int, res: int) -> torch.Tensor:
    out = []
    for b in range(batch):
        n = int(rng.integers(0, people + 1)) if b else people
        xy = rng.uniform(-2, res + 2, (n, num_j, 2))
        v = rng.integers(0, 3, (n, num_j, 1))
        out.append(pack_joints(np.concatenate([xy, v], axis=2), res, max_people=people))
    return torch.from_numpy(np.stack(out))


def test_heatmap_loss_zero_at_target_and_masked() -> None:
    pred = torch.rand(2, 3, 8, 8)
    mask = torch.ones(2, 8, 8)
    loss = HeatmapLoss()
    assert torch.equal(loss(pred, pred.clone(), mask), torch.zeros(2))
    target = pred.clone()
    target[:, :, :4] += 1.0  # wrong only where the mask ignores
    mask[:, :4] = 0
    assert torch.equal(loss(pred, target, mask), torch.zeros(2))
    mask[1] = 1
    expected = 3 * 4 * 8 / (3 * 8 * 8)  # squared error 1 on half of every map, mean over k, y, x
    torch.testing.assert_close(loss(pred, target, mask), torch.tensor([0.0, expected]))
    with pytest.raises(ValueError):
        loss(pred, target[:, :2], mask)


def test_adaptive_heatmap_loss_weights_by_distance_from_the_goal() -> None:
    target = torch.zeros(1, 1, 1, 4)
    target[..., 0], target[..., 1] = 1.0, 0.5  # two foreground pixels, then two background ones
    pred = torch.tensor([[[[0.2, 0.9, 0.3, 0.0]]]], requires_grad=True)
    mask = torch.ones(1, 1, 4)
    loss = HeatmapLoss("adaptive", adaptive_gamma=0.01)(pred, target, mask)
    fg = target.pow(0.01)
    w = fg * (1 - pred.detach()).abs() + (1 - fg) * pred.detach().abs()
    torch.testing.assert_close(loss, ((pred.detach() - target) ** 2 * w).mean(dim=(1, 2, 3)))
    # Foreground pixels weigh |1 - P|, background ones |P|: a perfect background pixel costs nothing.
    torch.testing.assert_close(w[0, 0, 0], torch.tensor([0.8, 0.1 * 0.5**0.01 + 0.9 * (1 - 0.5**0.01), 0.3, 0.0]))
    loss.sum().backward()  # the weight is a constant: the gradient is 2·W·(P − T)/n
    torch.testing.assert_close(pred.grad, 2 * w * (pred.detach() - target) / 4)
    assert torch.equal(HeatmapLoss("adaptive")(target, target, mask), torch.zeros(1))
    with pytest.raises(ValueError, match="weighting"):
        HeatmapLoss("focal")
    with pytest.raises(ValueError, match="gamma"):
        HeatmapLoss("adaptive", adaptive_gamma=0.0)
    full = LitePoseLoss(1, heatmap_weighting="adaptive")
    assert full.heatmap_loss.weighting == "adaptive"


def test_ae_loss_matches_the_official_loop() -> None:
    rng = np.random.default_rng(0)
    batch, people, num_j, res = 4, 5, 6, 8
    joints = _random_targets(rng, batch, people, num_j, res)
    tags = torch.randn(batch, num_j, res, res, dtype=torch.float64)
    push, pull = AELoss()(tags, joints)
    for b in range(batch):
        ref_push, ref_pull = _official_ae(tags[b].reshape(-1), joints[b].numpy())
        torch.testing.assert_close(push[b], ref_push, rtol=1e-10, atol=1e-12, check_dtype=False)
        torch.testing.assert_close(pull[b], ref_pull, rtol=1e-10, atol=1e-12, check_dtype=False)


def test_ae_loss_zero_at_target_and_special_cases() -> None:
    res, num_j = 8, 3
    person_a = [(1, 1, 2), (2, 3, 2), (5, 5, 1)]
    person_b = [(6, 6, 2), (0, 0, 0), (4, 7, 2)]
    joints = torch.from_numpy(pack_joints(np.array([person_a, person_b], np.float32), res, 4))[None]
    tags = torch.zeros(1, num_j, res, res)
    for (x, y, _), k in zip(person_a, range(num_j), strict=True):
        tags[0, k, y, x] = -5.0
    for (x, y, v), k in zip(person_b, range(num_j), strict=True):
        if v:
            tags[0, k, y, x] = 5.0
    push, pull = AELoss()(tags, joints)
    assert pull.item() == 0.0 and push.item() < 1e-40  # equal tags per person, means 10 apart
    tags[0, 0, 1, 1] = 5.0  # every tag the same: the push is at its maximum 1/2 (official scaling)
    tags[0, 1, 3, 2] = 5.0
    tags[0, 2, 5, 5] = 5.0
    push, pull = AELoss()(tags, joints)
    assert pull.item() == 0.0 and push.item() == pytest.approx(0.5)
    one = joints.clone()
    one[0, 1] = 0  # a single person: no push
    push, pull = AELoss()(tags, one)
    assert push.item() == 0.0
    push, pull = AELoss()(tags, torch.zeros_like(joints))  # nobody: both zero
    assert push.item() == 0.0 and pull.item() == 0.0


def test_ae_gradients_pull_together_and_push_apart() -> None:
    res, num_j = 6, 2
    joints = torch.from_numpy(pack_joints(np.array([[(1, 1, 2), (2, 2, 2)], [(4, 4, 2), (3, 4, 2)]], np.float32),
                                          res, 3))[None]
    tags = torch.zeros(1, num_j, res, res)
    tags[0, 0, 1, 1], tags[0, 1, 2, 2] = 0.0, 0.4  # person 0: mean 0.2
    tags[0, 0, 4, 4], tags[0, 1, 4, 3] = 0.5, 0.7  # person 1: mean 0.6
    tags.requires_grad_(True)
    push, pull = AELoss()(tags, joints)
    (g_pull,) = torch.autograd.grad(pull.sum(), tags, retain_graph=True)
    assert g_pull[0, 0, 1, 1] < 0 < g_pull[0, 1, 2, 2]  # descent moves each tag toward its person's mean
    (g_push,) = torch.autograd.grad(push.sum(), tags)
    assert g_push[0, 0, 1, 1] > 0 and g_push[0, 0, 4, 4] < 0  # descent moves the people's tags apart
    untouched = torch.ones_like(tags, dtype=torch.bool)
    for idx in joints[0, :, :, 0][joints[0, :, :, 1] > 0]:
        untouched.view(-1)[idx] = False
    assert not g_pull[untouched].any() and not g_push[untouched].any()


def test_ae_loss_rejects_indices_outside_the_map() -> None:
    joints = torch.tensor([[[[500, 1]]]])
    with pytest.raises(ValueError, match="rescale_joint_indices"):
        AELoss()(torch.zeros(1, 1, 4, 4), joints)


def _perfect_outputs(heatmaps: list[torch.Tensor], joints: torch.Tensor, num_j: int) -> list[torch.Tensor]:
    """Predictions equal to the targets, with each person's tags set to 10·(person + 1)."""
    b, _, r, _ = heatmaps[0].shape
    tags = torch.zeros(b, num_j * r * r)
    for bi in range(b):
        for p in range(joints.shape[1]):
            used = joints[bi, p, :, 1] > 0
            tags[bi, joints[bi, p, used, 0]] = 10.0 * (p + 1)
    return [torch.cat([heatmaps[0], tags.view(b, num_j, r, r)], dim=1), heatmaps[1].clone()]


def test_litepose_loss_is_zero_at_the_target() -> None:
    rng = np.random.default_rng(1)
    num_j, b = 5, 3
    hm = [torch.rand(b, num_j, 8, 8), torch.rand(b, num_j, 16, 16)]
    masks = [torch.ones(b, 8, 8), torch.ones(b, 16, 16)]
    joints = [_random_targets(rng, b, 4, num_j, 8), _random_targets(rng, b, 4, num_j, 16)]
    outputs = _perfect_outputs(hm, joints[0], num_j)
    loss = LitePoseLoss(num_j)
    out = loss(tuple(outputs), hm, masks, joints)
    assert isinstance(out, LossBreakdown)
    assert out.total.item() < 1e-12 and out.heatmap.item() == 0.0 and out.pull.item() == 0.0
    assert set(out.as_dict()) == {"total", "heatmap", "push", "pull"}


def test_litepose_loss_factors_and_stage_sum() -> None:
    rng = np.random.default_rng(2)
    num_j, b = 4, 2
    outputs = (torch.randn(b, 2 * num_j, 8, 8), torch.randn(b, num_j, 16, 16))
    hm = [torch.rand(b, num_j, 8, 8), torch.rand(b, num_j, 16, 16)]
    masks = [torch.ones(b, 8, 8), (torch.rand(b, 16, 16) > 0.3).float()]
    joints = [_random_targets(rng, b, 3, num_j, 8), _random_targets(rng, b, 3, num_j, 16)]
    out = LitePoseLoss(num_j, heatmap_factors=(1.0, 0.5), ae_factors=((2.0, 3.0), None))(outputs, hm, masks, joints)
    hl = HeatmapLoss()
    expected_hm = hl(outputs[0][:, :num_j], hm[0], masks[0]).mean() + 0.5 * hl(outputs[1], hm[1], masks[1]).mean()
    push, pull = AELoss()(outputs[0][:, num_j:], joints[0])
    torch.testing.assert_close(out.heatmap, expected_hm)
    torch.testing.assert_close(out.push, 2.0 * push.mean())
    torch.testing.assert_close(out.pull, 3.0 * pull.mean())
    torch.testing.assert_close(out.total, out.heatmap + out.push + out.pull)
    # official defaults: 1e-3 on the tag terms
    default = LitePoseLoss(num_j)(outputs, hm, masks, joints)
    torch.testing.assert_close(default.push, 1e-3 * push.mean())
    # half-precision outputs are promoted: the loss is float32
    half = LitePoseLoss(num_j)(tuple(o.half() for o in outputs), hm, masks, joints)
    assert half.total.dtype == torch.float32
    with pytest.raises(ValueError, match="channels"):
        LitePoseLoss(num_j)((outputs[0][:, :num_j], outputs[1]), hm, masks, joints)


def test_litepose_loss_backward_reaches_both_stages() -> None:
    num_j = 3
    outputs = (torch.randn(1, 2 * num_j, 8, 8, requires_grad=True), torch.randn(1, num_j, 16, 16, requires_grad=True))
    joints = [_random_targets(np.random.default_rng(3), 1, 2, num_j, r) for r in (8, 16)]
    out = LitePoseLoss(num_j)(outputs, [torch.zeros(1, num_j, 8, 8), torch.zeros(1, num_j, 16, 16)],
                              [torch.ones(1, 8, 8), torch.ones(1, 16, 16)], joints)
    out.total.backward()
    assert outputs[0].grad is not None and outputs[0].grad[:, num_j:].abs().sum() > 0
    assert outputs[1].grad is not None and outputs[1].grad.abs().sum() > 0


def test_distill_loss_zero_for_identical_heatmaps_across_sizes() -> None:
    num_j = 2
    student = (torch.rand(1, 2 * num_j, 4, 4), torch.rand(1, num_j, 8, 8))
    # a teacher at twice the resolution whose nearest-downsample equals the student
    teacher = (student[0].repeat_interleave(2, 2).repeat_interleave(2, 3),
               student[1].repeat_interleave(2, 2).repeat_interleave(2, 3))
    masks = (torch.ones(1, 4, 4), torch.ones(1, 8, 8))
    assert distill_heatmap_loss(student, teacher, masks, num_j).item() == 0.0
    other = (teacher[0] + 1.0, teacher[1])
    assert distill_heatmap_loss(student, other, masks, num_j).item() == pytest.approx(1.0)


def test_rescale_joint_indices_keeps_joint_offsets() -> None:
    res_from, res_to, num_j = 16, 8, 4
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, res_from, (3, num_j, 2))
    v = rng.integers(0, 3, (3, num_j, 1))
    joints = np.concatenate([xy, v], axis=2)
    packed = torch.from_numpy(pack_joints(joints, res_from, 5))
    rescaled = rescale_joint_indices(packed, res_from, res_to, num_j)
    # for an integer down-scale, floor(floor(x)/2) == floor(x/2): same as packing at the new size
    scaled = joints.copy()
    scaled[..., :2] *= res_to / res_from
    torch.testing.assert_close(rescaled, torch.from_numpy(pack_joints(scaled, res_to, 5)))
    # explicit value: joint 3 at (x=5, y=9) on 16 -> (2, 4) on 8
    one = torch.tensor([[3 * 256 + 9 * 16 + 5, 1], [0, 0]])
    torch.testing.assert_close(rescale_joint_indices(one, 16, 8, 4), torch.tensor([[3 * 64 + 4 * 8 + 2, 1], [0, 0]]))
    up = rescale_joint_indices(one, 16, 24, 4)
    assert up[0, 0].item() == 3 * 576 + (9 * 24 // 16) * 24 + 5 * 24 // 16
    with pytest.raises(ValueError):
        rescale_joint_indices(torch.tensor([[4 * 256, 1]]), 16, 8, 4)

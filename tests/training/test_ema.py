from __future__ import annotations

import pytest
import torch
from torch import nn

from litepose.training.ema import WeightAverage


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def test_average_follows_the_ramped_decay_and_copies_integer_buffers() -> None:
    net = small_net()
    ema = WeightAverage(net, decay=0.5)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0): the start is not held back
    expected = {k: v.clone() for k, v in net.state_dict().items()}
    for step in range(30):  # ramped for 8 updates, then held at 0.5
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.1 * (step + 1))
        net(torch.randn(2, 3, 8, 8))  # train mode: BatchNorm statistics and its counter move
        d = min(0.5, (1 + step) / (10 + step))
        for k, v in net.state_dict().items():
            expected[k] = d * expected[k] + (1 - d) * v if v.is_floating_point() else v.clone()
        ema.update()
    assert ema.updates == 30 and ema.current_decay() == 0.5
    got = ema.module.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v, msg=k)
    assert int(got["1.num_batches_tracked"]) == 30
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())


def test_state_round_trip_restores_weights_and_counter() -> None:
    net = small_net()
    ema = WeightAverage(net, decay=0.99)
    for _ in range(5):
        with torch.no_grad():
            net[0].weight.mul_(1.1)
        ema.update()
    other = WeightAverage(small_net(), decay=0.99)
    other.load_state_dict(ema.state_dict(), ema.module.state_dict())
    assert other.updates == 5 and other.current_decay() == ema.current_decay()
    torch.testing.assert_close(other.module[0].weight, ema.module[0].weight)


def test_decay_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(small_net(), decay=1.0)

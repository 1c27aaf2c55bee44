"""BN recalibration: exact cumulative averages vs the official momentum updates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from litepose.search.calibrate import recalibrate_bn


def model_and_batches() -> tuple[nn.Module, list[torch.Tensor]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4))
    model[1].running_mean.fill_(5.0)  # inherited statistics, far from the data's
    model[1].running_var.fill_(9.0)
    return model, [torch.randn(2, 3, 4, 4) * (i + 1) for i in range(3)]


def batch_stats(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    y = model[0](x)
    return y.mean(dim=(0, 2, 3)), y.var(dim=(0, 2, 3), unbiased=True)


def test_exact_mode_is_the_plain_average_of_the_batch_statistics() -> None:
    model, batches = model_and_batches()
    with torch.no_grad():
        stats = [batch_stats(model, x) for x in batches]
    assert recalibrate_bn(model, iter(batches), mode="exact") == 3
    bn = model[1]
    assert torch.allclose(bn.running_mean, torch.stack([m for m, _ in stats]).mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, torch.stack([v for _, v in stats]).mean(0), atol=1e-5)
    assert bn.momentum == 0.1 and not model.training  # momentum restored, eval mode


def test_official_mode_moves_the_inherited_statistics_by_the_momentum() -> None:
    model, batches = model_and_batches()
    with torch.no_grad():
        stats = [batch_stats(model, x) for x in batches]
    recalibrate_bn(model, batches, num_batches=2, mode="official")
    mean = torch.full((4,), 5.0)
    for m, _ in stats[:2]:
        mean = 0.9 * mean + 0.1 * m
    assert torch.allclose(model[1].running_mean, mean, atol=1e-5)


def test_bad_calls() -> None:
    model, _ = model_and_batches()
    with pytest.raises(ValueError, match="mode"):
        recalibrate_bn(model, [], mode="ema")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_bn(model, [])
    assert model[1].momentum == 0.1

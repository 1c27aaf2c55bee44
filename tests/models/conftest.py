"""Helpers of the model tests: randomised networks and the official checkpoint wrapper forms."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import litepose


def randomised_model(name: str, joints: int) -> torch.nn.Module:
    """A zoo model with non-default weights and BN statistics, so a wrong load cannot pass by accident."""
    torch.manual_seed(0)
    model = litepose.create_model(name, joints)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                v.copy_(torch.randn_like(v) * 0.1 + (1.0 if k.endswith(("running_var", ".weight")) and v.ndim == 1
                                                     else 0.0))
                if k.endswith("running_var"):
                    v.abs_().add_(0.5)
    return model.eval()


def official_checkpoint_forms(sd: dict[str, torch.Tensor], model_name: str, *,
                              supernet_extras: bool = False) -> dict[str, object]:
    """What the LitePose repo's and the original HigherHRNet's dist_train.py/valid.py write and read
    (``model_name``: ``pose_mobilenet``, ``pose_higher_hrnet``); with ``supernet_extras`` also a
    supernet's state dict with the search-only ``Linear`` transforms of its kernels."""
    module = {f"module.{k}": v for k, v in sd.items()}
    fp16 = {f"1.{k}": (v.half() if v.is_floating_point() and not k.split(".")[-1].startswith("running") else v)
            for k, v in sd.items()}
    forms: dict[str, object] = {
        "flat": dict(sd),  # model_best.pth.tar, final_state.pth.tar, the released files
        "checkpoint.pth.tar": {"epoch": 3, "model": model_name, "state_dict": module,
                               "best_state_dict": dict(sd), "perf": 0.5, "optimizer": {"state": {}}},
        "state_dict-with-module": {"state_dict": module},
        "module-prefix": module,
        "fp16-1-prefix": fp16,
        "module-then-1": {f"module.1.{k}": v for k, v in sd.items()},
    }
    if supernet_extras:
        extra = dict(sd)
        extra["stage.0.0.Linear5x5.weight"] = torch.zeros(25, 25)
        extra["stage.0.0.Linear3x3.weight"] = torch.zeros(9, 9)
        forms["supernet-extras"] = extra
    return forms


@pytest.fixture
def randomised() -> Callable[[str, int], torch.nn.Module]:
    return randomised_model


@pytest.fixture
def official_forms() -> Callable[..., dict[str, object]]:
    return official_checkpoint_forms

from __future__ import annotations

import pytest
import torch
from torch import nn

import litepose
from litepose.models.profile import profile_model

# reference §7: params, true MACs, old-ptflops ("paper") MACs at each config's input size, J = 14
EXPECTED = {
    "litepose-xs": (1_675_552, 0.883e9, 1.2e9),
    "litepose-s": (2_731_240, 3.614e9, 5.0e9),
    "litepose-m": (3_533_808, 5.264e9, 7.8e9),
    "litepose-l": (5_738_120, 9.962e9, 13.7e9),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_zoo_reproduces_paper_numbers(name: str) -> None:
    torch.set_num_threads(2)
    model = litepose.create_model(name, 14)
    c = profile_model(model, model.spec.input_size)
    params, macs, paper = EXPECTED[name]
    assert c.params == params
    assert abs(c.macs - macs) / macs < 0.01
    assert abs(c.macs_paper - paper) / paper < 0.01


def test_counting_rules_on_a_toy_net() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False))
    c = profile_model(net, 8)
    conv = 8 * 8 * 8 * 3 * 9
    deconv_true = 8 * 8 * 8 * 4 * 16
    assert c.macs == conv + deconv_true
    assert c.macs_paper == conv + 2 * 8 * 64 + 8 * 64 + 4 * deconv_true
    assert c.params == 8 * 27 + 16 + 8 * 4 * 16

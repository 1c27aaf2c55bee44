"""BatchNorm folding: the folded network computes what the unfolded one does, with no BatchNorm left."""

from __future__ import annotations

import onnx
import pytest
import torch
from torch import nn

import litepose
from litepose.models.fuse import batchnorm_layers, fold_batchnorm
from litepose.models.litepose import LitePose
from litepose.models.spec import ArchSpec, BlockSpec, StageSpec
from litepose.runtime.from_torch import onnx_bytes

TINY = ArchSpec(16, tuple(StageSpec(c, s, (BlockSpec(2, 3), BlockSpec(6, 5)))
                          for c, s in ((16, 2), (24, 2), (32, 2), (48, 1))), (16, 24, 16), 64, name="tiny")


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def randomize_batchnorms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random affine parameters and running statistics far from the identity (0.3 < var < 3, |mean| ~ 0.5)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=generator))
                m.bias.copy_(0.5 * torch.randn(n, generator=generator))
                m.running_mean.copy_(0.5 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.3 + 2.7 * torch.rand(n, generator=generator))
    return model.eval()


@pytest.mark.parametrize("fusion", [True, False])
def test_folded_equals_unfolded_on_random_statistics(fusion: bool) -> None:
    model = randomize_batchnorms(LitePose(TINY if fusion else TINY.with_fusion(False), num_keypoints=5))
    folded = fold_batchnorm(model)
    assert batchnorm_layers(model)  # the original keeps its BatchNorms
    assert batchnorm_layers(folded) == []
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, got = model(x), folded(x)
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape
        assert float((g - e).abs().max()) <= 1e-5 * float(e.abs().max())
        assert float(e.abs().max()) > 1e-3  # a real signal, not zeros compared with zeros


def test_deconv_rule_puts_the_shift_into_the_refined_branch_only() -> None:
    model = randomize_batchnorms(LitePose(TINY, num_keypoints=5))
    folded = fold_batchnorm(model)
    for i in range(3):
        bn = model.deconv_bnrelu[i][0]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - scale * bn.running_mean
        per_output = scale[None, :, None, None]  # ConvTranspose2d weight: [Cin, Cout, k, k]
        torch.testing.assert_close(folded.deconv_refined[i].weight, model.deconv_refined[i].weight * per_output)
        torch.testing.assert_close(folded.deconv_raw[i].weight, model.deconv_raw[i].weight * per_output)
        torch.testing.assert_close(folded.deconv_refined[i].bias, shift)
        assert folded.deconv_raw[i].bias is None
        assert isinstance(folded.deconv_bnrelu[i][0], nn.Identity)


def test_the_model_passed_in_is_untouched() -> None:
    model = randomize_batchnorms(LitePose(TINY, num_keypoints=5)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert model.training and not folded.training
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("name", litepose.list_models())
def test_zoo_entries_fold_completely(name: str) -> None:
    model = randomize_batchnorms(litepose.create_model(name, 17), seed=3)
    folded = fold_batchnorm(model)
    assert batchnorm_layers(folded) == []
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        for e, g in zip(model(x), folded(x), strict=True):
            assert float((g - e).abs().max()) <= 1e-4 * float(e.abs().max())


def test_exported_graph_has_no_batchnorm_node() -> None:
    model = randomize_batchnorms(LitePose(TINY, num_keypoints=5))
    x = torch.randn(1, 3, 64, 64)
    stock = onnx.load_from_string(onnx_bytes(model, (x,)))
    folded = onnx.load_from_string(onnx_bytes(fold_batchnorm(model), (x,)))
    # The stock exporter fuses conv -> BN chains only: the three BNs after the summed deconvs stay.
    assert sum(n.op_type == "BatchNormalization" for n in stock.graph.node) == 3
    assert not any(n.op_type == "BatchNormalization" for n in folded.graph.node)
    assert sum(n.op_type == "ConvTranspose" for n in folded.graph.node) == 6


def test_a_batchnorm_without_statistics_is_refused() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(ValueError, match="running statistics"):
        fold_batchnorm(model)


def test_conv_with_bias_keeps_it_scaled() -> None:
    model = randomize_batchnorms(nn.Sequential(nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4), nn.ReLU()))
    folded = fold_batchnorm(model)
    x = torch.randn(2, 3, 9, 9)
    with torch.inference_mode():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-6)
    assert isinstance(folded[1], nn.Identity)

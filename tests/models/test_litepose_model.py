from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest
import torch

import litepose
from litepose.models.litepose import LitePose
from litepose.models.spec import ArchSpec

ZOO = litepose.list_models("litepose")
JOINTS = (14, 17)
# (C0, C1..C4, F0..F2, input) of the official mobile_configs (reference §1.5)
OFFICIAL = {
    "litepose-xs": (16, (16, 32, 48, 80), (16, 24, 24), 256),
    "litepose-s": (16, (16, 32, 48, 120), (32, 24, 32), 448),
    "litepose-m": (16, (24, 48, 72, 120), (64, 40, 32), 448),
    "litepose-l": (24, (24, 64, 96, 160), (64, 40, 32), 512),
}


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def test_zoo_lists_the_four_official_configs() -> None:
    assert ZOO == ["litepose-xs", "litepose-s", "litepose-m", "litepose-l"]


@pytest.mark.parametrize("name", ZOO)
def test_spec_matches_official_config(name: str) -> None:
    c0, cs, fs, size = OFFICIAL[name]
    spec = litepose.create_model(name).spec
    assert spec.stem_channels == c0
    assert tuple(s.channels for s in spec.stages) == cs
    assert spec.deconv_channels == fs
    assert spec.input_size == size
    assert [s.depth for s in spec.stages] == [6, 8, 10, 10]
    assert [s.stride for s in spec.stages] == [2, 2, 2, 1]
    assert all(b.kernel_size == 7 and b.expand_ratio == 6 for s in spec.stages for b in s.blocks)


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("joints", JOINTS)
def test_forward_shapes_and_backward(name: str, joints: int) -> None:
    model = litepose.create_model(name, joints)
    x = torch.randn(2, 3, 64, 96)
    out = model(x)
    assert out.stride4.shape == (2, 2 * joints, 16, 24)
    assert out.stride2.shape == (2, joints, 32, 48)
    stride4, stride2 = out  # the official list layout still unpacks
    (stride4.square().mean() + stride2.square().mean()).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)


def test_official_output_example_shapes() -> None:
    model = litepose.create_model("litepose-xs", 14).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 256, 320))
    assert out.stride4.shape == (1, 28, 64, 80) and out.stride2.shape == (1, 14, 128, 160)


@pytest.mark.parametrize("size", [(65, 64), (64, 100), (48, 64)])
def test_input_not_multiple_of_32_is_a_clear_error(size: tuple[int, int]) -> None:
    model = litepose.create_model("litepose-xs")
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.zeros(1, 3, *size))


@pytest.mark.parametrize("name", ZOO)
def test_official_json_round_trip(name: str, tmp_path) -> None:
    from litepose.models.zoo import ARCH_FILES

    text = resources.files("litepose.models").joinpath("archs", ARCH_FILES[name]).read_text()
    official = json.loads(text)
    spec = ArchSpec.from_official(official, name=name)
    assert spec.to_official() == official
    assert list(spec.to_official()) == ["img_size", "input_channel", "deconv_setting", "backbone_setting"]
    path = tmp_path / "arch.json"
    spec.to_json(path)
    assert json.loads(path.read_text()) == official
    again = ArchSpec.from_json(path, name=name)
    assert again == spec
    assert ArchSpec.from_dict(spec.to_dict()) == spec
    # an arch JSON path works anywhere a zoo name does
    model = litepose.create_model(str(path), 17)
    assert model.spec.to_official() == official


def test_state_dict_schema_matches_official_layout() -> None:
    sd = litepose.create_model("litepose-xs", 14).state_dict()
    assert len(sd) == 679
    keys = list(sd)
    assert keys[0] == "first.0.0.weight"
    expected_shapes = {
        "first.0.0.weight": (32, 3, 3, 3),
        "first.1.0.weight": (32, 1, 3, 3),
        "first.2.weight": (16, 32, 1, 1),
        "first.3.running_var": (16,),
        "stage.0.0.inv.0.weight": (96, 16, 1, 1),
        "stage.0.0.depth_conv.0.weight": (96, 1, 7, 7),
        "stage.0.0.point_conv.0.weight": (16, 96, 1, 1),
        "stage.3.0.inv.0.weight": (288, 48, 1, 1),
        "stage.3.9.point_conv.1.weight": (80,),
        "deconv_refined.0.weight": (80, 16, 4, 4),
        "deconv_refined.2.weight": (24, 24, 4, 4),
        "deconv_raw.0.weight": (48, 16, 4, 4),
        "deconv_raw.1.weight": (32, 24, 4, 4),
        "deconv_raw.2.weight": (16, 24, 4, 4),
        "deconv_bnrelu.0.0.weight": (16,),
        "final_refined.0.conv.0.weight": (24, 1, 5, 5),
        "final_refined.0.conv.3.weight": (28, 24, 1, 1),
        "final_refined.1.conv.3.weight": (14, 24, 1, 1),
        "final_raw.0.conv.3.weight": (28, 16, 1, 1),
        "final_raw.1.conv.3.weight": (14, 16, 1, 1),
    }
    for key, shape in expected_shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert sd["first.0.1.num_batches_tracked"].dtype == torch.int64
    # module-definition order of the official class
    tops = []
    for k in keys:
        top = k.split(".")[0]
        if not tops or tops[-1] != top:
            tops.append(top)
    assert tops == ["first", "stage", "deconv_refined", "deconv_raw", "deconv_bnrelu", "final_refined", "final_raw"]
    # no biases anywhere except BN
    assert biases_outside_batchnorm(sd) == []


def biases_outside_batchnorm(state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Bias keys that belong to no BatchNorm (a BN bias sits next to its running_mean)."""
    return [k for k in state_dict
            if k.endswith(".bias") and k.removesuffix(".bias") + ".running_mean" not in state_dict]


def test_bias_check_catches_an_injected_conv_bias() -> None:
    model = litepose.create_model("litepose-xs", 14)
    first_conv = model.first[0][0]
    first_conv.bias = torch.nn.Parameter(torch.zeros(first_conv.out_channels))
    assert biases_outside_batchnorm(model.state_dict()) == ["first.0.0.bias"]


def test_residual_only_where_official() -> None:
    model = litepose.create_model("litepose-m")
    for s, stage in enumerate(model.stage):
        flags = [block.use_residual for block in stage]
        assert flags == [False] + [True] * (len(flags) - 1), s


@pytest.mark.parametrize("kernel", [3, 5, 7, 9])
def test_kernel_size_ablation(kernel: int) -> None:
    model = litepose.create_model("litepose-xs", kernel_size=kernel)
    w = model.state_dict()["stage.1.3.depth_conv.0.weight"]
    assert w.shape[-2:] == (kernel, kernel)
    out = model(torch.zeros(1, 3, 64, 64))
    assert out.stride2.shape == (1, 14, 32, 32)


def test_fusion_off_drops_raw_branches() -> None:
    model = litepose.create_model("litepose-xs", fusion=False)
    keys = model.state_dict().keys()
    assert not any(k.startswith(("deconv_raw", "final_raw")) for k in keys)
    out = model(torch.zeros(1, 3, 64, 64))
    assert out.stride4.shape == (1, 28, 16, 16)
    assert sum(p.numel() for p in model.parameters()) < sum(
        p.numel() for p in litepose.create_model("litepose-xs").parameters())


def test_width_multiplier_halves_channels() -> None:
    spec = litepose.create_model("litepose-m", width=0.5).spec
    assert tuple(s.channels for s in spec.stages) == (16, 24, 40, 64)
    assert spec.deconv_channels == (32, 24, 16)
    assert spec.stem_channels == 8
    model = LitePose(spec, 17)
    assert model(torch.zeros(1, 3, 64, 64)).stride2.shape == (1, 17, 32, 32)


@pytest.mark.parametrize("bad", [
    {"img_size": 256, "input_channel": 16, "deconv_setting": [16, 24]},
    {"img_size": 250, "input_channel": 16, "deconv_setting": [16, 24, 24],
     "backbone_setting": [{"num_blocks": 1, "stride": 2, "channel": 16, "block_setting": [[6, 7]]}] * 4},
    {"img_size": 256, "input_channel": 16, "deconv_setting": [16, 24, 24],
     "backbone_setting": [{"num_blocks": 2, "stride": 2, "channel": 16, "block_setting": [[6, 7]]}] * 4},
    {"img_size": 256, "input_channel": 16, "deconv_setting": [16, 24, 24], "colour": 1,
     "backbone_setting": []},
])
def test_bad_arch_json_is_a_clear_error(bad: dict) -> None:
    with pytest.raises(ValueError, match="arch"):
        ArchSpec.from_official(bad, source="arch.json")


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="unknown model 'litepose-xxl'"):
        litepose.create_model("litepose-xxl")


def test_spec_equality_and_hash_ignore_the_name() -> None:
    xs = litepose.create_model("litepose-xs").spec
    renamed = dataclasses.replace(xs, name="my-copy")
    assert renamed == xs and hash(renamed) == hash(xs) and renamed.name != xs.name
    # a width multiplier renames the spec; the same widths reached another way are the same architecture
    scaled = litepose.create_model("litepose-m", width=0.5).spec
    assert scaled.name == "litepose-m-w0.5"
    by_hand = ArchSpec.from_official(scaled.to_official(), name="half-m")
    assert by_hand == scaled and {scaled: "cached"}[by_hand] == "cached"
    assert dataclasses.replace(xs, input_size=xs.input_size + 32) != xs  # what shapes the network still counts
    assert xs.with_fusion(False) != xs and xs.with_kernel_size(5) != xs

"""HigherHRNet family: zoo entries, official state-dict layout, official checkpoint forms, complexity."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

import litepose
from litepose.models.checkpoint import CheckpointError, keypoints_of, load_checkpoint, save
from litepose.models.higherhrnet import HIGHERHRNET_ZOO, HigherHRNet, HigherHRNetSpec
from litepose.models.profile import profile_model
from litepose.models.zoo import get_arch, get_spec

HRNETS = litepose.list_models("higherhrnet")
Randomised = Callable[[str, int], torch.nn.Module]  # fixtures of conftest.py
OfficialForms = Callable[..., dict[str, object]]
SMALL = [n for n in HRNETS if n.startswith("scaled-higherhrnet") and n != "scaled-higherhrnet-w24"]


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def test_zoo_lists_the_papers_baselines() -> None:
    assert HRNETS == ["scaled-higherhrnet-w16", "scaled-higherhrnet-shrink1", "scaled-higherhrnet-shrink2",
                      "scaled-higherhrnet-shrink3", "scaled-higherhrnet-w24", "higherhrnet-w32", "higherhrnet-w48"]
    assert litepose.list_models() == litepose.list_models("litepose") + HRNETS
    with pytest.raises(ValueError, match="unknown model family 'resnet'"):
        litepose.list_models("resnet")


# --------------------------------------------------------------------------------------------------
# The official layout, written out from the construction rules of the official pose_higher_hrnet.py
# (reference §6) independently of the model code: every key, its shape, in module-definition order.
# --------------------------------------------------------------------------------------------------
def official_layout(stem: int, channels: tuple[int, ...], blocks: tuple[tuple[int, ...], ...],
                    modules: tuple[int, ...], deconv: int, deconv_blocks: int, joints: int) -> dict[str, tuple]:
    keys: dict[str, tuple] = {}

    def conv(name: str, out: int, inp: int, k: int) -> None:
        keys[f"{name}.weight"] = (out, inp, k, k)

    def bn(name: str, c: int) -> None:
        for field in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{name}.{field}"] = (c,)
        keys[f"{name}.num_batches_tracked"] = ()

    conv("conv1", 64, 3, 3)
    bn("bn1", 64)
    conv("conv2", 64, 64, 3)
    bn("bn2", 64)
    inplanes = 64
    for b in range(4):
        p = f"layer1.{b}"
        conv(f"{p}.conv1", stem, inplanes, 1)
        bn(f"{p}.bn1", stem)
        conv(f"{p}.conv2", stem, stem, 3)
        bn(f"{p}.bn2", stem)
        conv(f"{p}.conv3", 4 * stem, stem, 1)
        bn(f"{p}.bn3", 4 * stem)
        if inplanes != 4 * stem:
            conv(f"{p}.downsample.0", 4 * stem, inplanes, 1)
            bn(f"{p}.downsample.1", 4 * stem)
        inplanes = 4 * stem
    pre = [4 * stem]
    for s, n in enumerate((2, 3, 4)):
        cur = list(channels[:n])
        t = f"transition{s + 1}"
        for i, c in enumerate(cur):
            if i < len(pre):
                if pre[i] != c:
                    conv(f"{t}.{i}.0", c, pre[i], 3)
                    bn(f"{t}.{i}.1", c)
            else:
                for k in range(i + 1 - len(pre)):
                    out = c if k == i - len(pre) else pre[-1]
                    conv(f"{t}.{i}.{k}.0", out, pre[-1], 3)
                    bn(f"{t}.{i}.{k}.1", out)
        for m in range(modules[s]):
            p = f"stage{s + 2}.{m}"
            for i, (c, nb) in enumerate(zip(cur, blocks[s], strict=True)):
                if nb == 0:  # the LitePose repo's change: one 3x3 conv-BN-ReLU6
                    conv(f"{p}.branches.{i}.0", c, c, 3)
                    bn(f"{p}.branches.{i}.1", c)
                for bb in range(nb):
                    conv(f"{p}.branches.{i}.{bb}.conv1", c, c, 3)
                    bn(f"{p}.branches.{i}.{bb}.bn1", c)
                    conv(f"{p}.branches.{i}.{bb}.conv2", c, c, 3)
                    bn(f"{p}.branches.{i}.{bb}.bn2", c)
            last = s == 2 and m == modules[s] - 1
            for i in range(1 if last else n):
                for j in range(n):
                    if j > i:
                        conv(f"{p}.fuse_layers.{i}.{j}.0", cur[i], cur[j], 1)
                        bn(f"{p}.fuse_layers.{i}.{j}.1", cur[i])
                    elif j < i:
                        for k in range(i - j):
                            out = cur[i] if k == i - j - 1 else cur[j]
                            conv(f"{p}.fuse_layers.{i}.{j}.{k}.0", out, cur[j], 3)
                            bn(f"{p}.fuse_layers.{i}.{j}.{k}.1", out)
        pre = cur
    keys["final_layers.0.weight"] = (2 * joints, channels[0], 1, 1)
    keys["final_layers.0.bias"] = (2 * joints,)
    keys["final_layers.1.weight"] = (joints, deconv, 1, 1)
    keys["final_layers.1.bias"] = (joints,)
    keys["deconv_layers.0.0.0.weight"] = (channels[0] + 2 * joints, deconv, 4, 4)
    bn("deconv_layers.0.0.1", deconv)
    for b in range(deconv_blocks):
        p = f"deconv_layers.0.{b + 1}.0"
        conv(f"{p}.conv1", deconv, deconv, 3)
        bn(f"{p}.bn1", deconv)
        conv(f"{p}.conv2", deconv, deconv, 3)
        bn(f"{p}.bn2", deconv)
    return keys


# name -> (stem planes, channels, blocks of stages 2-4, deconv width, deconv BASIC blocks): reference §6
# and the official experiment YAMLs (higher_hrnet/w32_512, w48_640)
PAPER = {
    "scaled-higherhrnet-w16": (32, (16, 32, 64, 128), ((4, 4), (4, 4, 4), (4, 4, 4, 4)), 32, 0),
    "scaled-higherhrnet-shrink1": (32, (16, 32, 64, 128), ((3, 4), (2, 3, 4), (1, 2, 3, 4)), 32, 0),
    "scaled-higherhrnet-shrink2": (36, (18, 36, 72, 144), ((1, 4), (1, 1, 4), (1, 1, 1, 4)), 32, 0),
    "scaled-higherhrnet-shrink3": (36, (18, 36, 72, 144), ((0, 4), (0, 0, 4), (0, 0, 0, 4)), 32, 0),
    "scaled-higherhrnet-w24": (48, (24, 48, 96, 192), ((4, 4), (4, 4, 4), (4, 4, 4, 4)), 32, 0),
    "higherhrnet-w32": (64, (32, 64, 128, 256), ((4, 4), (4, 4, 4), (4, 4, 4, 4)), 32, 4),
    "higherhrnet-w48": (64, (48, 96, 192, 384), ((4, 4), (4, 4, 4), (4, 4, 4, 4)), 48, 4),
}


@pytest.mark.parametrize("name", HRNETS)
@pytest.mark.parametrize("joints", [14, 17])
def test_state_dict_is_the_official_layout(name: str, joints: int) -> None:
    stem, channels, blocks, deconv, deconv_blocks = PAPER[name]
    expected = official_layout(stem, channels, blocks, (1, 4, 3), deconv, deconv_blocks, joints)
    got = {k: tuple(v.shape) for k, v in litepose.create_model(name, joints).state_dict().items()}
    assert list(got) == list(expected)  # same keys in the same order
    assert got == expected


def test_input_sizes_and_zero_block_branches() -> None:
    assert {n: s.input_size for n, s in HIGHERHRNET_ZOO.items()} == {n: 640 if n == "higherhrnet-w48" else 512
                                                                     for n in HRNETS}
    net = litepose.create_model("scaled-higherhrnet-shrink3")
    branch = net.stage4[0].branches[0]
    assert [type(m) for m in branch] == [torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU6]
    assert branch[0].kernel_size == (3, 3) and branch[0].bias is None
    assert len(net.stage4[0].branches[3]) == 4  # the 1/32 branch keeps its 4 BASIC blocks


@pytest.mark.parametrize("name", HRNETS)
@pytest.mark.parametrize("joints", [14, 17])
def test_forward_shapes_and_backward(name: str, joints: int) -> None:
    torch.manual_seed(0)
    model = litepose.create_model(name, joints)
    out = model(torch.randn(2, 3, 32, 64))
    assert isinstance(out, litepose.models.LitePoseOutput)
    assert out.stride4.shape == (2, 2 * joints, 8, 16)
    assert out.stride2.shape == (2, joints, 16, 32)
    (out.stride4.square().mean() + out.stride2.square().mean()).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)


def test_input_sides_must_be_multiples_of_32() -> None:
    with pytest.raises(ValueError, match="multiples of 32, got 48x64"):
        litepose.create_model("scaled-higherhrnet-shrink3")(torch.zeros(1, 3, 48, 64))


# --------------------------------------------------------------------------------------------------
# Complexity (reference §6: measured on the official classes at 512, J = 14, paper MAC convention)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "params", "macs_paper"), [
    ("scaled-higherhrnet-w16", 7.21e6, 12.49e9),
    ("scaled-higherhrnet-shrink1", 6.71e6, 10.11e9),
    ("scaled-higherhrnet-shrink2", 7.62e6, 10.01e9),
    ("scaled-higherhrnet-shrink3", 7.38e6, 9.14e9),
    ("scaled-higherhrnet-w24", 16.1e6, 25.33e9),
])
def test_params_and_paper_macs_match_reference(name: str, params: float, macs_paper: float) -> None:
    c = profile_model(litepose.create_model(name, 14), 512)
    assert c.params == pytest.approx(params, rel=5e-3)
    assert c.macs_paper == pytest.approx(macs_paper, rel=5e-3)
    assert c.macs < c.macs_paper  # BN/ReLU and the deconv's output-pixel rule only add


@pytest.mark.parametrize(("name", "params"), [("higherhrnet-w32", 28.6e6), ("higherhrnet-w48", 63.8e6)])
def test_original_higherhrnet_params_match_the_paper(name: str, params: float) -> None:
    from litepose.models.profile import count_params

    assert count_params(litepose.create_model(name, 17)) == pytest.approx(params, rel=5e-3)


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "joints"), [*((n, j) for n in SMALL for j in (14, 17)), ("higherhrnet-w32", 17)])
def test_official_checkpoint_forms_load_with_identical_outputs(name: str, joints: int, tmp_path: Path,
                                                               randomised: Randomised,
                                                               official_forms: OfficialForms) -> None:
    ref = randomised(name, joints)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = ref(x)
    for form, obj in official_forms(ref.state_dict(), "pose_higher_hrnet").items():
        path = tmp_path / f"{form}.pth.tar"
        torch.save(obj, path)
        model = litepose.create_model(name, joints, weights=path).eval()
        with torch.no_grad():
            got = model(x)
        tol = 2e-2 if "fp16" in form else 1e-6  # fp16 storage rounds the weights
        for a, b in zip(got, expected, strict=True):
            assert (a - b).abs().max() / b.abs().max() <= tol, form
        path.unlink()


@pytest.mark.parametrize("name", HRNETS)
def test_project_checkpoint_round_trip_records_the_family(name: str, tmp_path: Path, randomised: Randomised) -> None:
    ref = randomised(name, 17)
    path = save(ref, tmp_path / "m.pt", meta={"note": "x"})
    raw = torch.load(path, weights_only=True)
    assert raw["family"] == "higherhrnet" and raw["arch"]["family"] == "higherhrnet"
    loaded = load_checkpoint(path)
    model = loaded.model
    assert isinstance(model, HigherHRNet) and not model.training
    assert model.spec == ref.spec and model.spec.name == name and model.num_keypoints == 17
    assert loaded.skeleton is not None and loaded.skeleton.name == "coco" and loaded.meta == {"note": "x"}
    x = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x), strict=True):
            assert torch.equal(a, b)
    assert get_spec(str(path)) == ref.spec  # `--arch run/best.pt` names the network too
    assert keypoints_of(raw["state_dict"], "m.pt") == 17


def test_wrong_joint_count_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "coco.pth"
    torch.save(litepose.create_model("scaled-higherhrnet-shrink3", 17).state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        litepose.create_model("scaled-higherhrnet-shrink3", 14, weights=path)
    text = str(err.value)
    assert str(path) in text and "different shape" in text and "num_keypoints=17" in text


def test_litepose_weights_do_not_fit_a_higherhrnet(tmp_path: Path) -> None:
    path = tmp_path / "xs.pth"
    torch.save(litepose.create_model("litepose-xs").state_dict(), path)
    with pytest.raises(CheckpointError, match=r"missing from the file: conv1\.weight"):
        litepose.create_model("scaled-higherhrnet-shrink3", weights=path)


# --------------------------------------------------------------------------------------------------
# Specs: official YAML, project JSON, knobs
# --------------------------------------------------------------------------------------------------
def _official_yaml(spec_name: str, input_size: int) -> dict:
    """An official experiment YAML's relevant sections for a zoo entry (as in the repo's files)."""
    stem, channels, blocks, deconv, deconv_blocks = PAPER[spec_name]
    extra: dict = {"FINAL_CONV_KERNEL": 1, "PRETRAINED_LAYERS": ["*"], "STEM_INPLANES": stem}
    for s, (n, m) in enumerate(zip((2, 3, 4), (1, 4, 3), strict=True)):
        extra[f"STAGE{s + 2}"] = {"NUM_MODULES": m, "NUM_BRANCHES": n, "BLOCK": "BASIC",
                                  "NUM_BLOCKS": list(blocks[s]), "NUM_CHANNELS": list(channels[:n]),
                                  "FUSE_METHOD": "SUM"}
    extra["DECONV"] = {"NUM_DECONVS": 1, "NUM_CHANNELS": [deconv], "KERNEL_SIZE": [4],
                       "NUM_BASIC_BLOCKS": deconv_blocks, "CAT_OUTPUT": [True]}
    return {"DATASET": {"INPUT_SIZE": input_size, "NUM_JOINTS": 14},
            "MODEL": {"NAME": "pose_higher_hrnet", "NUM_JOINTS": 14, "TAG_PER_JOINT": True, "EXTRA": extra}}


@pytest.mark.parametrize(("name", "yaml_name", "size"), [
    ("scaled-higherhrnet-shrink3", "w16_512_adam_lr1e-3.yaml", 512),
    ("higherhrnet-w32", "w32_512_adam_lr1e-3.yaml", 512),
    ("higherhrnet-w48", "w48_640_adam_lr1e-3.yaml", 640),
])
def test_official_experiment_yaml_gives_the_zoo_spec(name: str, yaml_name: str, size: int, tmp_path: Path) -> None:
    path = tmp_path / yaml_name
    path.write_text(yaml.safe_dump(_official_yaml(name, size)))
    spec = get_spec(str(path))
    assert spec == HIGHERHRNET_ZOO[name] and spec.name == path.stem and spec.input_size == size
    assert HigherHRNetSpec.from_official(HIGHERHRNET_ZOO[name].to_official(), input_size=size) == spec


def test_bad_official_yaml_is_one_clear_line(tmp_path: Path) -> None:
    raw = _official_yaml("higherhrnet-w32", 512)
    raw["MODEL"]["EXTRA"]["STAGE3"]["BLOCK"] = "BOTTLENECK"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"bad\.yaml: STAGE3\.BLOCK must be BASIC"):
        get_spec(str(path))
    path.write_text(yaml.safe_dump({"MODEL": {"NAME": "pose_mobilenet"}}))
    with pytest.raises(ValueError, match="not an official pose_higher_hrnet experiment YAML"):
        get_spec(str(path))


def test_project_json_round_trip_and_training_by_name(tmp_path: Path) -> None:
    spec = HIGHERHRNET_ZOO["scaled-higherhrnet-shrink2"]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({k: v for k, v in spec.to_dict().items() if k != "name"}))
    got = get_spec(str(path))
    assert got == spec and got.name == "mine"
    assert isinstance(litepose.create_model(str(path), 14, input_size=256), HigherHRNet)
    with pytest.raises(ValueError, match="not a LitePose architecture"):
        get_arch(str(path))


@pytest.mark.parametrize(("raw", "needle"), [
    ({"stem_planes": 8, "channels": [8, 16, 32], "blocks": [[1, 1], [1, 1, 1], [1, 1, 1, 1]]}, "four positive"),
    ({"stem_planes": 8, "channels": [8, 16, 32, 64], "blocks": [[1, 1], [1, 1], [1, 1, 1, 1]]}, "2, 3 and 4"),
    ({"stem_planes": 8, "channels": [8, 16, 32, 64], "blocks": [[1, -1], [1, 1, 1], [1, 1, 1, 1]]}, ">= 0"),
    ({"stem_planes": 8, "channels": [8, 16, 32, 64], "blocks": [[1, 1], [1, 1, 1], [1, 1, 1, 1]],
      "input_size": 100}, "multiple of 32"),
    ({"stem_planes": 8, "channels": [8, 16, 32, 64]}, "missing keys ['blocks']"),
    ({"stem_planes": 8, "channels": [8, 16, 32, 64], "blocks": [[1, 1], [1, 1, 1], [1, 1, 1, 1]], "kernel": 3},
     "unknown keys ['kernel']"),
])
def test_bad_spec_dicts_name_the_source(raw: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=r"arch\.json") as err:
        HigherHRNetSpec.from_dict(raw, source="arch.json")
    assert needle in str(err.value)


def test_litepose_knobs_are_refused_for_higherhrnet() -> None:
    with pytest.raises(ValueError, match="kernel_size, fusion apply to LitePose architectures only"):
        litepose.create_model("higherhrnet-w32", kernel_size=3, fusion=False)
    assert litepose.create_model("scaled-higherhrnet-w16", input_size=256).spec.input_size == 256

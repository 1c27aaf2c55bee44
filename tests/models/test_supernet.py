"""The supernet: official key layout, sub-network = extracted network, loading forms, warm start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from litepose.models.checkpoint import CheckpointError, load_checkpoint, save
from litepose.models.litepose import LitePose
from litepose.models.space import SUPERNET_ARCH, get_search_space
from litepose.models.supernet import SuperLitePose, create_supernet, load_supernet, warm_start_supernet
from litepose.models.zoo import create_model

torch.set_num_threads(1)


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm parameters and statistics, so that a wrong slice shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)


@pytest.fixture(scope="module")
def supernet() -> SuperLitePose:
    torch.manual_seed(0)
    model = SuperLitePose(14)
    with torch.no_grad():
        randomise_bn(model)
    return model.eval()


def test_official_layout_keys_and_params(supernet: SuperLitePose) -> None:
    state = supernet.state_dict()
    assert len(state) == 815 and sum(p.numel() for p in supernet.parameters()) == 5_837_904  # reference §2
    assert state["stage.3.9.Linear5x5.weight"].shape == (25, 25) and state["stage.0.0.Linear3x3.bias"].shape == (9,)
    assert state["stage.0.0.inv.0.weight"].shape == (144, 24, 1, 1)
    assert state["deconv_refined.0.weight"].shape == (160, 64, 4, 4)
    assert state["final_raw.1.conv.3.weight"].shape == (14, 24, 1, 1)
    # the same module order as a LitePose of the max size (the official class layout)
    litepose_keys = list(LitePose(SUPERNET_ARCH, 14).state_dict())
    assert [k for k in state if "Linear" not in k] == litepose_keys


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sub_networks_equal_their_extracted_networks(supernet: SuperLitePose, seed: int) -> None:
    space = get_search_space("official")
    rng = np.random.default_rng(seed)
    for _ in range(3):
        arch = space.sample(rng)
        x = torch.randn(2, 3, 96, 64, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            expected = supernet(x, arch)
            sub = supernet.extract(arch)
            got = sub(x)
        assert isinstance(sub, LitePose) and sub.spec == arch and not sub.training
        for a, b in zip(expected, got, strict=True):
            assert a.shape == b.shape and torch.equal(a, b), arch.name


def test_training_mode_updates_only_the_leading_statistics() -> None:
    torch.manual_seed(0)
    model = SuperLitePose(14).train()
    arch = get_search_space("official").min_arch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model(torch.randn(2, 3, 64, 64), arch)
    after = model.state_dict()
    c0 = arch.stem_channels
    assert not torch.equal(after["first.3.running_mean"][:c0], before["first.3.running_mean"][:c0])
    assert torch.equal(after["first.3.running_mean"][c0:], before["first.3.running_mean"][c0:])
    # stage 1 runs 6 blocks of the max 6, stage 4 all 10, nothing beyond the arch's widths moves
    c4, key = arch.stages[3].channels, "stage.3.9.point_conv.1.running_var"
    assert torch.equal(after[key][c4:], before[key][c4:]) and not torch.equal(after[key][:c4], before[key][:c4])


def test_supernet_forward_and_extract_refuse_archs_it_does_not_hold(supernet: SuperLitePose) -> None:
    too_wide = create_model("litepose-l").spec.scaled(1.5)
    with pytest.raises(ValueError, match=r"input_channel 40 > 24"):
        supernet.extract(too_wide)
    with pytest.raises(ValueError, match="multiples of 32"):
        supernet(torch.zeros(1, 3, 65, 64))


@pytest.mark.parametrize("form", ["flat", "state_dict", "best_state_dict", "module", "fp16-wrapper"])
def test_official_supernet_checkpoint_forms_load(supernet: SuperLitePose, tmp_path: Path, form: str) -> None:
    state = supernet.state_dict()
    obj: object = state
    if form == "state_dict":
        obj = {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}
    elif form == "best_state_dict":
        obj = {"best_state_dict": state, "state_dict": {f"module.{k}": torch.zeros(1) for k in state}}
    elif form == "module":
        obj = {f"module.{k}": v for k, v in state.items()}
    elif form == "fp16-wrapper":
        obj = {f"1.{k}": (v.half() if v.is_floating_point() and "running" not in k else v) for k, v in state.items()}
    path = tmp_path / "supernet.pth.tar"
    torch.save(obj, path)
    loaded = create_supernet(14, weights=path).eval()
    x = torch.randn(1, 3, 64, 64)
    arch = get_search_space("official").uniform(0.5, 256)
    with torch.no_grad():
        a, b = supernet(x, arch), loaded(x, arch)
    tol = 2e-2 if form == "fp16-wrapper" else 0.0
    for p, q in zip(a, b, strict=True):
        assert torch.allclose(p, q, atol=tol, rtol=0), form
    with pytest.raises(CheckpointError, match="keypoints"):
        create_supernet(17, weights=path)


def test_project_supernet_checkpoint_round_trip_and_family_errors(supernet: SuperLitePose, tmp_path: Path) -> None:
    path = save(supernet, tmp_path / "super.pt")
    loaded = load_supernet(path)
    assert loaded.model.num_keypoints == 14 and loaded.space is None
    for (k, a), b in zip(supernet.state_dict().items(), loaded.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    with pytest.raises(CheckpointError, match=r"holds a supernet model.*litepose extract"):
        load_checkpoint(path)
    small = save(create_model("litepose-xs"), tmp_path / "xs.pt")
    with pytest.raises(CheckpointError, match="not a supernet"):
        load_supernet(small)


def test_warm_start_drops_the_head_and_sorts_channels_by_importance(tmp_path: Path) -> None:
    torch.manual_seed(1)
    donor = LitePose(SUPERNET_ARCH, 14).eval()
    with torch.no_grad():
        randomise_bn(donor, seed=4)
    path = tmp_path / "max.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in donor.state_dict().items()}}, path)
    torch.manual_seed(2)
    model = create_supernet(14, init_from=path)
    # the consumers' input columns are in descending L1 importance after the re-organisation
    for consumer in (model.stage[0][0].inv[0], *(model.stage[s + 1][0].inv[0] for s in range(3))):
        importance = consumer.weight.abs().sum(dim=(0, 2, 3))
        assert torch.all(importance[:-1] >= importance[1:])
    # the head stayed as initialised, the backbone weights are the donor's up to the channel order
    mine, theirs = model.state_dict(), donor.state_dict()
    assert not torch.equal(mine["final_raw.0.conv.3.weight"], theirs["final_raw.0.conv.3.weight"])
    assert torch.equal(mine["stage.3.9.point_conv.0.weight"], theirs["stage.3.9.point_conv.0.weight"])  # not sorted
    rows, donor_rows = mine["first.2.weight"].flatten(1).tolist(), theirs["first.2.weight"].flatten(1).tolist()
    assert rows != donor_rows and sorted(rows) == sorted(donor_rows)  # the stem's filters, reordered


def test_reorganisation_with_statistics_keeps_the_backbone_function(tmp_path: Path) -> None:
    torch.manual_seed(1)
    donor = LitePose(SUPERNET_ARCH, 14).eval()
    with torch.no_grad():
        randomise_bn(donor, seed=5)
    path = tmp_path / "max.pth"
    torch.save(donor.state_dict(), path)
    official = SuperLitePose(14)
    warm_start_supernet(official, path)  # official: BN running statistics keep their old order
    exact = SuperLitePose(14)
    exact.load_state_dict({k: v for k, v in donor.state_dict().items() if "deconv" not in k and "final" not in k},
                          strict=False)
    exact.reorganize_channels(permute_running_stats=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        reference = donor.first(x)
        for stage in donor.stage:
            reference = stage(reference)  # stage 4's output is never permuted: it must not change
        assert torch.allclose(_super_backbone(exact.eval(), x), reference, atol=1e-4)
        assert not torch.allclose(_super_backbone(official.eval(), x), reference, atol=1e-2)
    assert torch.equal(official.first[3].running_mean, donor.first[3].running_mean)  # official: not permuted


def _super_backbone(model: SuperLitePose, x: torch.Tensor) -> torch.Tensor:
    from litepose.models.supernet import _batch_norm, _conv

    out = _batch_norm(model.first[3], _conv(model.first[2], model.first[1](model.first[0](x)), 24))
    for stage, st in zip(model.stage, SUPERNET_ARCH.stages, strict=True):
        for block in stage:
            out = block(out, st.channels)
    return out


def test_warm_start_from_a_smaller_network_names_the_tensor(tmp_path: Path) -> None:
    path = save(create_model("litepose-xs"), tmp_path / "xs.pt")
    with pytest.raises(CheckpointError, match=r"not a max-size LitePose.*first\.2\.weight"):
        create_supernet(14, init_from=path)
    with pytest.raises(ValueError, match="either weights"):
        create_supernet(14, weights=path, init_from=path)

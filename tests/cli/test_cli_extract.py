"""`litepose extract`: a supernet's sub-network as a standalone project checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import litepose
from litepose.cli import main
from litepose.models.checkpoint import checkpoint_dict
from litepose.models.space import get_search_space
from litepose.models.supernet import SuperLitePose
from litepose.models.zoo import get_arch


@pytest.fixture(scope="module")
def supernet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = SuperLitePose(17).eval()
    ckpt = checkpoint_dict(model, skeleton=litepose.get_skeleton("coco"))
    ckpt["search_space"] = get_search_space("official").to_dict()
    path = tmp_path_factory.mktemp("extract") / "supernet.pt"
    torch.save(ckpt, path)
    return path


def test_extract_writes_a_loadable_network_equal_to_the_sub_network(supernet_file: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "xs.pt"
    assert main(["extract", str(supernet_file), "--arch", "litepose-xs", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    net = litepose.load(out)
    assert net.spec == get_arch("litepose-xs") and net.skeleton is not None and net.skeleton.name == "coco"
    supernet = litepose.load_supernet(supernet_file).model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(supernet(x, net.spec), net.eval()(x), strict=True):
            assert torch.equal(a, b)


def test_extract_from_an_official_supernet_file_reads_the_joint_count(supernet_file: Path, tmp_path: Path) -> None:
    official = tmp_path / "super.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in
                               litepose.load_supernet(supernet_file).model.state_dict().items()}}, official)
    arch = tmp_path / "arch.json"
    get_search_space("official").uniform(0.5, 256).to_json(arch)
    assert main(["extract", str(official), "--arch", str(arch), "-o", str(tmp_path / "sub.pt")]) == 0
    assert litepose.load(tmp_path / "sub.pt").num_keypoints == 17


@pytest.mark.parametrize(("argv", "needle"), [
    (["--arch", "ARCH288"], "not in the official search space: img_size 288"),
    (["--arch", "litepose-xs", "--joints", "14"], "predicts 17 keypoints, not 14"),
])
def test_extract_errors_are_one_line(supernet_file: Path, tmp_path: Path, argv: list[str], needle: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "arch288.json"
    get_arch("litepose-xs").with_input_size(288).to_json(odd)
    argv = [str(odd) if a == "ARCH288" else a for a in argv]
    assert main(["extract", str(supernet_file), *argv, "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and not (tmp_path / "x.pt").exists()


def test_extract_never_overwrites_its_input(supernet_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = supernet_file.read_bytes()
    assert main(["extract", str(supernet_file), "--arch", "litepose-xs", "-o", str(supernet_file)]) == 2
    assert "is the input" in capsys.readouterr().err and supernet_file.read_bytes() == before

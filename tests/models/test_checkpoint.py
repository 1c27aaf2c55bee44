from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import litepose
from litepose.models.checkpoint import CheckpointError, load_checkpoint, load_weights, save
from litepose.skeleton import COCO

ZOO = litepose.list_models("litepose")
Randomised = Callable[[str, int], torch.nn.Module]  # fixtures of conftest.py
OfficialForms = Callable[..., dict[str, object]]


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("joints", [14, 17])
def test_official_checkpoint_forms_load_with_identical_outputs(name: str, joints: int, tmp_path: Path,
                                                               randomised: Randomised,
                                                               official_forms: OfficialForms) -> None:
    ref = randomised(name, joints)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = ref(x)
    for form, obj in official_forms(ref.state_dict(), "pose_mobilenet", supernet_extras=True).items():
        path = tmp_path / f"{form}.pth.tar"
        torch.save(obj, path)
        model = litepose.create_model(name, joints, weights=path).eval()
        with torch.no_grad():
            got = model(x)
        tol = 2e-2 if "fp16" in form else 1e-6  # fp16 storage rounds the weights
        for a, b in zip(got, expected, strict=True):
            rel = (a - b).abs().max() / b.abs().max()
            assert rel <= tol, (form, float(rel))


def test_wrong_joint_count_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "coco.pth"
    torch.save(litepose.create_model("litepose-xs", 17).state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        litepose.create_model("litepose-xs", 14, weights=path)
    text = str(err.value)
    assert str(path) in text and "different shape" in text and "num_keypoints=17" in text


def test_wrong_arch_lists_missing_unexpected_and_shapes(tmp_path: Path) -> None:
    path = tmp_path / "s.pth"
    sd = litepose.create_model("litepose-s", 14).state_dict()
    sd["extra.weight"] = torch.zeros(1)
    del sd["first.0.0.weight"]
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as err:
        litepose.create_model("litepose-xs", 14, weights=path)
    text = str(err.value)
    assert "missing from the file: first.0.0.weight" in text
    assert "no place in the model: extra.weight" in text
    assert "different shape" in text and "different architecture" in text


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken zip"])
def test_garbage_files_are_clear_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"bad\.pth: not a readable PyTorch checkpoint"):
        litepose.create_model("litepose-xs", weights=path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pth"):
        litepose.create_model("litepose-xs", weights=tmp_path / "nope.pth")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_code_executing_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        torch.save({"state_dict": litepose.create_model("litepose-xs").state_dict(), "x": _Evil()}, fh)
    with pytest.raises(CheckpointError, match="refused to load"):
        litepose.create_model("litepose-xs", weights=path)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        litepose.load(raw)


def test_non_weights_content_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cfg.pth"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(CheckpointError, match="no weights found"):
        litepose.create_model("litepose-xs", weights=path)


@pytest.mark.parametrize("name", ZOO)
def test_project_format_round_trip(name: str, tmp_path: Path, randomised: Randomised) -> None:
    ref = randomised(name, 17)
    path = save(ref, tmp_path / "model.pt", skeleton=COCO, meta={"epoch": 7, "ap": 0.5})
    loaded = load_checkpoint(path)
    assert loaded.skeleton == COCO and loaded.meta == {"epoch": 7, "ap": 0.5}
    model = litepose.load(path)
    assert model.spec == ref.spec and model.num_keypoints == 17 and not model.training
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x), strict=True):
            torch.testing.assert_close(a, b)
    # the project file is also accepted by create_model(weights=...)
    litepose.create_model(name, 17, weights=path)


def test_project_format_keeps_ablation_knobs(tmp_path: Path) -> None:
    ref = litepose.create_model("litepose-xs", 14, width=0.5, kernel_size=5, fusion=False, input_size=192)
    path = save(ref, tmp_path / "m.pt")
    model = litepose.load(path)
    assert model.spec == ref.spec
    assert model.skeleton is not None and model.skeleton.name == "crowdpose"


def test_load_of_official_file_explains_convert(tmp_path: Path) -> None:
    path = tmp_path / "official.pth"
    torch.save(litepose.create_model("litepose-xs").state_dict(), path)
    with pytest.raises(CheckpointError, match="litepose convert"):
        litepose.load(path)


def test_load_weights_accepts_mapping(randomised: Randomised) -> None:
    ref = randomised("litepose-xs", 14)
    model = litepose.create_model("litepose-xs", 14)
    load_weights(model, {"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}})
    for (k, a), b in zip(model.state_dict().items(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_save_is_atomic_and_keeps_previous_on_failure(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "m.pt"
    model = litepose.create_model("litepose-xs")
    save(model, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind


def test_atomic_outputs_get_normal_permissions(tmp_path: Path) -> None:
    from litepose.io import atomic_write_text

    target = tmp_path / "out.json"
    old = os.umask(0o022)
    try:
        atomic_write_text(target, "{}")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644

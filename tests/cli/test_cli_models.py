from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import litepose
from litepose.models.families import family_of


def litepose_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "litepose", *args], capture_output=True, text=True, timeout=300)


def test_version_and_help() -> None:
    out = litepose_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"litepose {litepose.__version__}"
    out = litepose_cli("--help")
    assert out.returncode == 0 and "info" in out.stdout and "convert" in out.stdout


def test_info_json_matches_paper_numbers() -> None:
    out = litepose_cli("info", "litepose-xs", "litepose-s", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == ["litepose-xs", "litepose-s"]
    assert set(rows[0]) == {"name", "num_keypoints", "input_size", "params", "macs", "macs_paper"}
    xs, s = rows
    assert (xs["params"], xs["input_size"], xs["num_keypoints"]) == (1_675_552, 256, 14)
    assert s["params"] == 2_731_240 and s["input_size"] == 448
    assert abs(xs["macs_paper"] / 1.2e9 - 1) < 0.01 and abs(s["macs_paper"] / 5.0e9 - 1) < 0.01
    assert abs(xs["macs"] / 0.883e9 - 1) < 0.01 and abs(s["macs"] / 3.614e9 - 1) < 0.01


def test_info_table_and_options() -> None:
    out = litepose_cli("info", "litepose-xs", "--input-size", "128", "--joints", "17")
    assert out.returncode == 0, out.stderr
    assert "litepose-xs" in out.stdout and "128" in out.stdout and "1,675,912" in out.stdout


def test_info_unknown_model_is_one_line_error() -> None:
    out = litepose_cli("info", "litepose-huge")
    assert out.returncode == 2
    assert "unknown model 'litepose-huge'" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(("arch", "family"),
                         [("litepose-xs", "litepose"), ("scaled-higherhrnet-shrink3", "higherhrnet")])
def test_convert_official_checkpoint(tmp_path: Path, arch: str, family: str) -> None:
    ref = litepose.create_model(arch, 17).eval()
    with torch.no_grad():
        for v in ref.state_dict().values():
            if v.is_floating_point():
                v.add_(torch.randn_like(v) * 0.01)
    src = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, src)
    dst = tmp_path / f"{arch}-coco.pt"
    out = litepose_cli("convert", str(src), "--arch", arch, "-o", str(dst))
    assert out.returncode == 0, out.stderr
    assert "17 keypoints" in out.stdout and "coco" in out.stdout
    model = litepose.load(dst)
    assert family_of(model) == family and model.skeleton.name == "coco"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), ref(x), strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("joints", ["14"])
def test_convert_mismatch_is_clear(tmp_path: Path, joints: str) -> None:
    src = tmp_path / "w.pth"
    torch.save(litepose.create_model("litepose-s", 17).state_dict(), src)
    out = litepose_cli("convert", str(src), "--arch", "litepose-xs", "--joints", joints, "-o", str(tmp_path / "o.pt"))
    assert out.returncode == 2
    assert "does not fit this model" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "o.pt").exists()


def test_convert_missing_file(tmp_path: Path) -> None:
    out = litepose_cli("convert", str(tmp_path / "none.pth"), "--arch", "litepose-xs", "-o", str(tmp_path / "o.pt"))
    assert out.returncode == 2 and "none.pth does not exist" in out.stderr


def test_convert_empty_or_truncated_checkpoint_says_so_in_one_whole_line(tmp_path: Path) -> None:
    # Was "(EOFError: )" for an empty file and torch's advice cut off at 200 characters mid-sentence.
    whole = tmp_path / "whole.pth"
    torch.save(litepose.create_model("litepose-xs", 17).state_dict(), whole)
    data = whole.read_bytes()
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    for name, message in [("empty.pth", "empty.pth: not a readable PyTorch checkpoint: empty file"),
                          ("cut.pth", "cut.pth: not a readable PyTorch checkpoint, truncated or corrupt (")]:
        out = litepose_cli("convert", str(tmp_path / name), "--arch", "litepose-xs", "-o", str(tmp_path / "o.pt"))
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and message in lines[0], out.stderr
        assert lines[0].endswith((".)", "file")) and "EOFError" not in lines[0], lines[0]


def test_commands_leave_autograd_on_in_the_calling_process(tmp_path: Path) -> None:
    # litepose.cli.main is callable from Python (notebooks, tests): a command must not switch autograd off
    # for whatever the process does next (training after a predict used to fail with "does not require grad").
    import cv2
    import numpy as np

    from litepose.cli import main

    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 127, np.uint8))
    assert main(["info", "litepose-xs"]) == 0
    assert main(["predict", str(image), "--model", "litepose-xs", "--input-size", "64", "--out",
                 str(tmp_path / "out")]) == 0
    assert torch.is_grad_enabled()


def test_a_closed_pipe_ends_quietly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from litepose.cli import info, main

    def closed_pipe(_args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(info, "run", closed_pipe)
    assert main(["info"]) == 141  # 128 + SIGPIPE, as a shell reports it
    assert "error" not in capsys.readouterr().err

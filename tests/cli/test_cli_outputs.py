"""Outputs never destroy inputs, and unusable outputs are refused with one line before any work.

In process (``litepose.cli.main``), with model loading replaced by a failure, so every refusal is
shown to come before a model is loaded or a checkpoint is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from litepose.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _one_error(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"litepose {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "me.jpg"), np.full((40, 30, 3), 90, np.uint8))
    return folder


def test_predict_out_holding_the_source_is_refused(photos: Path, no_model: None, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = (photos / "me.jpg").read_bytes()
    monkeypatch.chdir(photos.parent)
    # the folder itself, through a relative path, through a symlink, and the photo given as --out
    (photos.parent / "link").symlink_to(photos)
    for source, out in [(photos, photos), ("photos/me.jpg", "photos/../photos"), (photos / "me.jpg", "link"),
                        ("photos/*.jpg", "photos/")]:
        code, err = _run(capsys, "predict", source, "--model", "litepose-xs", "--out", out, "--json")
        line = _one_error(err, "predict")
        assert code == 2 and f"--out {Path(out)}" in line and "holds the input" in line and "me.jpg" in line, line
    code, err = _run(capsys, "predict", photos / "me.jpg", "--model", "litepose-xs", "--out", photos / "me.jpg")
    assert code == 2 and "is the input" in _one_error(err, "predict")
    assert (photos / "me.jpg").read_bytes() == before
    assert sorted(p.name for p in photos.iterdir()) == ["me.jpg"]


def test_predict_video_out_beside_the_video_is_refused(tmp_path: Path, no_model: None,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (32, 32))
    for _ in range(2):
        writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.release()
    code, err = _run(capsys, "predict", video, "--model", "litepose-xs", "--out", tmp_path)
    assert code == 2 and "holds the input" in _one_error(err, "predict")


def test_predict_out_that_is_a_file_inside_a_file_or_unwritable_is_refused(
        photos: Path, tmp_path: Path, no_model: None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    cases = [(notes, "exists and is not a folder"), (notes / "out", "which is a file, not a folder")]
    for out, message in cases:
        code, err = _run(capsys, "predict", photos, "--model", "litepose-xs", "--out", out)
        line = _one_error(err, "predict")
        assert code == 2 and f"--out {out}" in line and message in line, line
    (tmp_path / "out" / "predictions.json").mkdir(parents=True)
    code, err = _run(capsys, "predict", photos, "--model", "litepose-xs", "--out", tmp_path / "out", "--json")
    assert code == 2 and "predictions.json: is a folder" in _one_error(err, "predict")
    # tests may run as root, where permissions do not stop writes: simulate a read-only folder
    read_only = tmp_path / "ro"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != read_only and real_access(p, mode))
    code, err = _run(capsys, "predict", photos, "--model", "litepose-xs", "--out", read_only / "new")
    line = _one_error(err, "predict")
    assert code == 2 and f"cannot write in {read_only} (permission denied)" in line, line
    assert notes.read_text() == "keep me"


def test_eval_out_equal_to_the_annotations_is_refused(tmp_path: Path, no_model: None,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "1.jpg"), np.zeros((40, 30, 3), np.uint8))
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "1.jpg"}], "annotations": [], "categories": []}))
    before = ann.read_bytes()
    monkeypatch.chdir(tmp_path)
    for out, message in [("ann.json", "is the input ann.json"), ("./images/../ann.json", "is the input"),
                         ("images/1.jpg", "is the input"), ("images", "is the input images"),
                         ("ann.json/preds.json", "which is a file")]:
        code, err = _run(capsys, "eval", "--ann", "ann.json", "--model", "litepose-xs", "--images", "images",
                         "--out", out)
        line = _one_error(err, "eval")
        assert code == 2 and f"--out {Path(out)}" in line and message in line, line
    assert ann.read_bytes() == before


def test_convert_output_equal_to_its_input_is_refused(tmp_path: Path, no_model: None,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = tmp_path / "official.pth"
    checkpoint.write_bytes(b"official weights")
    roundabout = tmp_path / ".." / tmp_path.name / "official.pth"
    for out, message in [(checkpoint, "is the input"), (roundabout, "is the input"), (tmp_path, "is a folder"),
                         (checkpoint / "x.pt", "which is a file")]:
        code, err = _run(capsys, "convert", checkpoint, "--arch", "litepose-xs", "-o", out)
        line = _one_error(err, "convert")
        assert code == 2 and f"--output {out}" in line and message in line, line
    assert checkpoint.read_bytes() == b"official weights"


def _synth(capsys: pytest.CaptureFixture[str], out: Path, *extra: str) -> tuple[int, str]:
    return _run(capsys, "synth", "--out", out, "--images", "2", "--size", "64x48", "--min-people", "1",
                "--max-people", "1", "--min-height", "20", "--max-height", "40", *extra)


def test_synth_refuses_an_existing_dataset_unless_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    code, err = _synth(capsys, out)
    assert code == 0, err
    ann = out / "annotations.json"
    ann.write_text(ann.read_text() + " ")  # mark it: a refusal must leave it as it is
    before = ann.read_text()
    code, err = _synth(capsys, out, "--seed", "1")
    line = _one_error(err, "synth")
    assert code == 2 and f"--out {out}: already holds a dataset" in line and "--overwrite" in line, line
    assert ann.read_text() == before
    code, err = _synth(capsys, out, "--seed", "1", "--overwrite")
    assert code == 0, err
    assert ann.read_text() != before and json.loads(ann.read_text())["images"]


def test_synth_out_inside_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    regular = tmp_path / "file"
    regular.write_text("x")
    for out, message in [(regular, "exists and is not a folder"), (regular / "data", "which is a file")]:
        code, err = _synth(capsys, out)
        assert code == 2 and message in _one_error(err, "synth")


def test_a_failed_write_after_the_checks_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "data" / "images" / "0.jpg"))

    monkeypatch.setattr("litepose.data.synthetic.synthesize", disk_full)
    code, err = _synth(capsys, tmp_path / "data")
    line = _one_error(err, "synth")
    assert code == 2 and line.endswith("images/0.jpg: No space left on device"), line

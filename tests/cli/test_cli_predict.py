"""`litepose predict` through a subprocess, on generated images and a generated video."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

# A small random model: fast, and --detection-threshold 0 makes it report people (its heatmaps are tiny).
MODEL = ["--model", "litepose-xs", "--input-size", "128", "--detection-threshold", "0", "--max-people", "3"]


def _litepose(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # One thread: the test machines are small and shared; torch's thread pool would only contend.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "litepose", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("predict_inputs")
    imgs = root / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(imgs / "000000000785.jpg"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    cv2.imwrite(str(imgs / "gray.png"), rng.integers(0, 255, (90, 70), dtype=np.uint8))
    cv2.imwrite(str(imgs / "rgba.png"), rng.integers(0, 255, (64, 64, 4), dtype=np.uint8))
    cv2.imwrite(str(imgs / "deep16.png"), rng.integers(0, 65535, (50, 80, 3), dtype=np.uint16))
    cv2.imwrite(str(imgs / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    cv2.imwrite(str(imgs / "huge.jpg"), np.zeros((2400, 3200, 3), np.uint8))
    (imgs / "notes.txt").write_text("not an image")
    (imgs / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated garbage")
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 64))
    assert writer.isOpened()
    for _ in range(5):
        writer.write(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    writer.release()
    (root / "bad.mp4").write_bytes(b"this is not a video")
    return root


def test_predict_folder_with_odd_and_bad_files(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _litepose("predict", inputs / "imgs", *MODEL, "--no-flip", "--out", out, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "RANDOM weights" in err  # loud warning for a zoo name without weights
    assert "skipping 1 non-image file(s): notes.txt" in err
    assert "corrupt.jpg: cannot decode image" in err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("6 images, 1 skipped,") and f"outputs in {out}" in summary
    written = sorted(p.name for p in out.iterdir())
    assert written == ["000000000785.jpg", "deep16.png", "gray.png", "huge.jpg", "predictions.json", "rgba.png",
                       "tiny.png"]  # nothing half-written or temporary left behind
    assert cv2.imread(str(out / "huge.jpg")).shape == (2400, 3200, 3)
    assert cv2.imread(str(out / "tiny.png")).shape == (1, 1, 3)
    results = json.loads((out / "predictions.json").read_text())
    assert len(results) == 6 * 3  # three people per image (max-people 3, threshold 0)
    by_file = {r["file_name"]: r for r in results}
    assert by_file["000000000785.jpg"]["image_id"] == 785  # numeric stems are COCO ids
    assert {len(r["keypoints"]) for r in results} == {51} and all(r["category_id"] == 1 for r in results)


def test_predict_video_json_lines_and_mp4(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _litepose("predict", inputs / "clip.mp4", *MODEL, "--joints", "14", "--out", out, "--json",
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip.jsonl", "clip.mp4"]
    lines = (out / "clip.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == [0, 1, 2, 3, 4]
    first = json.loads(lines[0])["results"]
    assert len(first) == 3 and len(first[0]["keypoints"]) == 42 and first[0]["image_id"] == 0
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    frames = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (64, 96, 3)
        frames += 1
    cap.release()
    assert frames == 5
    assert "5 frames" in proc.stderr.strip().splitlines()[-1]


def test_predict_json_to_stdout_single_image(inputs: Path, tmp_path: Path) -> None:
    proc = _litepose("predict", inputs / "imgs" / "gray.png", *MODEL, "--json", "--scales", "1.0", "1.5",
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == 3 and results[0]["file_name"] == "gray.png" and results[0]["image_id"] == 0
    assert list(tmp_path.iterdir()) == []  # no --out: nothing written


@pytest.mark.parametrize(("source", "message"), [
    ("missing.jpg", "missing.jpg: no such file or folder"),
    ("imgs/corrupt.jpg", "nothing could be processed"),
    ("bad.mp4", "bad.mp4: cannot open video"),
    ("imgs/*.gif", "no files match"),
])
def test_predict_bad_sources_fail_with_one_line(inputs: Path, source: str, message: str) -> None:
    proc = _litepose("predict", source, *MODEL, cwd=inputs)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("litepose predict: error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_predict_json_image_ids_are_unique_and_every_entry_names_its_file(tmp_path: Path) -> None:
    # 0001.jpg and b.png both became image_id 1 (the number in one name, the index of the other)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(1)
    for name in ("0001.jpg", "b.png", "1.png"):
        cv2.imwrite(str(imgs / name), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    proc = _litepose("predict", imgs, *MODEL, "--no-flip", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ids = {r["file_name"]: r["image_id"] for r in json.loads(proc.stdout)}
    assert set(ids) == {"0001.jpg", "b.png", "1.png"}
    assert len(set(ids.values())) == 3  # one id per image


def test_image_id_rule() -> None:
    from litepose.cli.predict import image_ids

    def ids(*names: str) -> list[int]:
        return image_ids([Path(n) for n in names])

    assert ids("000000000785.jpg", "000000001000.jpg") == [785, 1000]  # COCO names are their ids
    assert ids("000000000785.jpg", "gray.png", "rgba.png") == [785, 786, 787]  # others: above the largest
    assert ids("0001.jpg", "b.png") == [1, 2]
    assert ids("0001.jpg", "1.png", "b.png", "7.png") == [8, 9, 10, 7]  # a shared number is nobody's id
    assert ids("a.png", "b.png") == [0, 1]
    assert ids("².png", "3.png") == [4, 3]  # only ASCII digits are numbers

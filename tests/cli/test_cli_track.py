"""`litepose predict VIDEO --track [--smooth]` on generated clips: JSON Lines carry ids, bad videos, options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from litepose.cli import main as cli_main
from litepose.data.synthetic_video import VideoConfig, write_video
from litepose.inference.predictor import PoseResult
from litepose.skeleton import get_skeleton

COCO = get_skeleton("coco")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A generated 3-second clip (people walking, one crossing) and its ground truth."""
    root = tmp_path_factory.mktemp("clip")
    config = VideoConfig(image_size=(192, 144), fps=10, seconds=3.0, people=3, crossings=1, min_height=60,
                         max_height=90, stand_prob=0.0)
    summary = write_video(root, config, "coco", 4, name="walk")
    return summary.video_path, json.loads(summary.annotation_path.read_text())


class GroundTruthModel:
    """Stands in for the network: frame i's poses are the clip's annotations of frame i (confident
    where visible), so the test checks the tracking and the files, not a model's accuracy."""

    def __init__(self, truth: dict, fail_at: int | None = None) -> None:
        self.skeleton = COCO
        self.frames: dict[int, list[dict]] = defaultdict(list)
        for ann in truth["annotations"]:
            self.frames[ann["image_id"] - 1].append(ann)
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, image: np.ndarray, keep_image: bool = True) -> PoseResult:
        index, self.calls = self.calls, self.calls + 1
        if index == self.fail_at:
            raise RuntimeError("out of memory (simulated)")
        anns = self.frames[index]
        kps = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(-1, 17, 3)
        kps[:, :, 2] = np.select([kps[:, :, 2] == 2, kps[:, :, 2] == 1], [0.9, 0.3], 0.0)
        return PoseResult(kps, kps[:, :, 2].mean(axis=1), COCO, image=image)


def _use(monkeypatch: pytest.MonkeyPatch, model: GroundTruthModel) -> None:
    monkeypatch.setattr("litepose.cli.predict.build_predictor", lambda args: model)


def test_json_lines_carry_track_ids_that_follow_the_people(clip: tuple[Path, dict], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    video, truth = clip
    _use(monkeypatch, GroundTruthModel(truth))
    out = tmp_path / "out"
    assert cli_main(["predict", str(video), "--model", "x.pt", "--track", "--smooth", "--json", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["walk.jsonl", "walk.mp4"]
    lines = [json.loads(line) for line in (out / "walk.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(30))
    np.testing.assert_allclose([line["timestamp"] for line in lines], np.arange(30) / 10, atol=1e-6)
    by_gt: dict[int, set[int]] = defaultdict(set)
    by_frame = defaultdict(list)
    for ann in truth["annotations"]:
        by_frame[ann["image_id"] - 1].append(ann["track_id"])
    tracked = 0
    for line in lines:
        results = line["results"]
        assert len(results) == len(by_frame[line["frame"]]) and all("track_id" in r for r in results)
        for gt_id, entry in zip(by_frame[line["frame"]], results, strict=True):
            if entry["track_id"] is not None:
                by_gt[gt_id].add(entry["track_id"])
                tracked += 1
    assert tracked >= len(truth["annotations"]) - 3 * 3  # all but the frames before confirmation
    assert all(len(ids) == 1 for ids in by_gt.values())     # one id per person: no switch
    assert len(set().union(*by_gt.values())) == len(by_gt)  # and one person per id
    assert f"{len(by_gt)} tracks" in capsys.readouterr().err
    cap = cv2.VideoCapture(str(out / "walk.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30


def test_a_video_that_breaks_mid_way_keeps_what_was_processed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    whole = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    for _ in range(20):
        writer.write(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    writer.release()
    data = whole.read_bytes()
    broken = tmp_path / "broken.avi"
    broken.write_bytes(data[: len(data) // 2])  # the header still announces 20 frames
    _use(monkeypatch, GroundTruthModel({"annotations": []}))
    out = tmp_path / "out"
    assert cli_main(["predict", str(broken), "--model", "x.pt", "--track", "--json", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    lines = (out / "broken.jsonl").read_text().splitlines()
    assert 3 <= len(lines) < 20 and (out / "broken.mp4").is_file()
    assert f"decoding stopped after {len(lines)} of the 20 frames" in err and f"kept the {len(lines)} frame" in err
    assert all(json.loads(line)["results"] == [] for line in lines)  # nobody in these frames: no crash


def test_a_model_failing_mid_way_keeps_what_was_processed(clip: tuple[Path, dict], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    video, truth = clip
    _use(monkeypatch, GroundTruthModel(truth, fail_at=7))
    out = tmp_path / "out"
    assert cli_main(["predict", str(video), "--model", "x.pt", "--track", "--json", "--out", str(out)]) == 0
    assert len((out / "walk.jsonl").read_text().splitlines()) == 7
    assert "frame 7 failed (out of memory (simulated)); kept the 7 frame(s)" in capsys.readouterr().err


def test_tracking_options_need_a_video_and_show_needs_a_display(clip: tuple[Path, dict], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch, no_model: None,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    assert cli_main(["predict", str(image), "--model", "x.pt", "--smooth"]) == 2
    assert "--smooth: needs a video file or a webcam SOURCE" in capsys.readouterr().err
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert cli_main(["predict", str(clip[0]), "--model", "x.pt", "--show"]) == 2
    assert "--show: no display" in capsys.readouterr().err


def test_predict_track_with_a_real_network_in_a_subprocess(clip: tuple[Path, dict], tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "litepose", "predict", str(clip[0]), "--model", "litepose-xs",
                           "--input-size", "128", "--detection-threshold", "0", "--max-people", "3", "--no-flip",
                           "--max-frames", "6", "--track", "--smooth", "--json", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (out / "walk.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and all("track_id" in r for line in lines for r in line["results"])
    assert "tracks; outputs in" in proc.stderr.strip().splitlines()[-1] or "track; outputs in" in proc.stderr

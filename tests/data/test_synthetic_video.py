"""Synthetic videos: deterministic clips with persistent track ids, timestamps, camera pan, detector noise."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from litepose.cli import main as cli_main
from litepose.data.synthetic_video import (
    DetectorNoise,
    VideoConfig,
    Walker,
    frame_times,
    plan_walkers,
    render_frames,
    simulate_detections,
    write_video,
)

SMALL = VideoConfig(image_size=(160, 120), fps=10, seconds=2.0, people=4, crossings=1, min_height=40,
                    max_height=80)


def _first(config: VideoConfig, seed: int, n: int) -> list:
    return [f for _, f in zip(range(n), render_frames(config, "coco", seed), strict=False)]


def test_same_seed_same_clip_other_seed_other_clip() -> None:
    a, b, c = _first(SMALL, 3, 4), _first(SMALL, 3, 4), _first(SMALL, 4, 4)
    for fa, fb in zip(a, b, strict=True):
        assert np.array_equal(fa.image, fb.image) and np.array_equal(fa.keypoints, fb.keypoints)
        assert np.array_equal(fa.track_ids, fb.track_ids)
    assert not np.array_equal(a[0].image, c[0].image)


def test_people_keep_their_ids_and_move_smoothly() -> None:
    frames = list(render_frames(SMALL, "coco", 5))
    assert [f.index for f in frames] == list(range(20))
    by_id: dict[int, list[tuple[int, np.ndarray]]] = {}
    for f in frames:
        assert len(set(f.track_ids.tolist())) == len(f.track_ids)
        for tid, kps, height in zip(f.track_ids.tolist(), f.keypoints, f.heights, strict=True):
            by_id.setdefault(tid, []).append((f.index, kps))
            assert 30 < height < 120
    assert set(by_id) <= set(range(SMALL.people)) and len(by_id) >= 3
    for track in by_id.values():  # consecutive annotations of one id are the same person, a frame apart
        for (i0, k0), (i1, k1) in itertools.pairwise(track):
            both = (k0[:, 2] > 0) & (k1[:, 2] > 0)
            if i1 == i0 + 1 and both.sum() >= 5:
                assert np.median(np.linalg.norm(k1[both, :2] - k0[both, :2], axis=1)) < 20


def test_the_crossing_pair_swaps_sides() -> None:
    config = VideoConfig(image_size=(240, 160), fps=10, seconds=6.0, people=2, crossings=1, walk_speed=(0.6, 0.8))
    walkers = plan_walkers(config, 0)
    assert walkers[0].heading == pytest.approx(math.pi / 2) and walkers[1].heading == pytest.approx(-math.pi / 2)
    side = []
    for f in render_frames(config, "coco", 0, walkers=walkers):
        labelled = f.keypoints[:, :, 2] > 0
        if len(f.track_ids) == 2 and (labelled.sum(axis=1) >= 3).all():  # both in the frame
            x = {tid: kps[ok, 0].mean() for tid, kps, ok in zip(f.track_ids.tolist(), f.keypoints, labelled,
                                                                strict=True)}
            side.append(x[0] < x[1])
    assert side[0] and not side[-1]  # person 0 starts on the left and ends on the right of person 1


def test_people_enter_and_leave() -> None:
    config = VideoConfig(image_size=(160, 120), fps=8, seconds=6.0, people=3, crossings=0, stand_prob=0.0,
                         turn_prob=0.0, enter_prob=1.0, min_height=50, max_height=70, walk_speed=(1.0, 1.5))
    first, last = {}, {}
    for f in render_frames(config, "coco", 1):
        for tid in f.track_ids.tolist():
            first.setdefault(tid, f.index)
            last[tid] = f.index
    assert first and all(i > 0 for i in first.values())   # nobody is there at the start
    assert any(i < 47 for i in last.values())               # somebody has left before the end


def test_camera_pan_moves_everything_and_people_move_on_their_own() -> None:
    still = Walker(track_id=0, start=0.0, x=80.0, y=110.0, height=70.0, speed=0.0, heading=0.0, turn_time=None,
                   turn_angle=0.0, pose="standing", seed=1)
    times = [0.0, 0.5, 1.0]
    config = VideoConfig(image_size=(160, 120), seconds=2.0, people=1, crossings=0, camera_pan=30.0)
    panned = list(render_frames(config, "coco", 0, walkers=[still], times=times))
    fixed = list(render_frames(VideoConfig(image_size=(160, 120), seconds=2.0, people=1, crossings=0), "coco", 0,
                               walkers=[still], times=times))
    for p, f, t in zip(panned, fixed, times, strict=True):
        shift = 30.0 * math.sin(2 * math.pi * t / 2.0)      # the camera moved right by this much
        ok = (p.keypoints[0, :, 2] > 0) & (f.keypoints[0, :, 2] > 0)
        np.testing.assert_allclose(p.keypoints[0, ok, 0], f.keypoints[0, ok, 0] - shift, atol=0.02)


def test_variable_frame_rate_timestamps() -> None:
    vfr = VideoConfig(fps=20, seconds=3.0, frame_jitter=0.5)
    times = frame_times(vfr, 0)
    steps = np.diff(times)
    assert (steps > 0).all() and steps.min() >= 0.5 / 20 - 1e-6 and steps.max() <= 1.5 / 20 + 1e-6
    assert steps.std() > 0.005 and times[-1] < 3.0
    assert np.allclose(np.diff(frame_times(VideoConfig(fps=20, seconds=3.0), 0)), 0.05)


def test_simulated_detections_have_the_asked_noise() -> None:
    frames = list(render_frames(SMALL, "coco", 2))
    rng = np.random.default_rng(0)
    errors = []
    for f in frames:
        kps, scores, src = simulate_detections(f, DetectorNoise(sigma=0.05, outlier_rate=0.0, miss_rate=0.0), rng)
        mostly_visible = f.track_ids[(f.keypoints[:, :, 2] == 2).mean(axis=1) >= 0.25]
        assert set(mostly_visible.tolist()) <= set(src.tolist()) <= set(f.track_ids.tolist())  # covered: maybe missed
        np.testing.assert_allclose(scores, kps[:, :, 2].mean(axis=1))
        for d, tid in zip(kps, src.tolist(), strict=True):
            row = f.track_ids.tolist().index(tid)
            visible = f.keypoints[row, :, 2] == 2
            errors.append((d[visible, :2] - f.keypoints[row, visible, :2]).ravel() / f.heights[row])
            assert (d[visible, 2] >= 0.5).all() and (d[f.keypoints[row, :, 2] == 0, 2] < 0.05).all()
    assert np.concatenate(errors).std() == pytest.approx(0.05, rel=0.1)
    none, _, _ = simulate_detections(frames[5], DetectorNoise(miss_rate=1.0), rng)
    assert none.shape == (0, 17, 3)
    extra, _, src = simulate_detections(frames[5], DetectorNoise(miss_rate=1.0, false_positives=5.0),
                                        np.random.default_rng(1))
    assert len(extra) > 0 and (src == -1).all()


def test_write_video_mp4_posetrack_json_and_detections(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    config = VideoConfig(image_size=(160, 120), fps=10, seconds=1.5, people=3, frame_jitter=0.3, min_height=40,
                         max_height=80)
    summary = write_video(tmp_path, config, "crowdpose", 7, name="walk", noise=DetectorNoise())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.detections.jsonl", "walk.json", "walk.mp4"]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(summary.annotation_path))
    images = coco.dataset["images"]
    assert len(images) == summary.frames and [im["frame_id"] for im in images] == list(range(summary.frames))
    assert images[0]["timestamp"] == 0.0 and np.diff([im["timestamp"] for im in images]).std() > 0  # VFR
    anns = coco.dataset["annotations"]
    assert anns and all(len(a["keypoints"]) == 42 and a["track_id"] in range(3) for a in anns)
    assert coco.dataset["videos"][0]["file_name"] == "walk.mp4"
    cap = cv2.VideoCapture(str(summary.video_path))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == summary.frames and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 160
    lines = [json.loads(line) for line in summary.detections_path.read_text().splitlines()]  # type: ignore[union-attr]
    assert [line["frame"] for line in lines] == list(range(summary.frames))
    assert lines[3]["timestamp"] == images[3]["timestamp"]
    assert all(len(r["keypoints"]) == 42 and "score" in r for line in lines for r in line["results"])
    again = tmp_path / "again"
    write_video(again, config, "crowdpose", 7, name="walk")
    assert (again / "walk.json").read_bytes() == summary.annotation_path.read_bytes()


def test_config_checks_name_the_field() -> None:
    with pytest.raises(ValueError, match="fps"):
        VideoConfig(fps=0)
    with pytest.raises(ValueError, match="crossings"):
        VideoConfig(people=2, crossings=2)
    with pytest.raises(ValueError, match="frame_jitter"):
        VideoConfig(frame_jitter=1.0)
    with pytest.raises(ValueError, match="sigma"):
        DetectorNoise(sigma=-1)
    with pytest.raises(ValueError, match="seed"):
        next(render_frames(SMALL, "coco", -1))


def test_cli_writes_clips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "clips"
    assert cli_main(["synth", "--video", "--out", str(out), "--videos", "2", "--seconds", "1", "--fps", "8",
                     "--size", "128x96", "--min-height", "40", "--max-height", "70", "--noise", "0.02"]) == 0
    assert "wrote 2 clips" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["clip_000.detections.jsonl", "clip_000.json", "clip_000.mp4",
                                                     "clip_001.detections.jsonl", "clip_001.json", "clip_001.mp4"]
    assert json.loads((out / "clip_001.json").read_text())["info"]["seed"] == 1
    assert cli_main(["synth", "--video", "--out", str(out), "--seconds", "1"]) == 2  # holds clips: --overwrite
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--video", "--images", "3"], "--images is for images, not --video"),
    (["--seconds", "3"], "--seconds needs --video"),
    (["--video", "--fps", "0"], "fps"),
    (["--video", "--people", "1", "--crossings", "1"], "crossings"),
    (["--video", "--noise", "-0.1"], "sigma"),
])
def test_cli_video_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                        message: str) -> None:
    assert cli_main(["synth", "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert "litepose synth: error:" in err and message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()

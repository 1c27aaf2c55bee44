"""Tracker: ids through a crossing in a generated clip, life cycle in seconds, ids never reused, bad input."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import litepose
from litepose.data.synthetic_video import VideoConfig, Walker, render_frames
from litepose.skeleton import get_skeleton
from litepose.tracking import OneEuroConfig, Tracker, TrackerConfig

COCO = get_skeleton("coco")


def _walker(track_id: int, x: float, y: float, heading: float, seed: int) -> Walker:
    return Walker(track_id=track_id, start=0.0, x=x, y=y, height=110.0, speed=0.6, heading=heading,
                  turn_time=None, turn_angle=0.0, pose="walking", seed=seed)


def _detections(frame: object, rng: np.random.Generator) -> np.ndarray:
    """Ground truth as a detector would give it: 1 px jitter, confidence from the visibility flag."""
    kps = frame.keypoints  # type: ignore[attr-defined]
    conf = np.select([kps[:, :, 2] == 2, kps[:, :, 2] == 1], [0.9, 0.3], 0.0)
    xy = kps[:, :, :2] + rng.normal(0, 1.0, kps[:, :, :2].shape)
    return np.concatenate([xy, conf[..., None]], axis=2)


@pytest.fixture(scope="module")
def crossing() -> list:
    """Two people walking towards each other at nearly the same depth; the one behind is covered."""
    config = VideoConfig(image_size=(256, 160), fps=15, seconds=3.0, people=2, crossings=0)
    walkers = [_walker(0, 20.0, 150.0, math.pi / 2, 1), _walker(1, 236.0, 156.0, -math.pi / 2, 2)]
    return list(render_frames(config, "coco", 0, walkers=walkers))


def test_ids_survive_a_crossing_in_a_generated_clip(crossing: list) -> None:
    pelvis_x = {0: [], 1: []}
    for f in crossing:
        for tid, kps in zip(f.track_ids.tolist(), f.keypoints, strict=True):
            hips = kps[[11, 12]]
            if (hips[:, 2] > 0).all():
                pelvis_x[tid].append((f.index, hips[:, 0].mean()))
    # the clip really is a crossing: person 0 starts left of person 1 and ends right of them
    first = {tid: dict(v) for tid, v in pelvis_x.items()}
    common = sorted(set(first[0]) & set(first[1]))
    assert first[0][common[0]] < first[1][common[0]] and first[0][common[-1]] > first[1][common[-1]]

    rng = np.random.default_rng(0)
    for smoothing in (None, OneEuroConfig()):
        tracker = Tracker(COCO, smoothing=smoothing)
        seen: dict[int, set[int]] = defaultdict(set)   # ground-truth person -> tracker ids given to it
        tracked_frames = 0
        for f in crossing:
            out = tracker.update(_detections(f, rng), timestamp=f.time)
            assert list(out.detection_index[: len(f.track_ids)]) == list(range(len(f.track_ids)))
            for gt_id, tid in zip(f.track_ids.tolist(), out.track_ids[: len(f.track_ids)].tolist(), strict=True):
                if tid >= 0:
                    seen[gt_id].add(tid)
                    tracked_frames += 1
        assert seen[0] and seen[1] and len(seen[0]) == 1 and len(seen[1]) == 1 and seen[0] != seen[1]
        annotated = sum(len(f.track_ids) for f in crossing)
        assert tracked_frames >= annotated - 2 * 2  # all but the frames before confirmation (min_hits=2)


def test_the_greedy_iou_baseline_swaps_ids_in_the_same_crossing(crossing: list) -> None:
    """Boxes around the two overlapping people confuse the common baseline: the crossing is a real test."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_tracking import GreedyIoUTracker

    baseline = GreedyIoUTracker(np.asarray(COCO.oks_sigmas))
    rng = np.random.default_rng(0)
    seen: dict[int, set[int]] = defaultdict(set)
    for f in crossing:
        dets = _detections(f, rng)
        for gt_id, tid in zip(f.track_ids.tolist(), baseline.update(dets, dets[:, :, 2].mean(axis=1), f.time),
                              strict=True):
            seen[gt_id].add(int(tid))
    assert len(seen[0]) > 1 or len(seen[1]) > 1


def test_life_cycle_in_seconds_and_ids_never_reused() -> None:
    cfg = TrackerConfig(min_hits=2, max_age=1.0)
    tracker = Tracker(COCO, cfg)
    rng = np.random.default_rng(1)
    shape = np.concatenate([rng.uniform(0, 60, (17, 2)) + np.array([100, 50]), np.full((17, 1), 0.9)], axis=1)
    out = tracker.update(shape[None], timestamp=0.0)
    assert out.track_ids.tolist() == [-1]                    # tentative
    out = tracker.update(shape[None], timestamp=0.1)
    assert out.track_ids.tolist() == [1]                     # confirmed after 2 hits
    assert tracker.update(np.zeros((0, 17, 3)), timestamp=0.2).track_ids.tolist() == []   # nobody in frame
    out = tracker.update(shape[None], timestamp=1.05)        # 0.95 s unseen < max_age: the same track
    assert out.track_ids.tolist() == [1]
    tracker.update(np.zeros((0, 17, 3)), timestamp=1.5)
    tracker.update(shape[None], timestamp=2.2)               # 1.15 s unseen > max_age: a new, tentative track
    out = tracker.update(shape[None], timestamp=2.3)
    assert out.track_ids.tolist() == [2]                     # a new id, never 1 again
    tracker.reset()
    tracker.update(shape[None], timestamp=0.0)               # a new video: time starts over
    assert tracker.update(shape[None], timestamp=0.1).track_ids.tolist() == [3]


def test_people_count_jumping_and_random_scenes_never_reuse_ids() -> None:
    rng = np.random.default_rng(2)
    tracker = Tracker(COCO, TrackerConfig(min_hits=1, max_age=0.2))
    first_seen: dict[int, float] = {}
    last_seen: dict[int, float] = {}
    t = 0.0
    for _ in range(200):
        t += float(rng.uniform(0.01, 0.15))                   # a variable frame rate
        n = int(rng.choice([0, 1, 5, 20]))                    # the number of people jumps around
        kps = np.concatenate([rng.uniform(0, 500, (n, 17, 2)), rng.uniform(0, 1, (n, 17, 1))], axis=2)
        out = tracker.update(kps, rng.uniform(0, 1, n), timestamp=t)
        assert len(out) >= n and out.keypoints.shape[1:] == (17, 3)
        ids = [i for i in out.track_ids.tolist() if i >= 0]
        assert len(ids) == len(set(ids))                      # one pose per id per frame
        for i in ids:
            if i in last_seen:
                assert t - last_seen[i] <= 0.2 + 1e-9         # an id comes back only within max_age
            first_seen.setdefault(i, t)
            last_seen[i] = t
    assert sorted(first_seen) == list(range(1, len(first_seen) + 1))
    assert [first_seen[i] for i in sorted(first_seen)] == sorted(first_seen.values())  # ids grow with time


def test_duplicates_of_a_person_are_not_tracked_twice() -> None:
    rng = np.random.default_rng(3)
    person = np.concatenate([rng.uniform(0, 80, (17, 2)) + 100, np.full((17, 1), 0.8)], axis=1)
    other = person + np.array([200, 0, 0])
    copy = person + np.array([1.5, -1.0, -0.5])                         # a fragment completed by refinement
    tracker = Tracker(COCO, TrackerConfig(min_hits=1))
    for t in range(3):
        out = tracker.update(np.stack([person, copy, other]), np.array([0.8, 0.3, 0.7]), timestamp=t / 10)
    assert out.track_ids[1] == -1 and out.track_ids[0] >= 0 and out.track_ids[2] >= 0
    assert tracker.active_ids == [1, 2]


def test_missed_people_are_filled_for_a_few_frames_when_asked() -> None:
    person = np.concatenate([np.random.default_rng(4).uniform(0, 80, (17, 2)), np.full((17, 1), 0.8)], axis=1)
    tracker = Tracker(COCO, TrackerConfig(min_hits=1, fill_frames=2))
    for t in range(4):  # moving right at 10 px per frame
        tracker.update((person + np.array([10 * t, 0, 0]))[None], timestamp=t / 10)
    out = tracker.update(np.zeros((0, 17, 3)), timestamp=0.4)
    assert out.track_ids.tolist() == [1] and out.detection_index.tolist() == [-1] and out.filled_joints.all()
    assert out.to_coco(7)[0]["filled"] is True and out.to_coco(7)[0]["track_id"] == 1
    np.testing.assert_allclose(out.keypoints[0, :, 0], person[:, 0] + 40, atol=3.0)  # predicted, not frozen
    tracker.update(np.zeros((0, 17, 3)), timestamp=0.5)
    assert len(tracker.update(np.zeros((0, 17, 3)), timestamp=0.6)) == 0            # only fill_frames frames


def test_bad_input_is_named() -> None:
    tracker = Tracker("coco")
    with pytest.raises(ValueError, match=r"\(N, 17, 3\)"):
        tracker.update(np.zeros((2, 14, 3)), timestamp=0.0)
    with pytest.raises(ValueError, match="scores"):
        tracker.update(np.zeros((2, 17, 3)), np.zeros(3), timestamp=0.0)
    tracker.update(np.zeros((0, 17, 3)), timestamp=1.0)
    with pytest.raises(ValueError, match="timestamps must increase"):
        tracker.update(np.zeros((0, 17, 3)), timestamp=1.0)
    nan_pose = np.full((1, 17, 3), np.nan)                     # NaN joints count as not detected
    assert tracker.update(nan_pose, timestamp=2.0).track_ids.tolist() == [-1]
    with pytest.raises(ValueError, match=r"TrackerConfig\.max_age"):
        TrackerConfig(max_age=-1)
    with pytest.raises(ValueError, match=r"TrackerConfig\.motion"):
        TrackerConfig(motion="magic")  # type: ignore[arg-type]


def test_embeddings_can_break_a_tie_between_two_equally_close_tracks() -> None:
    rng = np.random.default_rng(6)
    pose = np.concatenate([rng.uniform(0, 60, (17, 2)), np.full((17, 1), 0.9)], axis=1)
    a, b = pose + np.array([100.0, 0, 0]), pose + np.array([108.0, 0, 0])
    tracker = Tracker(COCO, TrackerConfig(min_hits=1, nms_threshold=2.0, embedding_weight=0.5))
    first = tracker.update(np.stack([a, b]), timestamp=0.0, embeddings=np.array([[0.0], [1.0]]))
    # both people now stand halfway between the two tracks: only the embeddings tell them apart
    middle = pose + np.array([104.0, 0, 0])
    out = tracker.update(np.stack([middle, middle]), timestamp=0.1, embeddings=np.array([[1.0], [0.0]]))
    assert out.track_ids.tolist() == first.track_ids[::-1].tolist()
    assert len(tracker.update(np.zeros((0, 17, 3)), timestamp=0.2, embeddings=np.zeros((0, 1)))) == 0
    with pytest.raises(ValueError, match="embeddings"):
        tracker.update(middle[None], timestamp=0.3, embeddings=np.zeros((2, 1)))


def test_json_entries_carry_track_ids() -> None:
    tracker = litepose.Tracker(17, TrackerConfig(min_hits=1))
    pose = np.concatenate([np.random.default_rng(5).uniform(0, 80, (1, 17, 2)), np.full((1, 17, 1), 0.8)], axis=2)
    entries = tracker.update(pose, timestamp=0.0).to_coco(3)
    assert entries[0]["track_id"] == 1 and entries[0]["image_id"] == 3 and len(entries[0]["keypoints"]) == 51


def test_tracking_imports_neither_torch_nor_the_rooms_above_it() -> None:
    code = ("import sys, litepose, litepose.tracking\n"
            "litepose.Tracker('coco')\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('litepose.training', "
            "'litepose.search', 'litepose.export'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out

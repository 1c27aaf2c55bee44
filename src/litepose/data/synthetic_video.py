"""Synthetic videos with ground-truth identities: people walking, turning, crossing, entering and leaving.

Built on the image generator (:mod:`litepose.data.synthetic`): the same articulated body model,
renderer, palettes, backgrounds and visibility rules (an id map decides ``v=2`` visible, ``v=1``
covered, ``v=0`` outside the frame). What this module adds is time:

1. **Scripts** (:class:`Walker`, :func:`plan_walkers`): each person has a start time, a foot position
   on the ground, a height, a heading and a walking speed (in heights per second), optionally one
   turn. Depth follows a simple perspective: a person's drawn height grows as their feet move down the
   frame (towards the camera), and people standing lower are drawn later, so they cover the ones
   behind. Walkers enter from a side and leave the frame; some
   people stand, wave and turn on the spot; ``crossings`` pairs are timed to cross each other at the
   same depth, one just in front. People move in the world, independently of the camera, which can
   pan (``camera_pan``): every pixel of the frame then moves, background included.
2. **Motion** (:func:`walker_states`): positions are integrated in closed form from the heading, so
   any timestamp can be rendered: frames at a constant rate or, with ``frame_jitter``, at a variable
   one. A walk cycle (hips, knees, shoulders and elbows swinging with the distance walked) animates
   the legs and arms.
3. **Frames** (:func:`render_frames`): each frame is rendered at its timestamp, with its COCO-style
   annotations carrying the person's persistent ``track_id``.
4. **Detections** (:class:`DetectorNoise`, :func:`simulate_detections`): ground truth turned into what
   a detector would report: per-frame keypoint jitter in proportion to the person's height (more on
   covered joints), confidences, occasional outlier joints, missed people, optional false positives.
5. **Files** (:func:`write_video`): ``NAME.mp4`` (OpenCV ``VideoWriter``, mp4v, at the nominal frame
   rate), ``NAME.json`` (PoseTrack-like COCO: ``videos``, ``images`` with ``frame_id`` and
   ``timestamp`` in seconds, ``annotations`` with ``track_id``), and with noise ``NAME.detections.jsonl``
   (one line per frame, the format of ``litepose predict --json``).

An MP4 written by OpenCV has a constant frame rate: with ``frame_jitter`` the true (variable) frame
times are in the JSON's ``timestamp`` fields, not in the container.

Determinism: a clip depends only on ``(config, skeleton, seed)``; frame ``i``'s pixel noise and its
simulated detections come from ``default_rng([seed, ..., i])``, so frames can be produced in any order.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from litepose.data.synthetic import (
    _ANGLE_HI,
    _ANGLE_INDEX,
    _ANGLE_LO,
    _ANGLE_NAMES,
    _ID_SHIFT,
    Body,
    _annotate,
    _background,
    _draw_person,
    _palette,
    _sample_angles,
    anatomy_index,
    pose_body,
)
from litepose.io import atomic_open, atomic_write_json
from litepose.skeleton import Skeleton, load_skeleton

__all__ = [
    "DetectorNoise",
    "VideoConfig",
    "VideoFrame",
    "VideoSummary",
    "Walker",
    "frame_times",
    "plan_walkers",
    "render_frames",
    "simulate_detections",
    "walker_states",
    "write_video",
]

# The ground: foot rows between these fractions of the frame height; the horizon sits above the frame,
# so a person's drawn height scales with (foot_y - horizon).
_GROUND = (0.5, 0.97)
_HORIZON = -0.6
_DEPTH_FORESHORTENING = 0.35  # walking towards the camera moves the feet down this fraction of the distance
_GAIT_CYCLE = 1.4            # heights walked per gait cycle (two steps)
_TURN_SECONDS = 0.8          # a walker's turn; people standing turn over 2.5 s
_STAND_TURN_SECONDS = 2.5
_STAND_POSES = ("standing", "waving", "arms_raised", "hands_on_hips", "reaching")


@dataclass(frozen=True)
class VideoConfig:
    """What a synthetic clip shows.

    Attributes:
        image_size: ``(width, height)`` in pixels.
        fps: nominal frame rate.
        seconds: clip length.
        people: people over the whole clip (each with its own track id).
        crossings: pairs among them timed to cross each other at the same depth.
        min_height, max_height: standing heights in pixels at their starting depth.
        walk_speed: ``(min, max)`` walking speed in heights per second (a person is ~1.7 m, so
            0.5-0.9 is a calm to brisk walk).
        stand_prob: share of the people (outside the crossing pairs) who stay in place.
        turn_prob: share who turn once (walkers turn back, people standing turn on the spot).
        enter_prob: share of the walkers who enter from a side after the start.
        camera_pan: amplitude in pixels of a slow horizontal camera pan (0: still camera).
        frame_jitter: variable frame rate: each frame interval is ``(1 + u) / fps`` with ``u``
            uniform in ``[-frame_jitter, frame_jitter]`` (0: constant rate).
        min_visible_fraction: people less visible than this are drawn but not annotated.
    """

    image_size: tuple[int, int] = (320, 240)
    fps: float = 15.0
    seconds: float = 8.0
    people: int = 6
    crossings: int = 1
    min_height: float = 60.0
    max_height: float = 140.0
    walk_speed: tuple[float, float] = (0.45, 0.9)
    stand_prob: float = 0.2
    turn_prob: float = 0.3
    enter_prob: float = 0.4
    camera_pan: float = 0.0
    frame_jitter: float = 0.0
    min_visible_fraction: float = 0.1

    def __post_init__(self) -> None:
        w, h = (int(v) for v in self.image_size)
        if (w, h) != tuple(self.image_size) or not (32 <= w <= 4096 and 32 <= h <= 4096):
            raise ValueError(f"image_size must be two ints (width, height) in 32..4096, got {self.image_size}")
        object.__setattr__(self, "image_size", (w, h))
        if not (math.isfinite(self.fps) and 1 <= self.fps <= 240):
            raise ValueError(f"fps must be in [1, 240], got {self.fps}")
        if not (math.isfinite(self.seconds) and 0 < self.seconds <= 600):
            raise ValueError(f"seconds must be in (0, 600], got {self.seconds}")
        if not 0 <= self.people <= 200:
            raise ValueError(f"people must be in 0..200, got {self.people}")
        if not 0 <= 2 * self.crossings <= self.people:
            raise ValueError(f"crossings must be in 0..people/2 ({self.people // 2}), got {self.crossings}")
        if not 8 <= self.min_height <= self.max_height:
            raise ValueError(f"min_height/max_height must satisfy 8 <= min_height <= max_height, got "
                             f"{self.min_height}/{self.max_height}")
        if self.min_height > 0.9 * h:
            raise ValueError(f"min_height {self.min_height} does not fit the frame height {h}")
        lo, hi = self.walk_speed
        if not 0 < lo <= hi <= 5:
            raise ValueError(f"walk_speed must be (min, max) with 0 < min <= max <= 5, got {self.walk_speed}")
        for name in ("stand_prob", "turn_prob", "enter_prob", "min_visible_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not (math.isfinite(self.camera_pan) and 0 <= self.camera_pan <= w):
            raise ValueError(f"camera_pan must be in [0, width], got {self.camera_pan}")
        if not 0 <= self.frame_jitter < 1:
            raise ValueError(f"frame_jitter must be in [0, 1), got {self.frame_jitter}")


@dataclass(frozen=True)
class Walker:
    """One person's script.

    Attributes:
        track_id: the persistent identity (0, 1, ... as in PoseTrack).
        start: seconds from the clip's start at which the person is there.
        x, y: foot position at ``start`` in world pixels (image pixels while the camera is at rest);
            ``y`` is the depth: nearer people stand lower.
        height: standing height in pixels at foot row ``y`` (scales with depth as the person moves).
        speed: heights per second (0: stays in place).
        heading: radians: 0 towards the camera, +pi/2 walking right, -pi/2 left, pi away.
        turn_time: seconds at which a turn by ``turn_angle`` begins, or ``None``.
        turn_angle: radians.
        pose: the arm pose of a person standing (a :data:`~litepose.data.synthetic.POSES` name), or
            ``"walking"``.
        seed: the person's appearance and body proportions.
    """

    track_id: int
    start: float
    x: float
    y: float
    height: float
    speed: float
    heading: float
    turn_time: float | None
    turn_angle: float
    pose: str
    seed: int


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def walker_states(walker: Walker, times: np.ndarray, frame_height: int) -> dict[str, np.ndarray]:
    """Foot position, height, facing and gait phase of a walker at ``times`` (seconds).

    The heading turns smoothly (smoothstep over 0.8 s for walkers, 2.5 s on the spot); the image
    velocity is ``speed * height(y) * (sin heading, 0.35 cos heading)`` and ``height(y)`` grows
    linearly with the distance of the foot row below the horizon, so the motion is integrated in
    closed form per time step of 5 ms and interpolated.

    Returns:
        ``{"x", "y", "height", "yaw", "phase", "present"}`` arrays shaped like ``times``
        (``present``: the person exists at that time; the other values are then meaningless).
    """
    t = np.asarray(times, dtype=np.float64)
    horizon = _HORIZON * frame_height
    end = max(float(t.max(initial=walker.start)), walker.start) + 0.01
    grid = np.arange(walker.start, end + 0.005, 0.005)
    heading = np.full_like(grid, walker.heading)
    if walker.turn_time is not None:
        span = _TURN_SECONDS if walker.speed > 0 else _STAND_TURN_SECONDS
        heading = heading + walker.turn_angle * _smoothstep((grid - walker.turn_time) / span)
    # d(y - horizon)/dt = k (y - horizon): exponential in the integral of k
    k = walker.speed * _DEPTH_FORESHORTENING * np.cos(heading) * walker.height / (walker.y - horizon)
    dt = np.diff(grid, prepend=grid[0])
    log_depth = np.cumsum(k * dt)
    depth = (walker.y - horizon) * np.exp(log_depth)
    height = walker.height * depth / (walker.y - horizon)
    x = walker.x + np.cumsum(walker.speed * height * np.sin(heading) * dt)
    y = horizon + depth
    phase = 2.0 * math.pi * walker.speed * (grid - walker.start) / _GAIT_CYCLE
    present = t >= walker.start - 1e-9
    tc = np.clip(t, grid[0], grid[-1])
    return {"x": np.interp(tc, grid, x), "y": np.interp(tc, grid, y), "height": np.interp(tc, grid, height),
            "yaw": np.interp(tc, grid, heading), "phase": np.interp(tc, grid, phase), "present": present}


def frame_times(config: VideoConfig, seed: int) -> np.ndarray:
    """The timestamps (seconds, from 0) of a clip's frames: regular, or jittered with ``frame_jitter``."""
    n_nominal = max(1, round(config.seconds * config.fps))
    if config.frame_jitter == 0:
        return np.arange(n_nominal) / config.fps
    rng = np.random.default_rng([seed, 0x7155])
    steps = (1.0 + rng.uniform(-config.frame_jitter, config.frame_jitter, size=2 * n_nominal + 2)) / config.fps
    times = np.concatenate([[0.0], np.cumsum(steps)])
    return np.round(times[times < config.seconds], 6)


def _appearance(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0xB0D7])


def plan_walkers(config: VideoConfig, seed: int) -> tuple[Walker, ...]:
    """The people of a clip (deterministic in ``seed``); see :class:`VideoConfig` for the mix."""
    rng = np.random.default_rng([seed, 0x9A1])
    w, h = config.image_size
    lo, hi = _GROUND[0] * h, _GROUND[1] * h
    walkers: list[Walker] = []

    def height_and_row() -> tuple[float, float]:
        ht = float(math.exp(rng.uniform(math.log(config.min_height), math.log(config.max_height))))
        row = float(rng.uniform(max(lo, min(hi, 0.85 * ht)), hi))
        return ht, row

    for pair in range(config.crossings):
        ht, row = height_and_row()
        meet_x = float(rng.uniform(0.35, 0.65) * w)
        meet_t = float(rng.uniform(0.35, 0.65) * config.seconds)
        for side, (direction, d_row) in enumerate(((1.0, 0.0), (-1.0, float(rng.uniform(0.02, 0.05)) * h))):
            speed = float(rng.uniform(*config.walk_speed))
            person_h = ht * float(rng.uniform(0.92, 1.08))
            person_row = min(hi, row + d_row)
            person_h *= (person_row - _HORIZON * h) / (row - _HORIZON * h)  # same perspective as the partner
            walkers.append(Walker(track_id=2 * pair + side, start=0.0,
                                  x=meet_x - direction * speed * person_h * meet_t, y=person_row,
                                  height=person_h, speed=speed, heading=direction * math.pi / 2,
                                  turn_time=None, turn_angle=0.0, pose="walking",
                                  seed=int(rng.integers(2**31))))
    for tid in range(2 * config.crossings, config.people):
        ht, row = height_and_row()
        person_seed = int(rng.integers(2**31))
        turn = rng.random() < config.turn_prob
        if rng.random() < config.stand_prob:
            pose = _STAND_POSES[int(rng.integers(len(_STAND_POSES)))]
            heading = float(rng.normal(0.0, 0.5)) if rng.random() < 0.7 else float(rng.uniform(-math.pi, math.pi))
            walkers.append(Walker(track_id=tid, start=0.0, x=float(rng.uniform(0.1, 0.9) * w), y=row, height=ht,
                                  speed=0.0, heading=heading,
                                  turn_time=float(rng.uniform(0.1, 0.7) * config.seconds) if turn else None,
                                  turn_angle=float(rng.choice([-1, 1]) * rng.uniform(math.pi / 2, math.pi)),
                                  pose=pose, seed=person_seed))
            continue
        direction = 1.0 if rng.random() < 0.5 else -1.0
        heading = direction * float(rng.choice([math.pi / 2, math.pi / 4, 3 * math.pi / 4], p=[0.7, 0.15, 0.15]))
        heading += float(rng.normal(0.0, 0.1))
        speed = float(rng.uniform(*config.walk_speed))
        if rng.random() < config.enter_prob:
            start = float(rng.uniform(0.0, 0.6) * config.seconds)
            x = -0.3 * ht if direction > 0 else w + 0.3 * ht
        else:
            start, x = 0.0, float(rng.uniform(0.1, 0.9) * w)
        walkers.append(Walker(track_id=tid, start=start, x=x, y=row, height=ht, speed=speed, heading=heading,
                              turn_time=float(rng.uniform(0.2, 0.7) * config.seconds) if turn else None,
                              turn_angle=float(rng.choice([-1, 1]) * math.pi), pose="walking", seed=person_seed))
    return tuple(walkers)


@dataclass(frozen=True)
class _Look:
    """What stays the same about a person over the clip: palette, build, proportions, resting angles."""

    palette: Any
    build: float
    lengths: np.ndarray
    angles: np.ndarray  # radians, _ANGLE_NAMES order


def _look(walker: Walker) -> _Look:
    rng = _appearance(walker.seed)
    template = "standing" if walker.pose == "walking" else walker.pose
    _, angles = _sample_angles(rng, template)
    return _Look(palette=_palette(rng), build=float(rng.uniform(0.8, 1.3)),
                 lengths=rng.uniform(0.95, 1.05, size=4), angles=np.array([angles[n] for n in _ANGLE_NAMES]))


def _animate(look: _Look, walker: Walker, phase: float, t: float) -> dict[str, float]:
    """Joint angles at gait ``phase`` (walkers) or time ``t`` (people standing), clipped to the limits."""
    a = look.angles.copy()
    i = _ANGLE_INDEX
    if walker.speed > 0:
        amp = min(1.0, walker.speed / 0.8)
        s, c = math.sin(phase), math.cos(phase)
        a[i["hip_flex_l"]], a[i["hip_flex_r"]] = 0.05 + 0.42 * amp * s, 0.05 - 0.42 * amp * s
        # a knee bends while its leg swings forward (hip flexion growing)
        a[i["knee_l"]], a[i["knee_r"]] = 0.08 + 0.75 * amp * max(0.0, c), 0.08 + 0.75 * amp * max(0.0, -c)
        a[i["sh_flex_l"]], a[i["sh_flex_r"]] = -0.35 * amp * s, 0.35 * amp * s
        a[i["elbow_l"]], a[i["elbow_r"]] = 0.25 + 0.25 * amp * max(0.0, -s), 0.25 + 0.25 * amp * max(0.0, s)
        a[i["hip_abd_l"]], a[i["hip_abd_r"]] = 0.04, 0.04
        a[i["lean"]] = 0.05 * amp
    else:  # idle motion: swaying, and the arms keep moving (a wave, a gesture)
        f = 0.5 + (walker.seed % 7) / 7.0
        a[i["twist"]] += 0.12 * math.sin(2 * math.pi * 0.25 * t + walker.seed % 5)
        for side, sign in (("l", 1.0), ("r", -1.0)):
            a[i[f"elbow_{side}"]] += 0.35 * math.sin(2 * math.pi * f * t + sign)
            a[i[f"sh_abd_{side}"]] += 0.15 * math.sin(2 * math.pi * 0.5 * f * t + sign)
    a = np.clip(a, np.radians(_ANGLE_LO), np.radians(_ANGLE_HI))
    return dict(zip(_ANGLE_NAMES, a.tolist(), strict=True))


@dataclass(frozen=True)
class VideoFrame:
    """One rendered frame with its ground truth.

    Attributes:
        index: frame number from 0.
        time: timestamp in seconds.
        image: ``(H, W, 3)`` uint8 BGR.
        track_ids: ``(N,)`` int: each annotated person's identity (:attr:`Walker.track_id`).
        keypoints: ``(N, K, 3)`` ``(x, y, v)`` with COCO's visibility flags (0 outside the frame,
            then ``x = y = 0``; 1 covered; 2 visible).
        bboxes: ``(N, 4)`` ``[x, y, w, h]`` around the visible pixels and the labelled joints.
        areas: ``(N,)`` visible area in pixels.
        heights: ``(N,)`` standing height in pixels (the person's scale).
    """

    index: int
    time: float
    image: np.ndarray
    track_ids: np.ndarray
    keypoints: np.ndarray
    bboxes: np.ndarray
    areas: np.ndarray
    heights: np.ndarray


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")


def render_frames(config: VideoConfig, skeleton: Skeleton | str = "coco", seed: int = 0, *,
                  walkers: Sequence[Walker] | None = None, times: Sequence[float] | None = None
                  ) -> Iterator[VideoFrame]:
    """Render a clip frame by frame.

    Args:
        config: the clip.
        skeleton: which keypoints to annotate (names matched to the body model).
        seed: the clip's seed (>= 0): its people, background and frame times.
        walkers: a script instead of :func:`plan_walkers`'s (e.g. a test's exact crossing).
        times: timestamps instead of :func:`frame_times`'s.

    Yields:
        :class:`VideoFrame` in time order.
    """
    _check_seed(seed)
    sk = skeleton if isinstance(skeleton, Skeleton) else load_skeleton(skeleton)
    joint_idx = np.array(anatomy_index(sk))
    people = tuple(walkers) if walkers is not None else plan_walkers(config, seed)
    ts = np.asarray(frame_times(config, seed) if times is None else times, dtype=np.float64)
    if ts.ndim != 1 or (len(ts) > 1 and not (np.diff(ts) > 0).all()):
        raise ValueError("times must be increasing seconds")
    w, h = config.image_size
    looks = [_look(p) for p in people]
    states = [walker_states(p, ts, h) for p in people]
    margin = math.ceil(config.camera_pan) + 2
    background = _background(np.random.default_rng([seed, 0xB6]), w + 2 * margin, h)
    for f, t in enumerate(ts):
        pan = config.camera_pan * math.sin(2 * math.pi * t / max(config.seconds, 1e-6))
        shift = np.float32([[1, 0, -(margin + pan)], [0, 1, 0]])
        img = cv2.warpAffine(background, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        id_map = np.zeros((h, w), np.uint16)
        order = sorted((k for k in range(len(people)) if states[k]["present"][f]),
                       key=lambda k: (states[k]["y"][f], people[k].track_id))  # far (higher) first
        drawn: list[tuple[int, Body, int, tuple[int, int, int, int]]] = []
        owner: dict[int, int] = {}
        for n, k in enumerate(order):
            st = {key: float(v[f]) for key, v in states[k].items()}
            body = pose_body(_animate(looks[k], people[k], st["phase"], t), st["height"], yaw=st["yaw"],
                             build=looks[k].build, lengths=looks[k].lengths, pose=people[k].pose)
            origin = np.array([st["x"] - pan, st["y"] - float(body.points[:, 1].max()), 0.0])
            body = Body(points=body.points + origin, height=body.height, pose=body.pose, build=body.build,
                        torso_frame=body.torso_frame, head_frame=body.head_frame)
            lo_xy = body.points[:, :2].min(axis=0) - 0.07 * body.build * body.height
            hi_xy = body.points[:, :2].max(axis=0) + 0.07 * body.build * body.height
            if hi_xy[0] < 0 or hi_xy[1] < 0 or lo_xy[0] > w - 1 or lo_xy[1] > h - 1:
                continue  # entirely outside the frame
            person_id = n + 1
            _draw_person(img, id_map, body, np.zeros(2), looks[k].palette, person_id, detail=True)
            x0, y0 = (int(max(0, math.floor(v))) for v in lo_xy)
            x1, y1 = int(min(w, math.ceil(hi_xy[0]) + 1)), int(min(h, math.ceil(hi_xy[1]) + 1))
            full = int(np.count_nonzero((id_map[y0:y1, x0:x1] >> _ID_SHIFT) == person_id)) if x1 > x0 and y1 > y0 else 0
            drawn.append((person_id, body, full, (x0, y0, x1, y1)))
            owner[id(body)] = k
        noise_rng = np.random.default_rng([seed, 0x5E, f])
        noise = (noise_rng.standard_normal((h, w), dtype=np.float32) * 2.5).astype(np.int16)
        img = np.clip(img.astype(np.int16) + noise[:, :, None], 0, 255).astype(np.uint8)
        annotated = _annotate(drawn, id_map, joint_idx, config.min_visible_fraction)
        ks = [owner[id(p.body)] for p in annotated]
        yield VideoFrame(
            index=f, time=float(t), image=img,
            track_ids=np.array([people[k].track_id for k in ks], dtype=np.int64),
            keypoints=np.array([p.keypoints for p in annotated], dtype=np.float64).reshape(-1, sk.num_keypoints, 3),
            bboxes=np.array([p.bbox for p in annotated], dtype=np.float64).reshape(-1, 4),
            areas=np.array([p.area for p in annotated], dtype=np.float64),
            heights=np.array([p.body.height for p in annotated], dtype=np.float64))


@dataclass(frozen=True)
class DetectorNoise:
    """How :func:`simulate_detections` degrades ground truth into detector output.

    Attributes:
        sigma: keypoint jitter (standard deviation per coordinate, independent per frame) of visible
            joints, as a fraction of the person's height (0.02 = 2 px on a 100 px person).
        occluded_factor: covered joints jitter this many times more.
        outlier_rate: chance per joint of landing 10-30% of the height away (a wrong peak).
        miss_rate: chance per person and frame of not being detected; people with fewer than a
            quarter of their joints visible are missed half the time on top of it.
        false_positives: expected spurious poses per frame (Poisson), with low scores.
    """

    sigma: float = 0.02
    occluded_factor: float = 2.0
    outlier_rate: float = 0.02
    miss_rate: float = 0.05
    false_positives: float = 0.0

    def __post_init__(self) -> None:
        for name in ("sigma", "occluded_factor", "false_positives"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"DetectorNoise.{name} must be a finite number >= 0, got {getattr(self, name)}")
        for name in ("outlier_rate", "miss_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"DetectorNoise.{name} must be in [0, 1], got {getattr(self, name)}")


def simulate_detections(frame: VideoFrame, noise: DetectorNoise, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a detector might report for ``frame``: noisy poses with confidences, misses, false positives.

    Confidences: visible joints 0.5-0.95, covered ones 0.1-0.5, joints outside the frame below 0.05
    (at ``x = y = 0``); the person score is the mean joint confidence.

    Returns:
        ``(keypoints (M, K, 3), scores (M,), source (M,))``: ``source`` is the ground-truth track id
        of each detection, ``-1`` for a false positive. Detections are in random order.
    """
    kps = frame.keypoints
    n, k = kps.shape[:2]
    out, src = [], []
    for i in range(n):
        v = kps[i, :, 2]
        covered = (v == 2).mean() < 0.25
        if rng.random() < noise.miss_rate + (0.5 if covered else 0.0):
            continue
        height = frame.heights[i]
        std = noise.sigma * height * np.where(v == 2, 1.0, noise.occluded_factor)
        xy = kps[i, :, :2] + rng.standard_normal((k, 2)) * std[:, None]
        jump = rng.random(k) < noise.outlier_rate
        angle = rng.uniform(0, 2 * math.pi, size=k)
        dist = rng.uniform(0.1, 0.3, size=k) * height
        xy[jump] += np.stack([np.cos(angle), np.sin(angle)], axis=1)[jump] * dist[jump, None]
        conf = np.where(v == 2, rng.uniform(0.5, 0.95, k), np.where(v == 1, rng.uniform(0.1, 0.5, k),
                                                                     rng.uniform(0.0, 0.05, k)))
        xy[v == 0] = 0.0
        out.append(np.concatenate([xy, conf[:, None]], axis=1))
        src.append(int(frame.track_ids[i]))
    h, w = frame.image.shape[:2]
    for _ in range(int(rng.poisson(noise.false_positives)) if n else 0):
        model = kps[int(rng.integers(n))]
        labelled = model[:, 2] > 0
        if labelled.sum() < 2:
            continue
        xy = model[:, :2] - model[labelled, :2].mean(axis=0) + rng.uniform([0, 0], [w, h])
        conf = np.where(labelled, rng.uniform(0.1, 0.4, k), 0.0)
        out.append(np.concatenate([xy, conf[:, None]], axis=1))
        src.append(-1)
    order = rng.permutation(len(out))
    keypoints = np.array(out, dtype=np.float64).reshape(-1, k, 3)[order]
    return keypoints, keypoints[:, :, 2].mean(axis=1), np.array(src, dtype=np.int64)[order]


@dataclass(frozen=True)
class VideoSummary:
    """What :func:`write_video` wrote."""

    video_path: Path
    annotation_path: Path
    detections_path: Path | None
    frames: int
    tracks: int
    annotations: int
    seconds: float


def _flat_keypoints(kps: np.ndarray) -> list[float | int]:
    flat: list[float | int] = []
    for x, y, v in kps:
        flat += [round(float(x), 2), round(float(y), 2), int(v)] if v > 0 else [0, 0, 0]
    return flat


def write_video(out_dir: str | os.PathLike[str], config: VideoConfig | None = None,
                skeleton: str | Path | Skeleton = "coco", seed: int = 0, *, name: str = "clip",
                noise: DetectorNoise | None = None, progress: bool = False) -> VideoSummary:
    """Write ``NAME.mp4`` + ``NAME.json`` (+ ``NAME.detections.jsonl`` with ``noise``) into ``out_dir``.

    Every file is written to a temporary name and renamed when complete.

    Args:
        out_dir: created if missing; files of the same names are replaced.
        config: the clip (default :class:`VideoConfig`).
        skeleton: ``"coco"``, ``"crowdpose"``, a skeleton file or a :class:`Skeleton`.
        seed: same seed, same clip.
        name: file name stem.
        noise: also write simulated detections with this noise.
        progress: show a tqdm progress bar.
    """
    from tqdm import tqdm

    from litepose.inference.sources import AtomicVideoWriter

    _check_seed(seed)
    cfg = config or VideoConfig()
    sk = skeleton if isinstance(skeleton, Skeleton) else load_skeleton(skeleton)
    anatomy_index(sk)  # fail early on names the body model lacks
    if not name or Path(name).name != name:
        raise ValueError(f"name must be a plain file name stem, got {name!r}")
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w, h = cfg.image_size
    times = frame_times(cfg, seed)
    walkers = plan_walkers(cfg, seed)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    video_path, ann_path = out / f"{name}.mp4", out / f"{name}.json"
    det_path = out / f"{name}.detections.jsonl" if noise is not None else None
    seen_tracks: set[int] = set()
    with AtomicVideoWriter(video_path, cfg.fps) as writer, \
            (atomic_open(det_path, "w") if det_path is not None else contextlib.nullcontext()) as det_file, \
            tqdm(total=len(times), desc="synth video", unit="frame", disable=not progress) as bar:
        for frame in render_frames(cfg, sk, seed, walkers=walkers, times=times):
            writer.write(frame.image, bgr=True)
            image_id = frame.index + 1
            images.append({"id": image_id, "file_name": video_path.name, "vid_id": 1, "frame_id": frame.index,
                           "timestamp": round(frame.time, 6), "width": w, "height": h, "nframes": len(times),
                           "is_labeled": True})
            for tid, kps, box, area in zip(frame.track_ids.tolist(), frame.keypoints, frame.bboxes, frame.areas,
                                           strict=True):
                seen_tracks.add(tid)
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "track_id": tid,
                                    "category_id": 1, "iscrowd": 0, "num_keypoints": int((kps[:, 2] > 0).sum()),
                                    "keypoints": _flat_keypoints(kps), "bbox": [round(float(v), 2) for v in box],
                                    "area": float(area)})
            if det_file is not None and noise is not None:
                kpts, scores, _ = simulate_detections(frame, noise, np.random.default_rng([seed, 0xDE7, frame.index]))
                results = [{"image_id": frame.index, "category_id": 1,
                            "keypoints": [round(float(v), 2) for v in person.reshape(-1)], "score": round(float(s), 4)}
                           for person, s in zip(kpts, scores, strict=True)]
                det_file.write(json.dumps({"frame": frame.index, "timestamp": round(frame.time, 6),
                                           "results": results}) + "\n")
            bar.update(1)
        writer.commit()
    dataset = {
        "info": {"description": "litepose synthetic video: procedurally drawn people with track ids",
                 "contributor": "litepose synth --video", "seed": seed, "skeleton": sk.name,
                 "fps": cfg.fps, "variable_frame_rate": cfg.frame_jitter > 0,
                 "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}},
        "videos": [{"id": 1, "file_name": video_path.name, "width": w, "height": h, "fps": cfg.fps,
                    "nframes": len(times)}],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person",
                        "keypoints": list(sk.keypoint_names),
                        "skeleton": [[i + 1, j + 1] for i, j in sk.limbs]}],
    }
    atomic_write_json(ann_path, dataset)
    return VideoSummary(video_path=video_path, annotation_path=ann_path, detections_path=det_path,
                        frames=len(times), tracks=len(seen_tracks), annotations=len(annotations),
                        seconds=time.perf_counter() - start)


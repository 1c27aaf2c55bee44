"""Synthetic crowds: COCO-format keypoint datasets of procedurally drawn people.

No download, no network: every image is drawn from a seed. Three layers, each usable alone:

1. **Pose model** (pure functions). :func:`sample_body` poses a 3D stick figure with human
   proportions (segment lengths as fractions of the standing height) and joint-angle limits
   (elbows and knees bend one way only, shoulders and hips within their ranges), turned to a random
   yaw (frontal, profile, back, mirrored) and projected orthographically. :func:`sample_pose` maps
   it onto a :class:`~litepose.skeleton.Skeleton`'s keypoints.
2. **Renderer**. :func:`render_image` draws a cluttered background, an optional ``iscrowd`` blob of
   tiny people, then several people back to front (painter's order) as filled limbs, torso polygon
   and head, with per-person colours and simple textures. Each keypoint is the drawn joint itself:
   the end cap where two limbs meet, face points on the drawn head. Beside the image it draws an id
   map (person and body part of the last paint at each pixel), which decides visibility: ``v=2`` if
   the joint's pixel shows one of the joint's own parts, ``v=1`` if someone (or a part of the same
   person, or the back of the head for face points) covers it, ``v=0`` with ``x=y=0`` outside the
   image, as in COCO.
3. **Annotation writer**. :func:`generate_dataset` writes ``images/*.jpg`` and a COCO keypoints JSON
   that loads in pycocotools; ``style="crowdpose"`` (the default for the CrowdPose skeleton) adds the
   per-image ``crowdIndex`` and omits ``area``, like the real CrowdPose files.

Determinism: image ``i`` of a dataset comes from ``numpy.random.default_rng([seed, i])`` alone, so
images can be drawn in any order or in parallel and a seed gives byte-identical files.

Coordinates: image pixels, ``x`` right, ``y`` down, pixel centres at integers (as
:mod:`litepose.geometry`). The 3D body frame adds ``z`` pointing away from the camera.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from litepose.io import atomic_write_json
from litepose.skeleton import Skeleton, load_skeleton

__all__ = [
    "ANATOMY",
    "ANGLE_NAMES",
    "POSES",
    "Body",
    "SynthConfig",
    "SynthCrowd",
    "SynthImage",
    "SynthPerson",
    "SynthSummary",
    "anatomy_index",
    "generate_dataset",
    "pose_body",
    "render_image",
    "sample_body",
    "sample_pose",
    "synthesize",
]

# --------------------------------------------------------------------------------------------------
# 1. Pose model
# --------------------------------------------------------------------------------------------------

#: Anatomical points of the body model; skeleton keypoints are looked up here by name.
ANATOMY: tuple[str, ...] = (
    "head_top", "head_center", "nose", "left_eye", "right_eye", "left_ear", "right_ear", "neck",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle", "left_toe", "right_toe", "pelvis",
)
_A = {name: i for i, name in enumerate(ANATOMY)}

# Other spellings of the anatomical points found in keypoint datasets. CrowdPose's "head" is the
# top of the head (and MPII's "head_top"), so it maps there, not to the head's centre.
_ALIASES = {
    "head": "head_top", "top_head": "head_top", "headtop": "head_top", "top_of_head": "head_top",
    "head_centre": "head_center", "thorax": "neck", "upper_neck": "neck", "mid_hip": "pelvis",
    "root": "pelvis", "left_big_toe": "left_toe", "right_big_toe": "right_toe",
}

# Segment lengths and widths as fractions of the standing height (head top to sole), from common
# anthropometric tables: the head is ~1/7.5 of the height, shoulders at ~0.18, hip joints at ~0.48,
# knees at ~0.73, ankles at ~0.97 of the height from the top.
_HEAD_R = 0.065       # head radius
_NECK_TO_HEAD = 0.10  # neck base -> head centre
_TORSO = 0.32         # pelvis centre (between the hip joints) -> neck base
_SHOULDER_DROP = 0.025
_SHOULDER_HALF = 0.11
_HIP_HALF = 0.085
_UPPER_ARM, _FOREARM, _HAND = 0.17, 0.15, 0.05
_THIGH, _SHANK, _FOOT = 0.245, 0.245, 0.09
_CHEST_HALF_DEPTH = 0.055

# Part ids of the id map (5 bits per person; see _ID_SHIFT).
(P_TORSO, P_NECK, P_HEAD, P_L_UPPER, P_R_UPPER, P_L_FORE, P_R_FORE, P_L_HAND, P_R_HAND,
 P_L_THIGH, P_R_THIGH, P_L_SHANK, P_R_SHANK, P_L_FOOT, P_R_FOOT) = range(15)

# The parts that meet at each anatomical point: a joint whose pixel shows one of them is visible.
_JOINT_PARTS: dict[str, tuple[int, ...]] = {
    "head_top": (P_HEAD,), "head_center": (P_HEAD,), "nose": (P_HEAD,), "left_eye": (P_HEAD,),
    "right_eye": (P_HEAD,), "left_ear": (P_HEAD,), "right_ear": (P_HEAD,),
    "neck": (P_NECK, P_TORSO, P_HEAD),
    "left_shoulder": (P_TORSO, P_L_UPPER), "right_shoulder": (P_TORSO, P_R_UPPER),
    "left_elbow": (P_L_UPPER, P_L_FORE), "right_elbow": (P_R_UPPER, P_R_FORE),
    "left_wrist": (P_L_FORE, P_L_HAND), "right_wrist": (P_R_FORE, P_R_HAND),
    "left_hand": (P_L_HAND,), "right_hand": (P_R_HAND,),
    "left_hip": (P_TORSO, P_L_THIGH), "right_hip": (P_TORSO, P_R_THIGH),
    "left_knee": (P_L_THIGH, P_L_SHANK), "right_knee": (P_R_THIGH, P_R_SHANK),
    "left_ankle": (P_L_SHANK, P_L_FOOT), "right_ankle": (P_R_SHANK, P_R_FOOT),
    "left_toe": (P_L_FOOT,), "right_toe": (P_R_FOOT,),
    "pelvis": (P_TORSO, P_L_THIGH, P_R_THIGH),
}
_JOINT_PART_BITS = np.array([sum(1 << p for p in _JOINT_PARTS[n]) for n in ANATOMY], dtype=np.int64)

# Face points sit on the head sphere; seen from behind they are hidden by the head itself. Ears
# stick out sideways, so they stay visible from the front and the back and hide only in profile.
_FACE_LOCAL = {  # (left, down, forward) in head radii
    "head_top": (0.0, -0.88, 0.0), "nose": (0.0, 0.2, 0.93),
    "left_eye": (0.35, -0.1, 0.82), "right_eye": (-0.35, -0.1, 0.82),
    "left_ear": (0.92, 0.05, -0.05), "right_ear": (-0.92, 0.05, -0.05),
}
_FACE_HIDDEN_ABOVE = {"nose": -0.05, "left_eye": -0.05, "right_eye": -0.05, "left_ear": 0.55,
                      "right_ear": 0.55}  # hidden when the surface normal's z (away) exceeds this

# Joint-angle limits in degrees. Flexion moves a limb forward, abduction sideways away from the
# body; elbow and knee flexion are one-sided (no hyper-extension). arm_twist is the humeral
# rotation that turns the elbow's bending plane (0: forearm forward, +90: up/out, -90: down/in).
_LIMITS: dict[str, tuple[float, float]] = {
    "lean": (-20, 80), "roll": (-20, 20), "twist": (-35, 35), "pelvis_roll": (-10, 10),
    "head_yaw": (-60, 60), "head_pitch": (-50, 40), "head_roll": (-20, 20),
    "sh_flex": (-60, 180), "sh_abd": (-15, 175), "elbow": (0, 150), "arm_twist": (-90, 90),
    "hip_flex": (-30, 125), "hip_abd": (-15, 50), "knee": (0, 150),
}
_SIDED = ("sh_flex", "sh_abd", "elbow", "arm_twist", "hip_flex", "hip_abd", "knee")
_STD = {"lean": 5, "roll": 4, "twist": 8, "pelvis_roll": 3, "head_yaw": 15, "head_pitch": 8,
        "head_roll": 5, "sh_flex": 12, "sh_abd": 8, "elbow": 12, "arm_twist": 20, "hip_flex": 6,
        "hip_abd": 4, "knee": 6}
_STANDING = {"lean": 0, "roll": 0, "twist": 0, "pelvis_roll": 0, "head_yaw": 0, "head_pitch": 0,
             "head_roll": 0, "sh_flex": 0, "sh_abd": 10, "elbow": 12, "arm_twist": 0, "hip_flex": 0,
             "hip_abd": 5, "knee": 4}


@dataclass(frozen=True)
class _Template:
    """A named pose: means (degrees) that override standing; a pair is (left, right)."""

    name: str
    weight: float
    means: Mapping[str, float | tuple[float, float]] = field(default_factory=dict)
    jitter: float = 1.0  # multiplies _STD


_TEMPLATES: tuple[_Template, ...] = (
    _Template("standing", 3.0),
    _Template("walking", 3.0, {"sh_flex": (-25, 25), "elbow": (20, 35), "hip_flex": (25, -15),
                               "knee": (5, 25)}),
    _Template("running", 1.0, {"lean": 12, "sh_flex": (-40, 50), "elbow": (90, 90),
                               "hip_flex": (55, -25), "knee": (45, 85)}),
    _Template("arms_raised", 1.5, {"sh_abd": (150, 150), "sh_flex": (15, 15), "elbow": (15, 15)}),
    _Template("waving", 1.5, {"sh_abd": (100, 10), "elbow": (90, 12), "arm_twist": (80, 0)}),
    _Template("hands_on_hips", 1.0, {"sh_abd": (45, 45), "elbow": (110, 110),
                                     "arm_twist": (-75, -75)}),
    _Template("reaching", 1.0, {"sh_flex": (80, 20), "elbow": (15, 30), "lean": 8}),
    _Template("sitting", 1.5, {"hip_flex": (88, 88), "knee": (90, 90), "hip_abd": (10, 10),
                               "sh_flex": (30, 30), "elbow": (60, 60)}),
    _Template("crouching", 1.0, {"lean": 35, "head_pitch": -20, "hip_flex": (110, 110),
                                 "knee": (125, 125), "sh_flex": (50, 50), "elbow": (40, 40)}),
    _Template("bending", 1.0, {"lean": 60, "head_pitch": -30, "sh_flex": (60, 60), "hip_flex": (5, 5),
                               "knee": (10, 10)}),
    _Template("free", 1.5, {}, jitter=4.0),  # wide random variation around standing
)
_TEMPLATE_P = np.array([t.weight for t in _TEMPLATES]) / sum(t.weight for t in _TEMPLATES)

# The angle vector: one entry per unsided limit, two (left, right) per sided one.
_ANGLE_NAMES: tuple[str, ...] = tuple(
    n for key in _LIMITS for n in ((f"{key}_l", f"{key}_r") if key in _SIDED else (key,)))
_ANGLE_INDEX = {n: i for i, n in enumerate(_ANGLE_NAMES)}
#: The joint angles :func:`pose_body` takes (sided ones end in ``_l``/``_r``).
ANGLE_NAMES: tuple[str, ...] = _ANGLE_NAMES
_ANGLE_KEY = tuple(n[:-2] if n[-2:] in ("_l", "_r") and n[:-2] in _SIDED else n for n in _ANGLE_NAMES)
_ANGLE_LO = np.array([_LIMITS[k][0] for k in _ANGLE_KEY], dtype=float)
_ANGLE_HI = np.array([_LIMITS[k][1] for k in _ANGLE_KEY], dtype=float)
# mirroring swaps left and right and negates the sideways angles
_MIRROR_PERM = np.array([_ANGLE_INDEX[n[:-1] + ("r" if n.endswith("_l") else "l")] if k in _SIDED else i
                         for i, (n, k) in enumerate(zip(_ANGLE_NAMES, _ANGLE_KEY, strict=True))])
_MIRROR_SIGN = np.array([-1.0 if k in ("roll", "twist", "head_yaw", "head_roll", "pelvis_roll") else 1.0
                         for k in _ANGLE_KEY])


def _template_arrays(t: _Template) -> tuple[np.ndarray, np.ndarray]:
    mean, std = np.zeros(len(_ANGLE_NAMES)), np.zeros(len(_ANGLE_NAMES))
    for i, (name, key) in enumerate(zip(_ANGLE_NAMES, _ANGLE_KEY, strict=True)):
        m = t.means.get(key, _STANDING[key])
        mean[i] = (m[0] if name.endswith("_l") else m[1]) if isinstance(m, tuple) else m
        std[i] = _STD[key] * t.jitter
    return mean, std


_TEMPLATE_ARRAYS = tuple(_template_arrays(t) for t in _TEMPLATES)


_TEMPLATE_INDEX = {t.name: i for i, t in enumerate(_TEMPLATES)}
POSES: tuple[str, ...] = tuple(t.name for t in _TEMPLATES)


def _sample_angles(rng: np.random.Generator, pose: str | None = None) -> tuple[str, dict[str, float]]:
    """A template's joint angles plus noise, clipped to the limits; radians, sided keys get _l/_r."""
    k = int(rng.choice(len(_TEMPLATES), p=_TEMPLATE_P))
    if pose is not None:
        if pose not in _TEMPLATE_INDEX:
            raise ValueError(f"unknown pose {pose!r}; choose from {list(POSES)}")
        k = _TEMPLATE_INDEX[pose]
    mean, std = _TEMPLATE_ARRAYS[k]
    z = rng.standard_normal(len(_ANGLE_NAMES))
    x = np.clip(mean + std * z, _ANGLE_LO, _ANGLE_HI)
    if "head_pitch" not in _TEMPLATES[k].means:  # people look ahead, not at the floor
        i = _ANGLE_INDEX["head_pitch"]
        x[i] = np.clip(-0.4 * x[_ANGLE_INDEX["lean"]] + std[i] * z[i], _ANGLE_LO[i], _ANGLE_HI[i])
    if rng.random() < 0.5:  # mirror: the other side waves / steps forward
        x = x[_MIRROR_PERM] * _MIRROR_SIGN
    return _TEMPLATES[k].name, dict(zip(_ANGLE_NAMES, np.radians(x).tolist(), strict=True))


@dataclass(frozen=True)
class Body:
    """A posed person in image pixels relative to the pelvis centre.

    Attributes:
        points: anatomical points (:data:`ANATOMY` order); ``x`` right, ``y`` down, ``z`` away
            from the camera. Shapes: ``(len(ANATOMY), 3)``.
        height: standing height in pixels (head top to sole).
        pose: the template's name (``"walking"``, ``"sitting"``, ...).
        build: width multiplier of the limbs and torso (slim 0.8 .. broad 1.3).
        torso_frame: columns are the torso's left, down and forward unit vectors. Shapes: ``(3, 3)``.
        head_frame: the same for the head. Shapes: ``(3, 3)``.
    """

    points: np.ndarray
    height: float
    pose: str
    build: float
    torso_frame: np.ndarray
    head_frame: np.ndarray

    def point(self, name: str) -> np.ndarray:
        return self.points[_A[name]]


def _frame(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Columns: left, down, forward of a body part in camera coordinates (radians)."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    # yaw 0 faces the camera: forward = -z and the person's left appears on the image's right.
    r_yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [sy, 0.0, -cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]])  # lean forward
    r_roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])   # lean to the left side
    return r_yaw @ r_pitch @ r_roll


def _sample_yaw(rng: np.random.Generator) -> float:
    """Facing direction: mostly towards the camera, often in profile, sometimes from behind."""
    u = rng.random()
    if u < 0.5:
        return float(rng.normal(0.0, 0.45))
    if u < 0.6:
        return float(math.pi + rng.normal(0.0, 0.45))
    return float(rng.uniform(-math.pi, math.pi))


def _limb(frame: np.ndarray, side: float, flex: float, abd: float) -> tuple[np.ndarray, ...]:
    """Unit direction of a limb from its flexion/abduction and two unit normals of it.

    Returns ``(u, w_flex, w_abd)``: ``u`` the limb direction, ``w_flex`` the direction it moves in
    when flexion grows, ``w_abd`` when abduction grows; both are perpendicular to ``u``.
    """
    ca, sa, cf, sf = math.cos(abd), math.sin(abd), math.cos(flex), math.sin(flex)
    u = frame @ np.array([side * sa, ca * cf, ca * sf])
    w_flex = frame @ np.array([0.0, -sf, cf])
    w_abd = frame @ np.array([side * ca, -sa * cf, -sa * sf])
    return u, w_flex, w_abd


def sample_body(rng: np.random.Generator, height: float, *, pose: str | None = None,
                yaw: float | None = None) -> Body:
    """Pose one person: a random template, yaw, build and segment-length jitter.

    Args:
        rng: the only source of randomness.
        height: standing height in pixels.
        pose: a template of :data:`POSES` instead of a random one.
        yaw: facing direction in radians instead of a random one (0 faces the camera, pi/2 faces
            the image's right, pi shows the back).

    Returns:
        The posed :class:`Body`, pelvis centre at the origin.
    """
    pose, ang = _sample_angles(rng, pose)
    sampled_yaw = _sample_yaw(rng)  # drawn even when given, so the rest of the stream is the same
    yaw = sampled_yaw if yaw is None else float(yaw)
    build = float(rng.uniform(0.8, 1.3))
    length = rng.uniform(0.95, 1.05, size=4)  # arms, legs, torso, shoulder width
    return pose_body(ang, height, yaw=yaw, build=build, lengths=length, pose=pose)


def pose_body(angles: Mapping[str, float], height: float, *, yaw: float = 0.0, build: float = 1.0,
              lengths: Sequence[float] = (1.0, 1.0, 1.0, 1.0), pose: str = "custom") -> Body:
    """Pose a person from explicit joint angles (deterministic; :func:`sample_body` draws them).

    Args:
        angles: radians for every name of :data:`ANGLE_NAMES` (sided angles end in ``_l``/``_r``;
            flexion moves a limb forward, abduction sideways, elbow and knee flexion are >= 0).
        height: standing height in pixels.
        yaw: facing direction in radians (0 faces the camera, pi/2 shows the person's left side).
        build: width multiplier of the limbs and torso (drawing only).
        lengths: multipliers of the arm, leg, torso and shoulder-width lengths.
        pose: a name stored in the :class:`Body`.

    Returns:
        The posed :class:`Body`, pelvis centre at the origin.
    """
    h = float(height)
    ang = angles
    length = lengths
    pts = np.zeros((len(ANATOMY), 3))
    pelvis = _frame(yaw, 0.0, ang["pelvis_roll"])
    torso = _frame(yaw + ang["twist"], ang["lean"], ang["roll"])
    head = _frame(yaw + ang["twist"] + ang["head_yaw"], ang["lean"] + ang["head_pitch"],
                  ang["roll"] + ang["head_roll"])
    neck = -torso[:, 1] * _TORSO * length[2] * h
    pts[_A["neck"]] = neck
    center = neck - head[:, 1] * _NECK_TO_HEAD * h
    pts[_A["head_center"]] = center
    for name, local in _FACE_LOCAL.items():
        pts[_A[name]] = center + head @ np.asarray(local) * (_HEAD_R * h)

    for side, s in (("left", 1.0), ("right", -1.0)):
        k = side[0]
        shoulder = neck + torso[:, 1] * _SHOULDER_DROP * h + torso[:, 0] * s * _SHOULDER_HALF * length[3] * h
        u, w_flex, w_abd = _limb(torso, s, ang[f"sh_flex_{k}"], ang[f"sh_abd_{k}"])
        elbow = shoulder + u * _UPPER_ARM * length[0] * h
        tw = ang[f"arm_twist_{k}"]
        bend = math.cos(tw) * w_flex + math.sin(tw) * w_abd
        e = ang[f"elbow_{k}"]
        fore = math.cos(e) * u + math.sin(e) * bend
        wrist = elbow + fore * _FOREARM * length[0] * h
        pts[_A[f"{side}_shoulder"]] = shoulder
        pts[_A[f"{side}_elbow"]] = elbow
        pts[_A[f"{side}_wrist"]] = wrist
        pts[_A[f"{side}_hand"]] = wrist + fore * _HAND * h

        hip = pelvis[:, 0] * s * _HIP_HALF * h
        u, w_flex, _ = _limb(pelvis, s, ang[f"hip_flex_{k}"], ang[f"hip_abd_{k}"])
        knee = hip + u * _THIGH * length[1] * h
        kf = ang[f"knee_{k}"]
        shank = math.cos(kf) * u - math.sin(kf) * w_flex  # the knee bends backwards only
        ankle = knee + shank * _SHANK * length[1] * h
        foot = pelvis[:, 2] - (pelvis[:, 2] @ shank) * shank  # forward, perpendicular to the shin
        norm = float(np.linalg.norm(foot))
        foot = foot / norm if norm > 1e-6 else pelvis[:, 1]
        pts[_A[f"{side}_hip"]] = hip
        pts[_A[f"{side}_knee"]] = knee
        pts[_A[f"{side}_ankle"]] = ankle
        pts[_A[f"{side}_toe"]] = ankle + (foot * _FOOT + shank * 0.015) * h
    return Body(points=pts, height=h, pose=pose, build=build, torso_frame=torso, head_frame=head)


def _normalise_name(name: str) -> str:
    n = name.strip().lower().replace("-", "_").replace(" ", "_")
    for short, full in (("l_", "left_"), ("r_", "right_")):
        if n.startswith(short):
            n = full + n[len(short):]
    return _ALIASES.get(n, n)


def anatomy_index(skeleton: Skeleton) -> tuple[int, ...]:
    """Index into :data:`ANATOMY` of each keypoint of ``skeleton``, matched by name.

    Raises:
        ValueError: a keypoint name has no counterpart in the body model.
    """
    out = []
    for name in skeleton.keypoint_names:
        key = _normalise_name(name)
        if key not in _A:
            raise ValueError(f"skeleton {skeleton.name!r}: keypoint {name!r} has no counterpart in the "
                             f"synthetic body model; known names: {', '.join(ANATOMY)} "
                             f"(and {', '.join(sorted(_ALIASES))})")
        out.append(_A[key])
    return tuple(out)


def sample_pose(rng: np.random.Generator, skeleton: Skeleton, height: float) -> np.ndarray:
    """Keypoints of one randomly posed person, relative to the pelvis centre.

    Shapes: returns ``(K, 2)`` float ``(x, y)`` pixels for ``K = skeleton.num_keypoints``.
    """
    body = sample_body(rng, height)
    return body.points[list(anatomy_index(skeleton)), :2].copy()


# --------------------------------------------------------------------------------------------------
# 2. Renderer
# --------------------------------------------------------------------------------------------------

_SHIFT = 4  # OpenCV sub-pixel drawing: coordinates in 1/16 pixel
_ONE = 1 << _SHIFT
_ID_SHIFT = 5  # id map value = person_id << 5 | (part + 1)
_CROWD_ID = 255  # person id of the tiny people in iscrowd blobs
_MAX_PEOPLE = 250

_SKIN = ((205, 222, 250), (175, 205, 240), (140, 180, 225), (110, 150, 200), (80, 115, 165),
         (55, 85, 130), (40, 60, 95))  # BGR
_HAIR = ((25, 25, 30), (30, 50, 85), (60, 95, 140), (110, 180, 225), (160, 160, 165), (40, 60, 150))


@dataclass(frozen=True)
class SynthConfig:
    """What the synthetic images look like.

    Attributes:
        image_size: ``(width, height)`` in pixels.
        min_people, max_people: people drawn per image (uniform), not counting crowd blobs.
        min_height, max_height: standing heights in pixels, log-uniform; ``max_height`` is clipped
            to the image height.
        crowd_prob: chance that an image gets one ``iscrowd`` blob of tiny people.
        border_cut: at most this fraction of a person's box may leave the image (people cut by the
            border; their outside joints get ``v=0``).
        max_coverage: people's summed rough area is kept under this many image areas by shrinking
            the later ones, so that big people don't bury everybody.
        min_visible_fraction: people with less of their body visible are drawn but not annotated.
        jpeg_quality: JPEG quality of the written images.
    """

    image_size: tuple[int, int] = (320, 256)
    min_people: int = 3
    max_people: int = 20
    min_height: float = 30.0
    max_height: float = 300.0
    crowd_prob: float = 0.2
    border_cut: float = 0.3
    max_coverage: float = 1.0
    min_visible_fraction: float = 0.1
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        size = tuple(self.image_size)
        if (len(size) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size)
                or not all(32 <= v <= 8192 for v in size)):
            raise ValueError(f"image_size must be two ints (width, height) in 32..8192, got {self.image_size}")
        object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))  # plain ints for the JSON
        h = self.image_size[1]
        if not 0 <= self.min_people <= self.max_people:
            raise ValueError(f"min_people/max_people must satisfy 0 <= min_people <= max_people, got "
                             f"{self.min_people}/{self.max_people}")
        if self.max_people > _MAX_PEOPLE:
            raise ValueError(f"max_people must be at most {_MAX_PEOPLE}, got {self.max_people}")
        if not 8 <= self.min_height <= self.max_height:
            raise ValueError(f"min_height/max_height must satisfy 8 <= min_height <= max_height, got "
                             f"{self.min_height}/{self.max_height}")
        if self.min_height > h:
            raise ValueError(f"min_height {self.min_height} is taller than the image height {h}")
        for name in ("crowd_prob", "min_visible_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.border_cut < 1.0:
            raise ValueError(f"border_cut must be in [0, 1), got {self.border_cut}")
        if self.max_coverage <= 0:
            raise ValueError(f"max_coverage must be positive, got {self.max_coverage}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")


@dataclass(frozen=True)
class SynthPerson:
    """One annotated person.

    Attributes:
        keypoints: ``(x, y, v)`` per skeleton keypoint; ``v`` 0 outside the image (then x = y = 0),
            1 covered, 2 visible. Shapes: ``(K, 3)``.
        bbox: ``[x, y, w, h]`` around the visible pixels and the labelled keypoints.
        area: area of the segmentation (pixels, as pycocotools rasterises the polygons).
        segmentation: polygons ``[[x1, y1, x2, y2, ...], ...]`` of the visible pixels.
        body: the pose, in image pixels (pelvis centre moved to its place).
    """

    keypoints: np.ndarray
    bbox: tuple[float, float, float, float]
    area: int
    segmentation: list[list[int]]
    body: Body


@dataclass(frozen=True)
class SynthCrowd:
    """An ``iscrowd`` region: its mask as pycocotools compressed RLE (``counts`` as str)."""

    rle: dict[str, Any]
    bbox: tuple[float, float, float, float]
    area: int


@dataclass(frozen=True)
class SynthImage:
    """One rendered image with its annotations.

    Attributes:
        image: BGR (OpenCV order). Shapes: ``(H, W, 3)`` uint8.
        background: the same image before any person was drawn (without the final sensor noise).
        id_map: ``person_id << 5 | (part + 1)`` of the last paint at each pixel, 0 for background;
            person ids start at 1, crowd blobs use 255. Shapes: ``(H, W)`` uint16.
        people: the annotated people, back to front.
        crowds: ``iscrowd`` regions.
        crowd_index: CrowdPose's crowd index of the image (others' joints in each person's box over
            the person's own, averaged over people).
        pose_names: the pose template of each drawn person (annotated or not), back to front.
    """

    image: np.ndarray
    background: np.ndarray
    id_map: np.ndarray
    people: list[SynthPerson]
    crowds: list[SynthCrowd]
    crowd_index: float
    pose_names: list[str]


def _pt(p: np.ndarray) -> tuple[int, int]:
    return round(p[0] * _ONE), round(p[1] * _ONE)


def _shade(colour: Sequence[int], factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c * factor))) for c in colour)  # type: ignore[return-value]


def _jitter(rng: np.random.Generator, colour: Sequence[int], amount: int) -> tuple[int, int, int]:
    d = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(min(255, max(0, c + int(x)))) for c, x in zip(colour, d, strict=True))  # type: ignore[return-value]


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, size=3))  # type: ignore[return-value]


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A gradient with low-frequency blotches, random shapes and lines, sometimes a tiled floor."""
    # The smooth layers (gradient + blotches) are computed on a coarse grid and upsampled once:
    # a linear gradient survives bilinear upsampling exactly, and full-size float maths is slow.
    gw, gh = max(2, width // 8), max(2, height // 8)
    c1 = rng.integers(0, 256, size=3).astype(np.float32)
    c2 = rng.integers(0, 256, size=3).astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    t = (np.linspace(0.0, 1.0, gh, dtype=np.float32)[:, None] * math.sin(a)
         + np.linspace(0.0, 1.0, gw, dtype=np.float32)[None, :] * math.cos(a))
    t -= t.min()
    t /= max(float(t.max()), 1e-6)
    coarse = c1 + t[:, :, None] * (c2 - c1)
    by, bx = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    blotch = cv2.resize(rng.random((by, bx, 3), dtype=np.float32), (gw, gh), interpolation=cv2.INTER_CUBIC)
    coarse += (blotch - 0.5) * rng.uniform(0, 140)
    coarse = np.clip(coarse, 0, 255).astype(np.uint8)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)

    if rng.random() < 0.3:  # floor tiles / wall stripes
        step = int(rng.integers(12, 48))
        colour = _random_colour(rng)
        thick = int(rng.integers(1, 3))
        for x in range(int(rng.integers(0, step)), width, step):
            cv2.line(img, (x, 0), (x, height - 1), colour, thick)
        if rng.random() < 0.6:
            for y in range(int(rng.integers(0, step)), height, step):
                cv2.line(img, (0, y), (width - 1, y), colour, thick)
    size = max(width, height)
    for _ in range(int(rng.integers(4, 26))):
        colour = _random_colour(rng)
        kind = rng.integers(0, 6)
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(3, max(4, size // 5)))
        if kind == 0:
            cv2.rectangle(img, (cx - r, cy - r // 2), (cx + r, cy + r), colour, -1)
        elif kind == 1:
            cv2.circle(img, (cx, cy), r // 2 + 1, colour, -1, cv2.LINE_AA)
        elif kind == 2:
            cv2.ellipse(img, (cx, cy), (r, r // 3 + 1), float(rng.uniform(0, 180)), 0, 360, colour, -1,
                        cv2.LINE_AA)
        elif kind == 3:  # thin clutter line
            cv2.line(img, (cx, cy), (int(rng.integers(0, width)), int(rng.integers(0, height))), colour,
                     int(rng.integers(1, 4)), cv2.LINE_AA)
        elif kind == 4:  # triangle
            pts = (np.array([cx, cy]) + rng.integers(-r, r + 1, size=(3, 2))).astype(np.int32)
            cv2.fillConvexPoly(img, pts, colour, cv2.LINE_AA)
        else:  # a limb-like stick with round ends, so that "thick line" alone does not mean "person"
            p2 = (cx + int(rng.integers(-r, r + 1)), cy + int(rng.integers(-r, r + 1)))
            cv2.line(img, (cx, cy), p2, colour, int(rng.integers(2, max(3, r // 3))), cv2.LINE_AA)
    return img


@dataclass(frozen=True)
class _Palette:
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    top: tuple[int, int, int]
    sleeve: tuple[int, int, int]
    forearm: tuple[int, int, int]
    bottom: tuple[int, int, int]
    shin: tuple[int, int, int]
    shoe: tuple[int, int, int]
    stripe: tuple[int, int, int] | None
    print_: tuple[int, int, int] | None


def _palette(rng: np.random.Generator) -> _Palette:
    skin = _jitter(rng, _SKIN[int(rng.integers(len(_SKIN)))], 12)
    u = rng.random(6)
    hair = _jitter(rng, _HAIR[int(rng.integers(len(_HAIR)))], 10) if u[0] < 0.9 else skin
    top, bottom, other, shoe, stripe, print_ = (tuple(c) for c in rng.integers(0, 256, size=(6, 3)).tolist())
    if u[1] < 0.4:  # dark trousers are common
        bottom = _shade(bottom, 0.35)
    long_sleeves, shorts = u[2] < 0.55, u[3] < 0.2
    return _Palette(
        skin=skin, hair=hair, top=top, sleeve=top if u[4] < 0.8 else other,
        forearm=top if long_sleeves else skin, bottom=bottom, shin=skin if shorts else bottom,
        shoe=_shade(shoe, 0.5), stripe=stripe if u[5] < 0.35 else None,
        print_=print_ if u[5] > 0.5 else None,
    )


def _draw_person(img: np.ndarray, id_map: np.ndarray, body: Body, origin: np.ndarray, pal: _Palette,
                 person_id: int, *, detail: bool) -> None:
    """Draw one person back to front; paint ``person_id << 5 | (part + 1)`` into ``id_map``.

    ``detail`` adds outlines, stripes and face features (skipped for tiny people: invisible and slow).
    """
    h = body.height
    p = body.points[:, :2] + origin
    q = [tuple(v) for v in np.rint(p * _ONE).astype(np.int64).tolist()]  # OpenCV fixed point
    z = body.points[:, 2].tolist()
    b = body.build
    a = _A

    def width(fraction: float) -> int:
        return max(1, round(fraction * b * h))

    # (part, depth, kind, args): painter's order inside the person by mean depth. The torso is
    # pushed back a little so that arms and legs at the torso's own depth are drawn over it.
    segs = (
        (P_L_UPPER, "left_shoulder", "left_elbow", 0.058, pal.sleeve),
        (P_R_UPPER, "right_shoulder", "right_elbow", 0.058, pal.sleeve),
        (P_L_FORE, "left_elbow", "left_wrist", 0.048, pal.forearm),
        (P_R_FORE, "right_elbow", "right_wrist", 0.048, pal.forearm),
        (P_L_HAND, "left_wrist", "left_hand", 0.042, pal.skin),
        (P_R_HAND, "right_wrist", "right_hand", 0.042, pal.skin),
        (P_L_THIGH, "left_hip", "left_knee", 0.085, pal.bottom),
        (P_R_THIGH, "right_hip", "right_knee", 0.085, pal.bottom),
        (P_L_SHANK, "left_knee", "left_ankle", 0.062, pal.shin),
        (P_R_SHANK, "right_knee", "right_ankle", 0.062, pal.shin),
        (P_L_FOOT, "left_ankle", "left_toe", 0.038, pal.shoe),
        (P_R_FOOT, "right_ankle", "right_toe", 0.038, pal.shoe),
    )
    items: list[tuple[float, int, Any]] = []
    for part, j1, j2, frac, colour in segs:
        items.append((0.5 * (z[a[j1]] + z[a[j2]]), part, (a[j1], a[j2], frac, colour)))
    torso_z = 0.25 * (z[a["left_shoulder"]] + z[a["right_shoulder"]] + z[a["left_hip"]] + z[a["right_hip"]])
    items.append((torso_z + 0.04 * h, P_TORSO, None))
    items.append((z[a["neck"]] + 0.02 * h, P_NECK, None))
    items.append((z[a["head_center"]] - 0.03 * h, P_HEAD, None))
    items.sort(key=lambda it: -it[0])  # far first

    aa = cv2.LINE_AA
    outline_px = 2 if detail else 0
    for _, part, args in items:
        pid = (person_id << _ID_SHIFT) | (part + 1)
        if args is not None:
            i, j, frac, colour = args
            q1, q2 = q[i], q[j]
            t = width(frac)
            if detail and t >= 3:
                cv2.line(img, q1, q2, _shade(colour, 0.55), t + outline_px, aa, _SHIFT)
            cv2.line(img, q1, q2, colour, t, aa, _SHIFT)
            cv2.line(id_map, q1, q2, pid, t + (outline_px if t >= 3 else 0), cv2.LINE_8, _SHIFT)
        elif part == P_TORSO:
            _draw_torso(img, id_map, body, p, pal, pid, detail=detail)
        elif part == P_NECK:
            q1 = q[a["neck"]]
            q2 = _pt(p[a["neck"]] + 0.6 * (p[a["head_center"]] - p[a["neck"]]))
            t = width(0.05)
            cv2.line(img, q1, q2, pal.skin, t, aa, _SHIFT)
            cv2.line(id_map, q1, q2, pid, t, cv2.LINE_8, _SHIFT)
        else:
            _draw_head(img, id_map, body, p, pal, pid, detail=detail)


def _draw_torso(img: np.ndarray, id_map: np.ndarray, body: Body, p: np.ndarray, pal: _Palette, pid: int,
                *, detail: bool) -> None:
    h, a = body.height, _A
    left, fwd = body.torso_frame[:2, 0], body.torso_frame[:2, 2]
    depth = fwd * _CHEST_HALF_DEPTH * body.build * h
    corners = []
    for name, side, out in (("left_shoulder", 1, 0.02), ("right_shoulder", -1, 0.02),
                            ("left_hip", 1, 0.03), ("right_hip", -1, 0.03)):
        c = p[a[name]] + left * side * out * body.build * h
        corners += [c + depth, c - depth]
    hull = cv2.convexHull((np.array(corners) * _ONE).round().astype(np.int32))
    cv2.fillConvexPoly(img, hull, pal.top, cv2.LINE_AA, _SHIFT)
    if detail:
        if pal.stripe is not None:  # horizontal stripes between the torso's side edges
            t = max(1, round(0.025 * h))
            for f in (0.3, 0.5, 0.7):
                l_pt = p[a["left_shoulder"]] + f * (p[a["left_hip"]] - p[a["left_shoulder"]])
                r_pt = p[a["right_shoulder"]] + f * (p[a["right_hip"]] - p[a["right_shoulder"]])
                cv2.line(img, _pt(l_pt), _pt(r_pt), pal.stripe, t, cv2.LINE_AA, _SHIFT)
        if pal.print_ is not None and body.torso_frame[2, 2] < -0.3:  # a chest print: front side only
            chest = 0.5 * (p[a["left_shoulder"]] + p[a["right_shoulder"]]) + 0.35 * (
                0.5 * (p[a["left_hip"]] + p[a["right_hip"]]) - 0.5 * (p[a["left_shoulder"]] + p[a["right_shoulder"]]))
            cv2.circle(img, _pt(chest), max(_ONE, int(0.03 * h * _ONE)), pal.print_, -1, cv2.LINE_AA, _SHIFT)
        cv2.polylines(img, [hull], True, _shade(pal.top, 0.55), 2, cv2.LINE_AA, _SHIFT)
    cv2.fillConvexPoly(id_map, hull, pid, cv2.LINE_8, _SHIFT)
    if detail:
        cv2.polylines(id_map, [hull], True, pid, 2, cv2.LINE_8, _SHIFT)


def _draw_head(img: np.ndarray, id_map: np.ndarray, body: Body, p: np.ndarray, pal: _Palette, pid: int,
               *, detail: bool) -> None:
    h, a = body.height, _A
    r = max(1.0, _HEAD_R * h)
    c = p[a["head_center"]]
    rr = round(r * _ONE)
    fwd = body.head_frame[:, 2]
    cv2.circle(img, _pt(c), rr, pal.hair, -1, cv2.LINE_AA, _SHIFT)
    if fwd[2] < 0.35:  # some of the face shows: a skin disc shifted towards where the head looks
        face_c = c + 0.2 * r * fwd[:2] + 0.1 * r * body.head_frame[:2, 1]
        cv2.circle(img, _pt(face_c), round(0.8 * r * _ONE), pal.skin, -1, cv2.LINE_AA, _SHIFT)
    if detail:
        cv2.circle(img, _pt(c), rr, _shade(pal.hair, 0.6), 1, cv2.LINE_AA, _SHIFT)
        if r >= 4:
            dot = max(_ONE // 2, int(0.14 * r * _ONE))
            for name in ("left_eye", "right_eye", "nose"):
                if _face_normal_z(body, name) < _FACE_HIDDEN_ABOVE[name]:
                    colour = (30, 30, 30) if name != "nose" else _shade(pal.skin, 0.7)
                    cv2.circle(img, _pt(p[a[name]]), dot, colour, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(id_map, _pt(c), rr, pid, -1, cv2.LINE_8, _SHIFT)


def _face_normal_z(body: Body, name: str) -> float:
    """Depth component (away from the camera) of the head surface normal at a face point."""
    local = np.asarray(_FACE_LOCAL[name])
    return float((body.head_frame @ (local / np.linalg.norm(local)))[2])


def _body_extent(body: Body) -> tuple[np.ndarray, np.ndarray]:
    """Top-left and bottom-right of a body's drawing (points plus a margin for limb width)."""
    margin = 0.07 * body.build * body.height
    xy = body.points[:, :2]
    return xy.min(axis=0) - margin, xy.max(axis=0) + margin


def _place(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, size: tuple[int, int],
           cut: float) -> np.ndarray:
    """An origin such that at most ``cut`` of the box [lo, hi] leaves the image on each axis."""
    origin = np.zeros(2)
    for k in range(2):
        extent = hi[k] - lo[k]
        a = -lo[k] - cut * extent             # the box starts `cut` outside the low border
        b = size[k] - hi[k] + cut * extent    # the box ends `cut` outside the high border
        origin[k] = rng.uniform(min(a, b), max(a, b))
    return origin


def _crowd_blob(rng: np.random.Generator, img: np.ndarray, id_map: np.ndarray, config: SynthConfig) -> None:
    """Draw a dense blob of tiny people (painted as person id 255 in ``id_map``)."""
    w, h = config.image_size
    cx, cy = rng.uniform(0.15 * w, 0.85 * w), rng.uniform(0.2 * h, 0.8 * h)
    rx, ry = rng.uniform(0.08, 0.2) * w, rng.uniform(0.04, 0.1) * h
    tiny_max = max(7.0, min(20.0, 0.7 * config.min_height))
    n = int(rng.integers(30, 71))
    offsets = rng.uniform(-1.0, 1.0, size=(n, 2))
    offsets = offsets[np.hypot(offsets[:, 0], offsets[:, 1]) <= 1.0]
    offsets = offsets[np.argsort(offsets[:, 1], kind="stable")]  # lower in the image = nearer
    for ox, oy in offsets:
        body = sample_body(rng, rng.uniform(6.0, tiny_max))
        origin = np.array([cx + ox * rx, cy + oy * ry])
        _draw_person(img, id_map, body, origin, _palette(rng), _CROWD_ID, detail=False)


def _heights(rng: np.random.Generator, n: int, config: SynthConfig) -> list[float]:
    """Log-uniform heights; later people shrink when the summed rough area exceeds the budget."""
    w, h = config.image_size
    lo, hi = config.min_height, max(config.min_height, min(config.max_height, float(h)))
    budget = config.max_coverage * w * h
    used, out = 0.0, []
    for _ in range(n):
        ht = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        room = budget - used
        if 0.2 * ht * ht > room:  # 0.2 h^2: the rough pixel area of a standing person of height h
            ht = max(lo, math.sqrt(max(room, 0.0) / 0.2))
        used += 0.2 * ht * ht
        out.append(ht)
    return out


def _polygons(mask: np.ndarray, x0: int, y0: int) -> list[list[int]]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = cv2.approxPolyDP(c, 0.8, True)
        if len(c) >= 3:
            polys.append((c.reshape(-1, 2) + np.array([x0, y0])).reshape(-1).tolist())
    return polys


def _crowd_index(people: Sequence[SynthPerson]) -> float:
    """CrowdPose's crowd index: per person, others' labelled joints in its box over its own."""
    if not people:
        return 0.0
    kps = np.stack([p.keypoints for p in people])                        # (N, K, 3)
    box = np.array([p.bbox for p in people])                             # (N, 4)
    x, y = kps[None, :, :, 0], kps[None, :, :, 1]                        # (1, N, K)
    x0, y0 = box[:, 0, None, None], box[:, 1, None, None]                # (N, 1, 1)
    x1, y1 = x0 + box[:, 2, None, None], y0 + box[:, 3, None, None]
    inside = (kps[None, :, :, 2] > 0) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    counts = inside.sum(axis=2)                                          # (box owner, joint owner)
    own = np.diag(counts).astype(float)
    others = counts.sum(axis=1) - own
    keep = own > 0
    return float(np.mean(others[keep] / own[keep])) if keep.any() else 0.0


def _annotate(drawn: Sequence[tuple[int, Body, int, tuple[int, int, int, int]]], id_map: np.ndarray,
              joint_idx: np.ndarray, min_visible_fraction: float) -> list[SynthPerson]:
    """Keypoints, visibility, box, area and polygons of each drawn person, from the final id map.

    ``drawn`` holds ``(person_id, body in image pixels, full area in pixels, (x0, y0, x1, y1) crop)``
    per person, back to front; people with less than ``min_visible_fraction`` of ``full`` visible
    (or under 12 pixels) are left out.
    """
    h, w = id_map.shape
    owners = id_map >> _ID_SHIFT
    face_k = [k for k, i in enumerate(joint_idx) if ANATOMY[i] in _FACE_HIDDEN_ABOVE]
    face_normals = np.array([_FACE_LOCAL[ANATOMY[joint_idx[k]]] for k in face_k]).reshape(-1, 3)
    face_normals /= np.maximum(np.linalg.norm(face_normals, axis=1, keepdims=True), 1e-9)
    face_limit = np.array([_FACE_HIDDEN_ABOVE[ANATOMY[joint_idx[k]]] for k in face_k])
    people: list[SynthPerson] = []
    for person_id, body, full, (x0, y0, x1, y1) in drawn:
        if full == 0 or x1 <= x0 or y1 <= y0:
            continue
        mask = (owners[y0:y1, x0:x1] == person_id).astype(np.uint8)
        visible = int(np.count_nonzero(mask))
        if visible < max(12, min_visible_fraction * full):
            continue  # hidden behind others: drawn, not annotated
        polys = _polygons(mask, x0, y0)
        if not polys:
            continue
        # COCO's area is the area of the segmentation, as pycocotools rasterises it
        area = int(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(polys, h, w))))
        xy = body.points[joint_idx, :2]
        inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
        px = np.clip(np.rint(xy[:, 0]).astype(np.int64), 0, w - 1)
        py = np.clip(np.rint(xy[:, 1]).astype(np.int64), 0, h - 1)
        val = id_map[py, px].astype(np.int64)
        part = (val & ((1 << _ID_SHIFT) - 1)) - 1
        own_part = ((val >> _ID_SHIFT) == person_id) & (part >= 0)
        own_part &= ((_JOINT_PART_BITS[joint_idx] >> np.maximum(part, 0)) & 1).astype(bool)
        if face_k:  # the back of the head hides face points turned away from the camera
            normal_z = (face_normals @ body.head_frame.T)[:, 2]
            own_part[face_k] &= normal_z < face_limit
        kps = np.zeros((len(joint_idx), 3))
        kps[inside, :2] = np.round(xy[inside], 2)
        kps[inside, 2] = np.where(own_part[inside], 2, 1)
        rx, ry, rw, rh = cv2.boundingRect(mask)
        bx0, by0, bx1, by1 = rx + x0, ry + y0, rx + x0 + rw - 1, ry + y0 + rh - 1
        if inside.any():  # the box also holds the labelled (possibly covered) joints
            bx0, by0 = min(bx0, kps[inside, 0].min()), min(by0, kps[inside, 1].min())
            bx1, by1 = max(bx1, kps[inside, 0].max()), max(by1, kps[inside, 1].max())
        bbox = (round(float(bx0), 2), round(float(by0), 2), round(float(bx1 - bx0 + 1), 2),
                round(float(by1 - by0 + 1), 2))
        people.append(SynthPerson(keypoints=kps, bbox=bbox, area=area, segmentation=polys, body=body))

    return people


def render_image(config: SynthConfig, skeleton: Skeleton, seed: int, index: int) -> SynthImage:
    """Draw image ``index`` of the dataset with ``seed``; depends on nothing else.

    Args:
        config: image size, people per image, heights, crowd blobs.
        skeleton: which keypoints to annotate (names matched to the body model).
        seed: dataset seed (>= 0).
        index: image index (>= 0); the RNG is ``default_rng([seed, index])``.

    Returns:
        The image, its background, id map and annotations. Shapes: image ``(H, W, 3)`` uint8 BGR.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    joint_idx = np.array(anatomy_index(skeleton))
    rng = np.random.default_rng([seed, index])
    w, h = config.image_size
    background = _background(rng, w, h)
    img = background.copy()
    id_map = np.zeros((h, w), np.uint16)
    has_crowd = rng.random() < config.crowd_prob
    if has_crowd:
        _crowd_blob(rng, img, id_map, config)

    n = int(rng.integers(config.min_people, config.max_people + 1))
    heights = sorted(_heights(rng, n, config), key=lambda ht: ht * math.exp(0.1 * rng.standard_normal()))
    drawn: list[tuple[int, Body, int, tuple[int, int, int, int]]] = []  # id, body, full area, crop
    for k, ht in enumerate(heights):
        person_id = k + 1
        body = sample_body(rng, ht)
        lo, hi = _body_extent(body)
        origin = _place(rng, lo, hi, (w, h), config.border_cut)
        body = Body(points=body.points + np.array([origin[0], origin[1], 0.0]), height=body.height,
                    pose=body.pose, build=body.build, torso_frame=body.torso_frame,
                    head_frame=body.head_frame)
        _draw_person(img, id_map, body, np.zeros(2), _palette(rng), person_id, detail=True)
        x0, y0 = (int(max(0, math.floor(v))) for v in lo + origin)
        x1 = int(min(w, math.ceil(hi[0] + origin[0]) + 1))
        y1 = int(min(h, math.ceil(hi[1] + origin[1]) + 1))
        full = int(np.count_nonzero((id_map[y0:y1, x0:x1] >> _ID_SHIFT) == person_id)) if x1 > x0 and y1 > y0 else 0
        drawn.append((person_id, body, full, (x0, y0, x1, y1)))

    # sensor noise and softness, after the id map is final (it does not move any pixel)
    noise_std = rng.uniform(0.0, 6.0)
    if noise_std > 1.0:  # grey noise, int16 maths: float images of this size cost more than the drawing
        noise = (rng.standard_normal((h, w), dtype=np.float32) * noise_std).astype(np.int16)
        img = np.clip(img.astype(np.int16) + noise[:, :, None], 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), 0.7)

    people = _annotate(drawn, id_map, joint_idx, config.min_visible_fraction)
    owners = id_map >> _ID_SHIFT
    crowds: list[SynthCrowd] = []
    if has_crowd:
        crowd = (owners == _CROWD_ID).astype(np.uint8)
        # close the gaps between the tiny people, but never over a person drawn in front
        crowd = cv2.morphologyEx(crowd, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        crowd &= ((owners == 0) | (owners == _CROWD_ID)).astype(np.uint8)
        area = int(np.count_nonzero(crowd))
        if area >= 50:
            rle = mask_utils.encode(np.asfortranarray(crowd))
            ys, xs = np.nonzero(crowd)
            bbox = (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1))
            crowds.append(SynthCrowd(rle={"size": [int(v) for v in rle["size"]],
                                          "counts": rle["counts"].decode("ascii")}, bbox=bbox, area=area))
    return SynthImage(image=img, background=background, id_map=id_map, people=people, crowds=crowds,
                      crowd_index=round(_crowd_index(people), 2), pose_names=[b.pose for _, b, _, _ in drawn])


# --------------------------------------------------------------------------------------------------
# 3. Annotation writer
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`synthesize` wrote."""

    annotation_path: Path
    images: int
    people: int
    crowd_regions: int
    seconds: float


def _file_name(image_id: int) -> str:
    # 12 digits: both official image_id rules give the id back (COCO int(name[-16:-4]),
    # CrowdPose int(name.split('.')[0])).
    return f"{image_id:012d}.jpg"


def _write_image(path: Path, data: bytes) -> None:
    """Write to a temporary sibling, then rename: a reader never sees half an image.

    No fsync per image (it would dominate the run time); the JSON, written last with fsync, is the
    commit point of the dataset.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _render_records(index: int, *, config: SynthConfig, skeleton: Skeleton, seed: int, image_dir: Path,
                    style: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Render, write the JPEG, and return the image record and its annotations (without ids)."""
    synth = render_image(config, skeleton, seed, index)
    image_id = index + 1
    name = _file_name(image_id)
    ok, buf = cv2.imencode(".jpg", synth.image, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR image
        raise RuntimeError(f"OpenCV failed to encode image {name}")
    _write_image(image_dir / name, buf.tobytes())
    w, h = config.image_size
    image: dict[str, Any] = {"id": image_id, "file_name": name, "width": w, "height": h, "license": 1}
    if style == "crowdpose":
        image["crowdIndex"] = synth.crowd_index
    anns: list[dict[str, Any]] = []
    for person in synth.people:
        kps = person.keypoints
        flat: list[float | int] = []
        for x, y, v in kps:
            flat += [float(x), float(y), int(v)] if v > 0 else [0, 0, 0]
        ann: dict[str, Any] = {"image_id": image_id, "category_id": 1, "iscrowd": 0,
                               "num_keypoints": int(np.count_nonzero(kps[:, 2] > 0)), "keypoints": flat,
                               "bbox": list(person.bbox)}
        if style == "coco":
            ann["area"] = float(person.area)
        ann["segmentation"] = person.segmentation
        anns.append(ann)
    for crowd in synth.crowds:
        ann = {"image_id": image_id, "category_id": 1, "iscrowd": 1, "num_keypoints": 0,
               "keypoints": [0] * (3 * skeleton.num_keypoints), "bbox": list(crowd.bbox)}
        if style == "coco":
            ann["area"] = float(crowd.area)
        ann["segmentation"] = crowd.rle
        anns.append(ann)
    return image, anns


def _resolve_skeleton(skeleton: str | Path | Skeleton) -> Skeleton:
    sk = skeleton if isinstance(skeleton, Skeleton) else load_skeleton(skeleton)
    anatomy_index(sk)  # fail early on names the body model lacks
    return sk


def synthesize(
    out_dir: str | os.PathLike[str],
    num_images: int,
    skeleton: str | Path | Skeleton = "coco",
    seed: int = 0,
    *,
    config: SynthConfig | None = None,
    style: str | None = None,
    annotation_name: str = "annotations.json",
    image_dir: str = "images",
    workers: int = 1,
    progress: bool = False,
) -> SynthSummary:
    """Write a synthetic dataset and say what was written (see :func:`generate_dataset`)."""
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"num_images must be a positive int, got {num_images!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not annotation_name or Path(annotation_name).name != annotation_name:
        raise ValueError(f"annotation_name must be a plain file name, got {annotation_name!r}")
    config = config or SynthConfig()
    sk = _resolve_skeleton(skeleton)
    style = style or ("crowdpose" if sk.name == "crowdpose" else "coco")
    if style not in ("coco", "crowdpose"):
        raise ValueError(f"style must be 'coco' or 'crowdpose', got {style!r}")

    start = time.perf_counter()
    out = Path(out_dir)
    images_path = out / image_dir
    images_path.mkdir(parents=True, exist_ok=True)
    job = partial(_render_records, config=config, skeleton=sk, seed=seed, image_dir=images_path, style=style)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    from tqdm import tqdm

    with tqdm(total=num_images, desc="synth", unit="img", disable=not progress) as bar:
        for image, anns in _map(job, range(num_images), workers):
            images.append(image)
            for ann in anns:  # ids in image order, whatever order the workers finished in
                annotations.append({"id": len(annotations) + 1, **ann})
            bar.update(1)

    dataset = {
        "info": {
            "description": "litepose synthetic crowds: procedurally drawn people",
            "contributor": "litepose synth",
            "seed": seed,
            "skeleton": sk.name,
            "style": style,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        },
        "licenses": [{"id": 1, "name": "CC0 1.0 (generated data)",
                      "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "images": images,
        "annotations": annotations,
        "categories": [{
            "id": 1, "name": "person", "supercategory": "person",
            "keypoints": list(sk.keypoint_names),
            "skeleton": [[i + 1, j + 1] for i, j in sk.limbs],
        }],
    }
    path = out / annotation_name
    atomic_write_json(path, dataset)
    people = sum(1 for a in annotations if not a["iscrowd"])
    return SynthSummary(annotation_path=path, images=len(images), people=people,
                        crowd_regions=len(annotations) - people, seconds=time.perf_counter() - start)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one core per worker; OpenCV's own pool would oversubscribe


def _map(job: Any, indices: range, workers: int) -> Iterator[Any]:
    """``map(job, indices)`` in order, in this process or in a spawned pool."""
    if workers == 1:
        yield from map(job, indices)
        return
    import multiprocessing as mp

    # spawn: safe even when the caller has torch/OpenMP threads running (fork is not)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker) as pool:
        yield from pool.map(job, indices, chunksize=max(1, min(16, len(indices) // (4 * workers))))


def generate_dataset(
    out_dir: str | os.PathLike[str],
    num_images: int,
    skeleton: str | Path | Skeleton = "coco",
    seed: int = 0,
    *,
    image_size: tuple[int, int] = (320, 256),
    min_people: int = 3,
    max_people: int = 20,
    min_height: float = 30.0,
    max_height: float = 300.0,
    crowd_prob: float = 0.2,
    jpeg_quality: int = 90,
    style: str | None = None,
    annotation_name: str = "annotations.json",
    workers: int = 1,
    progress: bool = False,
) -> Path:
    """Write ``out_dir/images/*.jpg`` and a COCO keypoints JSON of procedurally drawn people.

    Args:
        out_dir: created if missing; existing files of the same names are replaced.
        num_images: images to draw (ids 1..N, files ``000000000001.jpg`` ...).
        skeleton: ``"coco"``, ``"crowdpose"``, a skeleton YAML/JSON path or a :class:`Skeleton`
            whose keypoint names the body model knows (:data:`ANATOMY` and common aliases).
        seed: same seed, same bytes; image ``i`` depends only on ``(seed, i)``.
        image_size: ``(width, height)``.
        min_people, max_people: people per image (uniform).
        min_height, max_height: person heights in pixels (log-uniform, clipped to the image).
        crowd_prob: chance of an ``iscrowd`` blob per image.
        jpeg_quality: JPEG quality.
        style: ``"coco"`` (with ``area``) or ``"crowdpose"`` (``crowdIndex`` per image, no ``area``);
            default: ``"crowdpose"`` for the CrowdPose skeleton, else ``"coco"``.
        annotation_name: file name of the JSON inside ``out_dir``.
        workers: processes drawing images (the output does not depend on it).
        progress: show a tqdm progress bar.

    Returns:
        Path of the annotation JSON (written last, atomically).
    """
    config = SynthConfig(image_size=(image_size[0], image_size[1]), min_people=min_people,
                         max_people=max_people, min_height=min_height, max_height=max_height,
                         crowd_prob=crowd_prob, jpeg_quality=jpeg_quality)
    return synthesize(out_dir, num_images, skeleton, seed, config=config, style=style,
                      annotation_name=annotation_name, workers=workers, progress=progress).annotation_path

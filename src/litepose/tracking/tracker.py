"""Online multi-person pose tracking: identities across video frames, optionally One-Euro smoothed.

:class:`Tracker` takes each frame's detected poses (``(N, K, 3)`` keypoints, as
:class:`~litepose.PoseResult` holds them) with the frame's timestamp and returns them with track ids:

1. **Predict** every track to the frame's time with its motion model: a constant-velocity Kalman
   filter per keypoint (:mod:`litepose.tracking.motion`), or ``motion="none"`` (the last position).
2. **Associate** by OKS between the predicted track poses and the detections, with a gated Hungarian
   assignment (:mod:`litepose.tracking.association`): confirmed tracks first, then tentative ones
   with the detections left, so a fresh (possibly spurious) track never takes a detection from an
   established one. Duplicates first (a detection with OKS >= ``nms_threshold`` with a higher-scored
   one: bottom-up decoders sometimes return a person twice) are left out.
3. **Life cycle**: an unmatched detection with a person score of at least ``min_score`` and
   ``min_joints`` confident joints starts a *tentative* track; a track is *confirmed* after
   ``min_hits`` matched frames and only then gets an id; a tentative track that misses a frame is
   dropped; a confirmed one is removed when it has not been matched for more than ``max_age``
   **seconds** (frame timestamps, so the same setting works at any frame rate). Ids count up from 1
   and are never reused, not even after :meth:`Tracker.reset`.
4. **Smoothing** (optional): each track's keypoints go through a One-Euro filter
   (:mod:`litepose.tracking.smoothing`) with the track's size as the speed scale; a confirmed track
   missed by the detector may be reported for ``fill_frames`` frames at its predicted pose.

Detections that match no track, or only a tentative one, are returned too, with id ``-1``.

Identity cues. :meth:`Tracker.update` takes optional per-detection embeddings (weighted by
``TrackerConfig.embedding_weight``, off by default). LitePose's associative-embedding tags were
measured as such a cue (``benchmarks/bench_tracking.py --model``, a checkpoint trained on synthetic
people, tags read from the maps at each person's joints): between consecutive frames the tag distance
separates same-person from different-people pairs with ROC AUC 0.92, OKS with 0.97, and adding the tag
distance to the association left MOTA and IDF1 unchanged or lower (weight 0.2: MOTA 0.415 vs 0.417,
IDF1 0.431 vs 0.436). The tags are trained to separate the people of one image (pull/push losses within
an image), not to identify them across images, so the :class:`~litepose.Predictor` does not expose
them and the tracker relies on OKS and motion.

Shapes: ``N`` detections, ``K`` joints, ``M`` reported poses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from litepose.skeleton import Skeleton, get_skeleton, load_skeleton
from litepose.tracking.association import match, oks_matrix, pose_nms
from litepose.tracking.motion import KalmanState, kalman_predict, kalman_start, kalman_update
from litepose.tracking.smoothing import OneEuroConfig, OneEuroState, one_euro_start, one_euro_step, pose_size

__all__ = ["TrackedPoses", "Tracker", "TrackerConfig"]


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of :class:`Tracker`.

    Attributes:
        oks_threshold: least OKS between a track's predicted pose and a detection to match them.
        nms_threshold: a detection whose OKS with a higher-scored one of the same frame reaches this
            is a duplicate (bottom-up decoders sometimes return a person twice): it is reported
            untracked and never matched. Above 1: no suppression.
        min_hits: matched frames (the first included) before a track is confirmed and gets an id.
        max_age: seconds a confirmed track survives without a match.
        min_score: least person score for a detection to start a track.
        min_joints: least confident joints for a detection to start a track.
        min_confidence: joints below this confidence count as not detected.
        full_confidence: joints at or above it are measurements of full weight (less below).
        motion: ``"kalman"`` (constant velocity) or ``"none"`` (tracks stay where last seen).
        accel_std: Kalman acceleration noise, person sizes per second squared.
        measurement_std: Kalman measurement noise at full confidence, person sizes.
        velocity_std: Kalman prior velocity spread of a new track, person sizes per second.
        fill_frames: a confirmed track that the detector misses is still reported, at its
            predicted pose, for this many frames in a row (0: never).
        embedding_weight: with embeddings passed to :meth:`Tracker.update` (an appearance or
            identity vector per detection), the association maximises ``OKS - embedding_weight *
            min(1, distance)`` (L2 distance to the track's running mean embedding); OKS alone still
            gates the pairs. 0 ignores embeddings.
    """

    oks_threshold: float = 0.2
    nms_threshold: float = 0.5
    min_hits: int = 2
    max_age: float = 1.0
    min_score: float = 0.2
    min_joints: int = 3
    min_confidence: float = 0.1
    full_confidence: float = 0.5
    motion: Literal["kalman", "none"] = "kalman"
    accel_std: float = 4.0
    measurement_std: float = 0.03
    velocity_std: float = 1.0
    fill_frames: int = 0
    embedding_weight: float = 0.0

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"TrackerConfig.{name} must be {what}, got {getattr(self, name)!r}")

        def is_int(v: Any) -> bool:
            return not isinstance(v, bool) and isinstance(v, (int, np.integer))

        check("oks_threshold", 0 < self.oks_threshold <= 1, "in (0, 1]")
        check("nms_threshold", self.nms_threshold > 0, "a number > 0")
        check("min_hits", is_int(self.min_hits) and self.min_hits >= 1, "an integer >= 1")
        check("max_age", math.isfinite(self.max_age) and self.max_age >= 0, "a number of seconds >= 0")
        check("min_score", math.isfinite(self.min_score), "a finite number")
        check("min_joints", is_int(self.min_joints) and self.min_joints >= 2, "an integer >= 2")
        check("min_confidence", 0 <= self.min_confidence <= self.full_confidence, "in [0, full_confidence]")
        check("full_confidence", math.isfinite(self.full_confidence) and self.full_confidence > 0, "a number > 0")
        check("motion", self.motion in ("kalman", "none"), "'kalman' or 'none'")
        for name in ("accel_std", "measurement_std", "velocity_std"):
            check(name, math.isfinite(getattr(self, name)) and getattr(self, name) > 0, "a finite number > 0")
        check("fill_frames", is_int(self.fill_frames) and self.fill_frames >= 0, "an integer >= 0")
        check("embedding_weight", math.isfinite(self.embedding_weight) and self.embedding_weight >= 0,
              "a finite number >= 0")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class TrackedPoses:
    """The poses of one frame with their track ids.

    Attributes:
        timestamp: the frame's time, seconds.
        keypoints: ``(M, K, 3)`` ``(x, y, confidence)``; smoothed when the tracker smooths.
        scores: ``(M,)`` person scores as detected (a filled pose keeps its track's last score).
        track_ids: ``(M,)`` int; ``-1`` for a detection without a confirmed track.
        detection_index: ``(M,)`` int: the row of the detection in the input, ``-1`` for a pose
            filled in for a missed track. Detections come first, in input order.
        filled_joints: ``(M, K)`` bool: joints filled in by the smoother across a short gap (all
            joints of a filled pose).
    """

    timestamp: float
    keypoints: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    detection_index: np.ndarray
    filled_joints: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("keypoints", "scores", "track_ids", "detection_index", "filled_joints"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def tracked(self) -> np.ndarray:
        """``(M,)`` bool: the poses that carry a track id."""
        return self.track_ids >= 0

    def to_coco(self, image_id: int, *, category_id: int = 1) -> list[dict[str, Any]]:
        """COCO keypoint results entries, each with ``track_id`` (``None`` when untracked); a pose
        filled in for a missed track also has ``"filled": true``."""
        from litepose.evaluation.results import to_coco_results

        entries = to_coco_results(image_id, self.keypoints, self.scores, category_id=category_id)
        for entry, tid, det in zip(entries, self.track_ids.tolist(), self.detection_index.tolist(), strict=True):
            entry["track_id"] = tid if tid >= 0 else None
            if det < 0:
                entry["filled"] = True
        return entries


class _Tracks:
    """Every live track's memory as one array per field (row ``i`` = track ``i``), so that a frame's
    updates run as a few array operations whatever the number of people.

    Fields (``T`` tracks, ``K`` joints): ``ids`` ``(T,)`` (-1 while tentative); ``time`` (last match,
    seconds), ``size`` (pixels, smoothed), ``score``, ``hits``, ``misses`` ``(T,)``; ``conf`` ``(T, K)``
    last detected joint confidences; the Kalman state ``pos``, ``vel`` ``(T, K, 2)``, ``cov`` ``(T, K, 3)``,
    ``seen`` ``(T, K)``; the One-Euro state ``sm_value``, ``sm_deriv`` ``(T, K, 2)``, ``sm_conf``,
    ``sm_gap``, ``sm_samples`` ``(T, K)``; ``emb`` ``(T, L)`` running mean embeddings (``L = 0`` without).
    """

    def __init__(self, fields: dict[str, np.ndarray]) -> None:
        self.f = fields

    @classmethod
    def empty(cls, k: int) -> _Tracks:
        shapes = {"ids": ((), np.int64), "time": ((), float), "size": ((), float), "score": ((), float),
                  "hits": ((), np.int64), "misses": ((), np.int64), "conf": ((k,), float), "pos": ((k, 2), float),
                  "vel": ((k, 2), float), "cov": ((k, 3), float), "seen": ((k,), bool), "sm_value": ((k, 2), float),
                  "sm_deriv": ((k, 2), float), "sm_conf": ((k,), float), "sm_gap": ((k,), np.int64),
                  "sm_samples": ((k,), np.int64), "emb": ((0,), float)}
        return cls({name: np.zeros((0, *shape), dtype) for name, (shape, dtype) in shapes.items()})

    def __len__(self) -> int:
        return len(self.f["ids"])

    def take(self, rows: np.ndarray) -> _Tracks:
        """The tracks at ``rows`` (indices or a bool mask)."""
        if rows.dtype == bool and rows.all():
            return self
        return _Tracks({name: v[rows] for name, v in self.f.items()})

    def append(self, other: _Tracks) -> _Tracks:
        if not len(other):
            return self
        if not len(self):
            return other
        emb_self, emb_other = self.f["emb"], other.f["emb"]
        if emb_self.shape[1] != emb_other.shape[1]:  # embeddings started (or stopped) being given
            width = max(emb_self.shape[1], emb_other.shape[1])
            emb_self = np.pad(emb_self, ((0, 0), (0, width - emb_self.shape[1])))
            emb_other = np.pad(emb_other, ((0, 0), (0, width - emb_other.shape[1])))
        fields = {name: np.concatenate([v, other.f[name]]) for name, v in self.f.items() if name != "emb"}
        fields["emb"] = np.concatenate([emb_self, emb_other])
        return _Tracks(fields)


def _resolve_skeleton(skeleton: Skeleton | str | int) -> Skeleton:
    if isinstance(skeleton, Skeleton):
        return skeleton
    if isinstance(skeleton, int):
        return get_skeleton(skeleton)
    return load_skeleton(skeleton)


class Tracker:
    """Online pose tracker with OKS association, a motion model, a track life cycle and optional smoothing.

    Args:
        skeleton: the joint layout (its OKS sigmas weigh the association): a :class:`Skeleton`,
            ``"coco"``, ``"crowdpose"``, a skeleton file, or a joint count (17 or 14).
        config: association, life-cycle and motion settings (:class:`TrackerConfig`).
        smoothing: ``None``/``False`` (raw keypoints), ``True`` (One-Euro with its defaults) or a
            :class:`~litepose.tracking.smoothing.OneEuroConfig`.

    Example::

        tracker = litepose.Tracker("coco", smoothing=True)
        for t, frame in video:                       # t: the frame's timestamp in seconds
            result = predictor(frame)
            tracked = tracker.update(result.keypoints, result.scores, timestamp=t)
            tracked.track_ids, tracked.keypoints     # (M,), (M, K, 3)
    """

    def __init__(self, skeleton: Skeleton | str | int = "coco", config: TrackerConfig | None = None, *,
                 smoothing: OneEuroConfig | bool | None = None) -> None:
        self.skeleton = _resolve_skeleton(skeleton)
        self.config = config or TrackerConfig()
        if smoothing is True:
            smoothing = OneEuroConfig()
        self.smoothing: OneEuroConfig | None = smoothing or None
        self._sigmas = np.asarray(self.skeleton.oks_sigmas, dtype=np.float64)
        self._tracks = _Tracks.empty(self.skeleton.num_keypoints)
        self._next_id = 1
        self._time: float | None = None

    def __repr__(self) -> str:
        return (f"Tracker(skeleton={self.skeleton.name!r}, tracks={len(self._tracks)}, "
                f"smoothing={self.smoothing is not None})")

    @property
    def active_ids(self) -> list[int]:
        """Ids of the confirmed tracks still alive."""
        ids = self._tracks.f["ids"]
        return ids[ids >= 0].tolist()

    def reset(self) -> None:
        """Forget every track (a new video); ids keep counting up, so none is ever reused."""
        self._tracks = _Tracks.empty(self.skeleton.num_keypoints)
        self._time = None

    def _check(self, keypoints: Any, scores: Any, timestamp: float) -> tuple[np.ndarray, np.ndarray, float]:
        k = self.skeleton.num_keypoints
        kpts = np.asarray(keypoints, dtype=np.float64)
        if kpts.size == 0:
            kpts = kpts.reshape(0, k, 3)
        if kpts.ndim != 3 or kpts.shape[1:] != (k, 3):
            raise ValueError(f"keypoints must be (N, {k}, 3) for skeleton {self.skeleton.name!r}, got {kpts.shape}")
        kpts = kpts.copy()
        bad = ~np.isfinite(kpts).all(axis=2)  # a NaN/inf joint is a joint not detected
        kpts[bad] = 0.0
        if scores is None:
            sc = kpts[:, :, 2].mean(axis=1) if len(kpts) else np.zeros(0)
        else:
            sc = np.asarray(scores, dtype=np.float64).reshape(-1)
            if sc.shape[0] != kpts.shape[0]:
                raise ValueError(f"{kpts.shape[0]} poses but {sc.shape[0]} scores")
            sc = np.where(np.isfinite(sc), sc, 0.0)
        t = float(timestamp)
        if not math.isfinite(t):
            raise ValueError(f"timestamp must be a finite number of seconds, got {timestamp}")
        if self._time is not None and not t > self._time:
            raise ValueError(f"timestamps must increase: {t} s after {self._time} s")
        return kpts, sc, t

    def update(self, keypoints: np.ndarray, scores: np.ndarray | None = None, *, timestamp: float,
               embeddings: np.ndarray | None = None) -> TrackedPoses:
        """Track one frame's poses.

        Args:
            keypoints: ``(N, K, 3)`` ``(x, y, confidence)`` in image pixels (``N`` may be 0).
            scores: ``(N,)`` person scores (default: mean joint confidence).
            timestamp: the frame's time in seconds, later than the previous frame's.
            embeddings: ``(N, L)`` identity vectors of the detections, used with
                ``config.embedding_weight > 0`` (see :class:`TrackerConfig`).

        Returns:
            The frame's poses with their ids (see :class:`TrackedPoses`).

        Raises:
            ValueError: wrong shapes, or a timestamp that does not increase.
        """
        cfg = self.config
        kpts, sc, t = self._check(keypoints, scores, timestamp)
        emb = None
        if embeddings is not None and cfg.embedding_weight > 0:
            emb = np.asarray(embeddings, dtype=np.float64)
            emb = emb[:, None] if emb.ndim == 1 else emb
            if emb.ndim != 2 or emb.shape[0] != len(kpts):
                raise ValueError(f"embeddings must be ({len(kpts)}, L) for {len(kpts)} poses, got {emb.shape}")
        self._time = t
        n = len(kpts)
        det_valid = kpts[:, :, 2] >= cfg.min_confidence
        weights = np.where(det_valid, np.minimum(1.0, kpts[:, :, 2] / cfg.full_confidence), 0.0)

        # tracks unseen for longer than max_age are gone before anything can match them
        tracks = self._tracks
        if len(tracks):
            tracks = tracks.take(t - tracks.f["time"] <= cfg.max_age)
        f = tracks.f
        if emb is not None and f["emb"].shape[1] != emb.shape[1]:
            f["emb"] = np.zeros((len(tracks), emb.shape[1]))  # all-zero rows: no embedding yet
        moving = cfg.motion == "kalman"
        expected = f["pos"] + f["vel"] * (t - f["time"])[:, None, None] if moving else f["pos"]

        # --- association: confirmed tracks first, then tentative ones with what is left
        det_row = np.full(n, -1, dtype=np.int64)  # each detection's track row
        free = np.arange(n)
        if cfg.nms_threshold <= 1 and n > 1:
            free = free[pose_nms(kpts, sc, det_valid, self._sigmas, cfg.nms_threshold)]
        for confirmed in (True, False):
            rows = np.flatnonzero((f["ids"] >= 0) == confirmed)
            if not len(rows) or not len(free):
                continue
            oks = oks_matrix(expected[rows], f["seen"][rows], kpts[free], det_valid[free], self._sigmas)
            sim = oks
            if emb is not None:
                distance = np.linalg.norm(f["emb"][rows][:, None] - emb[free][None], axis=2)
                has = f["emb"][rows].any(axis=1)[:, None]
                sim = oks - cfg.embedding_weight * np.where(has, np.minimum(1.0, distance), 0.0)
            pairs, _, _ = match(sim, cfg.oks_threshold, allowed=oks >= cfg.oks_threshold)
            det_row[free[pairs[:, 1]]] = rows[pairs[:, 0]]
            free = free[det_row[free] < 0]

        # --- matched tracks: motion model, smoothing, life cycle (all at once)
        out_kpts = kpts.copy()
        filled = np.zeros(kpts.shape[:2], dtype=bool)
        dets = np.flatnonzero(det_row >= 0)
        rows = det_row[dets]
        if len(dets):
            smoothed = self._update_rows(tracks, rows, kpts[dets], weights[dets], sc[dets], t)
            if smoothed is not None:
                out_kpts[dets], filled[dets] = smoothed
            if emb is not None:  # a running mean over the matched detections
                old = f["emb"][rows]
                f["emb"][rows] = np.where(old.any(axis=1)[:, None], 0.5 * (old + emb[dets]), emb[dets])
        ids = np.full(n, -1, dtype=np.int64)
        ids[dets] = f["ids"][rows]

        # --- the others: a tentative track that missed a frame is dropped; a confirmed one may be filled in
        unmatched = np.ones(len(tracks), dtype=bool)
        unmatched[rows] = False
        f["misses"][unmatched] += 1
        fill = unmatched & (f["ids"] >= 0) & (f["misses"] <= cfg.fill_frames)
        extra = np.flatnonzero(fill)
        tracks = tracks.take(~unmatched | (f["ids"] >= 0))

        # --- new tentative tracks (duplicates removed by the NMS are not in `free`)
        new = [d for d in free if sc[d] >= cfg.min_score and det_valid[d].sum() >= cfg.min_joints]
        if new:
            born = self._new_rows(kpts[new], det_valid[new], sc[new], t, None if emb is None else emb[new])
            ids[new] = born.f["ids"]
            tracks = tracks.append(born)
        self._tracks = tracks

        if len(extra):
            pose = np.concatenate([expected[extra], f["conf"][extra][..., None]], axis=2)
            pose[~f["seen"][extra], 2] = 0.0
            out_kpts = np.concatenate([out_kpts, pose])
            sc = np.concatenate([sc, f["score"][extra]])
            ids = np.concatenate([ids, f["ids"][extra]])
            filled = np.concatenate([filled, np.ones((len(extra), kpts.shape[1]), dtype=bool)])
        index = np.concatenate([np.arange(n), np.full(len(extra), -1)]).astype(np.int64)
        return TrackedPoses(timestamp=t, keypoints=out_kpts.reshape(-1, kpts.shape[1], 3), scores=sc,
                            track_ids=ids, detection_index=index, filled_joints=filled)

    def _new_rows(self, poses: np.ndarray, valid: np.ndarray, scores: np.ndarray, t: float,
                  emb: np.ndarray | None) -> _Tracks:
        """Tentative tracks (confirmed at once when ``min_hits`` is 1) for unmatched detections."""
        cfg = self.config
        m = poses.shape[0]
        sizes = pose_size(poses, cfg.min_confidence)
        kalman = [kalman_start(p[:, :2], v, s, measurement_std=cfg.measurement_std, velocity_std=cfg.velocity_std)
                  for p, v, s in zip(poses, valid, sizes, strict=True)]
        fields = {"ids": np.full(m, -1, dtype=np.int64), "time": np.full(m, t), "size": sizes.astype(float),
                  "score": scores.astype(float), "hits": np.ones(m, dtype=np.int64),
                  "misses": np.zeros(m, dtype=np.int64), "conf": poses[:, :, 2] * valid,
                  "pos": np.stack([s.position for s in kalman]), "vel": np.stack([s.velocity for s in kalman]),
                  "cov": np.stack([s.covariance for s in kalman]), "seen": valid.copy(),
                  "emb": np.zeros((m, 0)) if emb is None else emb.copy()}
        sm = one_euro_start(poses[:, :, :2], t, poses[:, :, 2], config=self.smoothing or OneEuroConfig())
        fields.update(sm_value=sm.value, sm_deriv=sm.derivative, sm_conf=sm.confidence, sm_gap=sm.gap,
                      sm_samples=sm.samples)
        born = _Tracks(fields)
        if cfg.min_hits <= 1:
            self._confirm(born, np.arange(m))
        return born

    def _update_rows(self, tracks: _Tracks, rows: np.ndarray, poses: np.ndarray, weights: np.ndarray,
                     scores: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Fold matched detections into their tracks' rows; returns the smoothed poses and filled joints."""
        cfg = self.config
        f = tracks.f
        previous = f["time"][rows]  # the last match: both filters were last updated then
        sizes = 0.7 * f["size"][rows] + 0.3 * pose_size(poses, cfg.min_confidence)  # steadier than one box
        measured = weights > 0
        if cfg.motion == "kalman":
            state = KalmanState(position=f["pos"][rows], velocity=f["vel"][rows], covariance=f["cov"][rows],
                                seen=f["seen"][rows])
            state = kalman_predict(state, t - previous, sizes, accel_std=cfg.accel_std)
            state = kalman_update(state, poses[:, :, :2], weights, sizes, measurement_std=cfg.measurement_std)
            f["pos"][rows], f["vel"][rows], f["cov"][rows] = state.position, state.velocity, state.covariance
        else:  # no motion model: a track is where it was last seen
            f["pos"][rows] = np.where(measured[..., None], poses[:, :, :2], f["pos"][rows])
        f["seen"][rows] |= measured
        f["size"][rows] = sizes
        f["time"][rows] = t
        f["score"][rows] = scores
        f["conf"][rows] = np.where(measured, poses[:, :, 2], f["conf"][rows])
        f["hits"][rows] += 1
        f["misses"][rows] = 0
        self._confirm(tracks, rows[(f["ids"][rows] < 0) & (f["hits"][rows] >= cfg.min_hits)])
        if self.smoothing is None:
            return None
        state = OneEuroState(value=f["sm_value"][rows], derivative=f["sm_deriv"][rows], confidence=f["sm_conf"][rows],
                             gap=f["sm_gap"][rows], samples=f["sm_samples"][rows], time=previous[:, None])
        new, xy, conf, filled = one_euro_step(state, poses[:, :, :2], t, poses[:, :, 2], config=self.smoothing,
                                              scale=sizes[:, None])
        f["sm_value"][rows], f["sm_deriv"][rows], f["sm_conf"][rows] = new.value, new.derivative, new.confidence
        f["sm_gap"][rows], f["sm_samples"][rows] = new.gap, new.samples
        return np.concatenate([xy, conf[..., None]], axis=-1), filled

    def _confirm(self, tracks: _Tracks, rows: np.ndarray) -> None:
        """Give ids, in row order, to tracks that just became confirmed."""
        tracks.f["ids"][rows] = np.arange(self._next_id, self._next_id + len(rows))
        self._next_id += len(rows)

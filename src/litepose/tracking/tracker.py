"""Online multi-person pose tracking: identities across video frames, optionally One-Euro smoothed.

:class:`Tracker` takes each frame's detected poses (``(N, K, 3)`` keypoints, as
:class:`~litepose.PoseResult` holds them) with the frame's timestamp and returns them with track ids:

1. **Predict** every track to the frame's time with its motion model: a constant-velocity Kalman
   filter per keypoint (:mod:`litepose.tracking.motion`), or ``motion="none"`` (the last position).
2. **Associate** by OKS between the predicted track poses and the detections, with a gated Hungarian
   assignment (:mod:`litepose.tracking.association`): confirmed tracks first, then tentative ones
   with the detections left, so a fresh (possibly spurious) track never takes a detection from an
   established one.
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

The associative-embedding tags are not used: LitePose's tags are trained to separate the people of
one image (pull/push losses within an image), so their values carry no identity across frames; the
measurement is in ``benchmarks/bench_tracking.py`` and the README.

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


@dataclass(eq=False)
class _Track:
    """One track's memory (mutable: the tracker owns it)."""

    kalman: KalmanState
    time: float          # timestamp of the Kalman state (the last match)
    size: float          # person size in pixels, smoothed
    score: float
    confidence: np.ndarray  # (K,) last detected joint confidences
    hits: int = 1
    misses: int = 0      # frames in a row without a match
    track_id: int = -1
    smooth: OneEuroState | None = None  # the One-Euro filter's memory, when smoothing
    embedding: np.ndarray | None = None  # running mean of the matched detections' embeddings

    def expected(self, time: float, motion: str) -> np.ndarray:
        """Where the joints should be at ``time``."""
        if motion == "none":
            return self.kalman.position
        return self.kalman.position + self.kalman.velocity * (time - self.time)


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
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._time: float | None = None

    def __repr__(self) -> str:
        return (f"Tracker(skeleton={self.skeleton.name!r}, tracks={len(self._tracks)}, "
                f"smoothing={self.smoothing is not None})")

    @property
    def active_ids(self) -> list[int]:
        """Ids of the confirmed tracks still alive."""
        return [t.track_id for t in self._tracks if t.track_id >= 0]

    def reset(self) -> None:
        """Forget every track (a new video); ids keep counting up, so none is ever reused."""
        self._tracks = []
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
            emb = np.asarray(embeddings, dtype=np.float64).reshape(len(kpts), -1)
        self._time = t
        det_valid = kpts[:, :, 2] >= cfg.min_confidence
        weights = np.where(det_valid, np.minimum(1.0, kpts[:, :, 2] / cfg.full_confidence), 0.0)

        # --- association: confirmed tracks first, then tentative ones with what is left
        det_track = np.full(len(kpts), -1, dtype=np.int64)  # index into self._tracks
        free = np.arange(len(kpts))
        if cfg.nms_threshold <= 1 and len(kpts) > 1:
            free = free[pose_nms(kpts, sc, det_valid, self._sigmas, cfg.nms_threshold)]
        for confirmed in (True, False):
            rows = [i for i, tr in enumerate(self._tracks) if (tr.track_id >= 0) == confirmed]
            if not rows or not len(free):
                continue
            expected = np.stack([self._tracks[i].expected(t, cfg.motion) for i in rows])
            valid = np.stack([self._tracks[i].kalman.seen for i in rows])
            oks = oks_matrix(expected, valid, kpts[free], det_valid[free], self._sigmas)
            sim = oks if emb is None else oks - cfg.embedding_weight * self._embedding_distance(rows, emb[free])
            pairs, _, _ = match(sim, cfg.oks_threshold, allowed=oks >= cfg.oks_threshold)
            det_track[free[pairs[:, 1]]] = np.asarray(rows, dtype=np.int64)[pairs[:, 0]]
            free = free[det_track[free] < 0]

        # --- updates of matched tracks (all at once), ageing of the others
        matched = set(det_track[det_track >= 0].tolist())
        out_kpts = kpts.copy()
        filled = np.zeros(kpts.shape[:2], dtype=bool)
        rows = np.flatnonzero(det_track >= 0)
        if len(rows):
            tracks = [self._tracks[j] for j in det_track[rows]]
            self._update_tracks(tracks, kpts[rows], weights[rows], sc[rows], t)
            if emb is not None:
                for tr, e in zip(tracks, emb[rows], strict=True):
                    tr.embedding = e if tr.embedding is None else 0.5 * (tr.embedding + e)
            if self.smoothing is not None:
                out_kpts[rows], filled[rows] = self._smooth(tracks, kpts[rows], t)
        survivors = []
        extra: list[tuple[_Track, np.ndarray]] = []
        for i, tr in enumerate(self._tracks):
            if i in matched:
                survivors.append(tr)
                continue
            tr.misses += 1
            if tr.track_id < 0 or t - tr.time > cfg.max_age:
                continue  # a tentative track that missed a frame, or a confirmed one too long unseen
            survivors.append(tr)
            if tr.misses <= cfg.fill_frames:
                pose = np.concatenate([tr.expected(t, cfg.motion), tr.confidence[:, None]], axis=1)
                pose[~tr.kalman.seen, 2] = 0.0
                extra.append((tr, pose))

        owner: list[_Track | None] = [self._tracks[j] if j >= 0 else None for j in det_track]
        # --- new tentative tracks (duplicates removed by the NMS are not in `free`)
        for d in free:
            if sc[d] >= cfg.min_score and det_valid[d].sum() >= cfg.min_joints:
                owner[d] = self._new_track(kpts[d], det_valid[d], sc[d], t)
                owner[d].embedding = None if emb is None else emb[d]
                survivors.append(owner[d])
        self._tracks = survivors

        ids = np.array([tr.track_id if tr is not None else -1 for tr in owner], dtype=np.int64)
        if extra:
            out_kpts = np.concatenate([out_kpts, np.stack([p for _, p in extra])])
            sc = np.concatenate([sc, [tr.score for tr, _ in extra]])
            ids = np.concatenate([ids, [tr.track_id for tr, _ in extra]])
            filled = np.concatenate([filled, np.ones((len(extra), kpts.shape[1]), dtype=bool)])
        index = np.concatenate([np.arange(len(kpts)), np.full(len(extra), -1)]).astype(np.int64)
        return TrackedPoses(timestamp=t, keypoints=out_kpts.reshape(-1, kpts.shape[1], 3), scores=sc,
                            track_ids=ids, detection_index=index, filled_joints=filled)

    def _embedding_distance(self, rows: list[int], emb: np.ndarray) -> np.ndarray:
        """``min(1, L2 distance)`` between the tracks' embeddings and the detections' (0 without one)."""
        out = np.zeros((len(rows), len(emb)))
        for r, i in enumerate(rows):
            if self._tracks[i].embedding is not None:
                out[r] = np.minimum(1.0, np.linalg.norm(emb - self._tracks[i].embedding, axis=1))
        return out

    def _new_track(self, pose: np.ndarray, valid: np.ndarray, score: float, t: float) -> _Track:
        cfg = self.config
        size = float(pose_size(pose, cfg.min_confidence))
        state = kalman_start(pose[:, :2], valid, size, measurement_std=cfg.measurement_std,
                             velocity_std=cfg.velocity_std)
        tr = _Track(kalman=state, time=t, size=size, score=float(score), confidence=pose[:, 2] * valid)
        if self.smoothing is not None:
            tr.smooth = one_euro_start(pose[:, :2], t, pose[:, 2], config=self.smoothing)
        if cfg.min_hits <= 1:
            self._confirm(tr)
        return tr

    def _update_tracks(self, tracks: list[_Track], poses: np.ndarray, weights: np.ndarray, scores: np.ndarray,
                       t: float) -> None:
        """Fold matched detections into their tracks, all tracks in one batch."""
        cfg = self.config
        sizes = 0.7 * np.array([tr.size for tr in tracks]) + 0.3 * pose_size(poses, cfg.min_confidence)
        position = np.stack([tr.kalman.position for tr in tracks])
        seen = np.stack([tr.kalman.seen for tr in tracks])
        measured = weights > 0
        if cfg.motion == "kalman":
            state = KalmanState(position=position, velocity=np.stack([tr.kalman.velocity for tr in tracks]),
                                covariance=np.stack([tr.kalman.covariance for tr in tracks]), seen=seen)
            dt = t - np.array([tr.time for tr in tracks])
            state = kalman_predict(state, dt, sizes, accel_std=cfg.accel_std)
            state = kalman_update(state, poses[:, :, :2], weights, sizes, measurement_std=cfg.measurement_std)
            position, velocity, covariance = state.position, state.velocity, state.covariance
        else:  # no motion model: a track is where it was last seen
            position = np.where(measured[..., None], poses[:, :, :2], position)
            velocity = covariance = None
        for i, tr in enumerate(tracks):
            tr.kalman = KalmanState(position=position[i], velocity=tr.kalman.velocity if velocity is None else
                                    velocity[i], covariance=tr.kalman.covariance if covariance is None else
                                    covariance[i], seen=seen[i] | measured[i])
            tr.size = float(sizes[i])
            tr.time = t
            tr.score = float(scores[i])
            tr.confidence = np.where(measured[i], poses[i, :, 2], tr.confidence)
            tr.hits += 1
            tr.misses = 0
            if tr.track_id < 0 and tr.hits >= cfg.min_hits:
                self._confirm(tr)

    def _smooth(self, tracks: list[_Track], poses: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """One-Euro step of every matched track in one batch; returns the smoothed poses and filled joints."""
        states = [tr.smooth for tr in tracks]
        batch = OneEuroState(value=np.stack([s.value for s in states]),  # type: ignore[union-attr]
                             derivative=np.stack([s.derivative for s in states]),  # type: ignore[union-attr]
                             confidence=np.stack([s.confidence for s in states]),  # type: ignore[union-attr]
                             gap=np.stack([s.gap for s in states]),  # type: ignore[union-attr]
                             samples=np.stack([s.samples for s in states]),  # type: ignore[union-attr]
                             time=np.array([[s.time] for s in states]))  # type: ignore[union-attr]
        sizes = np.array([tr.size for tr in tracks])[:, None]
        new, xy, conf, filled = one_euro_step(batch, poses[:, :, :2], t, poses[:, :, 2], config=self.smoothing,
                                              scale=sizes)
        for i, tr in enumerate(tracks):
            tr.smooth = OneEuroState(value=new.value[i], derivative=new.derivative[i], confidence=new.confidence[i],
                                     gap=new.gap[i], samples=new.samples[i], time=t)
        return np.concatenate([xy, conf[..., None]], axis=-1), filled

    def _confirm(self, tr: _Track) -> None:
        tr.track_id = self._next_id
        self._next_id += 1

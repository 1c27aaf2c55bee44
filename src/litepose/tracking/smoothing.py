"""One-Euro filtering of keypoints (Casiez, Roussel and Vogel, CHI 2012), in seconds, confidence-aware.

The 1€ filter is an exponential low-pass filter whose cutoff frequency rises with the speed of the
signal: still points are smoothed hard (little jitter), fast ones lightly (little lag). For one
sample ``x`` at time ``t`` (``dt`` seconds after the previous one)::

    alpha(fc, dt) = 1 / (1 + 1 / (2 pi fc dt))                 # smoothing_factor
    dx      = (x - x_hat_prev) / dt                            # speed, units per second
    dx_hat  = dx_hat_prev + alpha(d_cutoff, dt) (dx - dx_hat_prev)   # dx itself at the second sample
    cutoff  = min_cutoff + beta |dx_hat| / scale
    x_hat   = x_hat_prev + alpha(cutoff, dt) (x - x_hat_prev)

Units. Time is in **seconds** (frame timestamps, so variable frame rates are handled) and the cutoffs
are in **Hz**, as in the reference implementation (``OneEuroFilter(freq, mincutoff=1.0, beta=0.0,
dcutoff=1.0)``, with frequencies in Hz; MediaPipe's landmark smoothing also takes seconds and Hz).
Some pose toolkits count time in frames instead (mmpose's ``OneEuroFilter`` uses ``t_e = 1`` per frame,
with defaults ``min_cutoff=0.004, beta=0.7`` in those units), which ties the smoothing to the frame
rate; here the same settings behave the same at 10 or 60 fps. The speed ``|dx_hat|`` is the length
of a point's 2D velocity (the filter is isotropic) divided by ``scale``, the person's size in pixels
(see :func:`pose_size`), so ``beta`` is in Hz per (person size per second) and the filter treats a
near (big) and a far (small) person alike; with ``scale=1`` it is the per-pixel ``beta`` of the
reference. The derivative is taken from the previous *filtered* value (as in the paper's algorithm
and most implementations).

Defaults (:class:`OneEuroConfig`): ``min_cutoff=1.0`` Hz, ``beta=3.0`` per (size/s), ``d_cutoff=1.0``
Hz, ``full_confidence=0.3``, chosen on noisy synthetic walking tracks (``benchmarks/bench_tracking.py``:
jitter more than halved with a lower position error than the raw detections; lower cutoffs, a lower
``beta`` or a higher ``full_confidence`` smooth more but lag more). Lag: on a point moving steadily at
``v`` sizes/s the output trails by ``1 / (2 pi (min_cutoff + beta v))`` seconds (a first-order low-pass
filter's ramp lag, the same at any frame rate): 159 ms as a point starts to move, 64 ms at 0.5 size/s
(a calm walk), 40 ms at 1 size/s.

Confidence. A sample with confidence ``c`` moves the filter by ``w = min(1, c / full_confidence)`` of
its usual step (both filters): a low-confidence point moves less. Below ``min_confidence`` a point
counts as missing: for up to ``max_gap`` consecutive updates it is **filled** by extrapolating the
filtered position with the filtered velocity (and keeps its last confidence); after that it is
dropped from the filter, passed through unchanged, and starts afresh when it is seen again. A sample
more than ``reset_distance`` person sizes from the filtered point also starts afresh: a jump (a wrong
match, a decoder's wrong peak) is not smoothed into a slow glide.

Shapes: points ``(..., D)`` (``D = 2`` for ``x, y``), confidences ``(...)``; for a pose ``(K, 2)`` and
``(K,)``. Everything here is pure except the small stateful :class:`OneEuroFilter` wrapper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "OneEuroConfig",
    "OneEuroFilter",
    "OneEuroState",
    "lag_seconds",
    "one_euro_start",
    "one_euro_step",
    "pose_size",
    "smoothing_factor",
]


@dataclass(frozen=True)
class OneEuroConfig:
    """Settings of the One-Euro filter (see the module docstring for the units).

    Attributes:
        min_cutoff: cutoff frequency in Hz at zero speed; lower = smoother when still, more lag.
        beta: cutoff increase in Hz per (person size per second) of speed; higher = less lag when
            moving fast, more jitter.
        d_cutoff: cutoff frequency in Hz of the speed estimate.
        min_confidence: samples below this confidence are missing.
        full_confidence: samples at or above this confidence take a full step; below it the step
            shrinks in proportion.
        max_gap: missing samples (consecutive updates) filled by extrapolation before a point is dropped.
        reset_distance: a sample farther than this many person sizes from the filtered point
            restarts it (``inf``: never).
    """

    min_cutoff: float = 1.0
    beta: float = 3.0
    d_cutoff: float = 1.0
    min_confidence: float = 0.1
    full_confidence: float = 0.3
    max_gap: int = 3
    reset_distance: float = 0.3

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "d_cutoff", "full_confidence"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"OneEuroConfig.{name} must be a finite number > 0, got {value}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"OneEuroConfig.beta must be a finite number >= 0, got {self.beta}")
        if not (math.isfinite(self.min_confidence) and 0 <= self.min_confidence <= self.full_confidence):
            raise ValueError(f"OneEuroConfig.min_confidence must be in [0, full_confidence], got "
                             f"{self.min_confidence}")
        if isinstance(self.max_gap, bool) or int(self.max_gap) != self.max_gap or self.max_gap < 0:
            raise ValueError(f"OneEuroConfig.max_gap must be an integer >= 0, got {self.max_gap}")
        if not self.reset_distance > 0:  # inf allowed: never restart
            raise ValueError(f"OneEuroConfig.reset_distance must be > 0, got {self.reset_distance}")


@dataclass(frozen=True)
class OneEuroState:
    """The filter's memory after an update.

    Attributes:
        value: filtered positions. Shapes: ``(..., D)``.
        derivative: filtered velocities, units per second. Shapes: ``(..., D)``.
        confidence: the last usable confidence of each point. Shapes: ``(...)``.
        gap: missing updates in a row of each point; ``-1`` for a point the filter does not hold
            (never seen, or dropped after a gap longer than ``max_gap``). Shapes: ``(...)`` int.
        samples: usable samples of each point since the filter took it up. Shapes: ``(...)`` int.
        time: timestamp of the last update, seconds: a float, or an array broadcastable to the
            points' leading shape (e.g. ``(T, 1)`` for the ``(T, K)`` joints of ``T`` people updated
            together, each last seen at its own time).
    """

    value: np.ndarray
    derivative: np.ndarray
    confidence: np.ndarray
    gap: np.ndarray
    samples: np.ndarray
    time: float | np.ndarray


def smoothing_factor(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
    """``alpha = 1 / (1 + tau / dt)`` with ``tau = 1 / (2 pi cutoff)``: the weight of a new sample.

    Args:
        cutoff: cutoff frequency in Hz (> 0).
        dt: seconds since the previous sample (> 0).
    """
    r = 2.0 * math.pi * np.asarray(cutoff, dtype=np.float64) * dt
    out = r / (r + 1.0)
    return float(out) if np.ndim(out) == 0 else out


def lag_seconds(config: OneEuroConfig, speed: float) -> float:
    """Steady-state lag, seconds, of a point moving at ``speed`` person sizes per second."""
    return 1.0 / (2.0 * math.pi * (config.min_cutoff + config.beta * abs(speed)))


def pose_size(keypoints: np.ndarray, min_confidence: float = 0.1) -> float | np.ndarray:
    """A person's size in pixels: the longer side of the box around its confident joints (>= 1).

    Shapes: keypoints ``(K, 3)`` ``(x, y, confidence)`` -> a float, or ``(N, K, 3)`` -> ``(N,)``.
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    ok = kpts[..., 2] >= min_confidence
    lo = np.where(ok[..., None], kpts[..., :2], np.inf).min(axis=-2)
    hi = np.where(ok[..., None], kpts[..., :2], -np.inf).max(axis=-2)
    size = np.where(ok.sum(axis=-1) >= 2, (hi - lo).max(axis=-1), 1.0)
    size = np.maximum(size, 1.0)
    return float(size) if size.ndim == 0 else size


def _as_inputs(points: np.ndarray, confidence: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(points, dtype=np.float64)
    if x.ndim < 1:
        raise ValueError(f"points must have a coordinate axis (..., D), got shape {x.shape}")
    c = np.ones(x.shape[:-1]) if confidence is None else np.asarray(confidence, dtype=np.float64)
    if c.shape != x.shape[:-1]:
        raise ValueError(f"confidence shape {c.shape} does not match points {x.shape} (expected {x.shape[:-1]})")
    return x, c


def one_euro_start(points: np.ndarray, time: float, confidence: np.ndarray | None = None, *,
                   config: OneEuroConfig | None = None) -> OneEuroState:
    """The state after a first sample: usable points are taken as they are, with zero velocity.

    Shapes: points ``(..., D)``, confidence ``(...)`` (default: all 1).
    """
    cfg = config or OneEuroConfig()
    x, c = _as_inputs(points, confidence)
    usable = c >= cfg.min_confidence
    return OneEuroState(value=x.copy(), derivative=np.zeros_like(x), confidence=np.where(usable, c, 0.0),
                        gap=np.where(usable, 0, -1), samples=usable.astype(np.int64), time=float(time))


def one_euro_step(state: OneEuroState, points: np.ndarray, time: float, confidence: np.ndarray | None = None,
                  *, config: OneEuroConfig | None = None,
                  scale: float | np.ndarray) -> tuple[OneEuroState, np.ndarray, np.ndarray, np.ndarray]:
    """Filter one new sample (pure: ``state`` is not changed).

    Args:
        state: the state after the previous sample (:func:`one_euro_start` for the first).
        points: the new raw positions. Shapes: ``(..., D)`` as ``state.value``.
        time: timestamp in seconds, later than ``state.time``.
        confidence: per-point confidence (default: all 1). Shapes: ``(...)``.
        config: filter settings (default :class:`OneEuroConfig`).
        scale: the person's size in pixels (:func:`pose_size`): speeds are divided by it before
            ``beta`` applies, and jumps are measured in it; a float, or an array broadcastable to
            ``(...)`` (one size per person of a batch). ``1`` makes both per pixel.

    Returns:
        ``(new_state, smoothed, confidence_out, filled)``: the smoothed positions ``(..., D)`` (raw
        ones for points the filter does not hold), their confidences ``(...)`` (the last usable one
        for filled points) and which points were filled by extrapolation ``(...)`` bool.

    Raises:
        ValueError: ``time`` is not later than ``state.time``, or the shapes differ.
    """
    cfg = config or OneEuroConfig()
    x, c = _as_inputs(points, confidence)
    if x.shape != state.value.shape:
        raise ValueError(f"points shape {x.shape} differs from the filter's {state.value.shape}")
    dt = float(time) - np.asarray(state.time, dtype=np.float64)
    if not (dt > 0).all():
        raise ValueError(f"timestamps must increase: {time} after {state.time}")
    size = np.asarray(scale, dtype=np.float64)
    if not (np.isfinite(size) & (size > 0)).all():
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    dt_x = dt[..., None] if dt.ndim else dt  # per point -> per coordinate
    size_x = size[..., None] if size.ndim else size

    usable = c >= cfg.min_confidence
    held = state.gap >= 0
    # a point that jumps farther than reset_distance person sizes is a new point (another person's joint
    # after a wrong match, a decoder's wrong peak): smoothing across the jump would only smear it (measured
    # on a trained model's tracked predictions: MOTA 0.21 without the restart, 0.37 with it, 0.42 unsmoothed)
    step = np.sqrt(((x - state.value) ** 2).sum(axis=-1))
    held &= step <= cfg.reset_distance * np.broadcast_to(size, step.shape)
    update = usable & held
    start = usable & ~held
    missing = ~usable & held

    w = (np.minimum(1.0, c / cfg.full_confidence) * update)[..., None]
    speed_raw = (x - state.value) / dt_x
    derivative = state.derivative + (smoothing_factor(cfg.d_cutoff, dt_x) * w) * (speed_raw - state.derivative)
    # the second sample of a point has no speed history to smooth: take its speed as it is (starting
    # from zero would make every track that begins in motion lag behind for its first frames)
    second = update & (state.samples == 1)
    derivative[second] = speed_raw[second]
    speed = np.sqrt((derivative * derivative).sum(axis=-1, keepdims=True)) / size_x
    value = state.value + (smoothing_factor(cfg.min_cutoff + cfg.beta * speed, dt_x) * w) * (x - state.value)

    gap = np.where(update | start, 0, np.where(missing, state.gap + 1, -1))
    fill = missing & (gap <= cfg.max_gap)
    gap[missing & ~fill] = -1
    value = np.where(fill[..., None], state.value + state.derivative * dt_x, value)
    value[start] = x[start]
    derivative[start] = 0.0

    samples = np.where(start, 1, np.where(update, state.samples + 1, np.where(gap >= 0, state.samples, 0)))
    new_state = OneEuroState(value=value, derivative=derivative, confidence=np.where(usable, c, state.confidence),
                             gap=gap, samples=samples, time=float(time))
    out = np.where((gap >= 0)[..., None], value, x)
    conf_out = np.where(fill, state.confidence, c)
    return new_state, out, conf_out, fill


class OneEuroFilter:
    """A stateful One-Euro filter over an array of points (e.g. one person's keypoints).

    Example::

        f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=3.0))
        for t, kpts in frames:                 # kpts (K, 3): x, y, confidence; t in seconds
            xy, conf, filled = f(kpts[:, :2], t, kpts[:, 2], scale=pose_size(kpts))
    """

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.config = config or OneEuroConfig()
        self.state: OneEuroState | None = None

    def __call__(self, points: np.ndarray, time: float, confidence: np.ndarray | None = None, *,
                 scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Filter one sample; returns ``(smoothed, confidence, filled)`` as :func:`one_euro_step`."""
        if self.state is None:
            self.state = one_euro_start(points, time, confidence, config=self.config)
            x, c = _as_inputs(points, confidence)
            return x.copy(), c.copy(), np.zeros(c.shape, dtype=bool)
        self.state, out, conf, filled = one_euro_step(self.state, points, time, confidence, config=self.config,
                                                      scale=scale)
        return out, conf, filled

    def predict(self, time: float) -> np.ndarray | None:
        """Where the held points would be at ``time`` (last filtered value plus velocity), or ``None``."""
        if self.state is None:
            return None
        return self.state.value + self.state.derivative * (float(time) - self.state.time)

    def reset(self) -> None:
        self.state = None

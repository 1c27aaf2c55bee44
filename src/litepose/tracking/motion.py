"""Constant-velocity Kalman filtering of a person's keypoints: where a track should be in the next frame.

Each keypoint coordinate has the state ``(position, velocity)`` and the white-noise-acceleration
model (Bar-Shalom's continuous constant-velocity model): over ``dt`` seconds ::

    F = [[1, dt], [0, 1]]        Q = q [[dt^3 / 3, dt^2 / 2], [dt^2 / 2, dt]]

with ``q = (accel_std * size)^2`` (pixels^2 / s^3): the acceleration noise scales with the person's
size, so near and far people are predicted alike. A measurement is the keypoint's position with noise
``r = (measurement_std * size)^2 / w``, ``w`` the confidence over ``full_confidence`` (at most 1):
uncertain joints pull the state less. ``x`` and ``y`` share the same model, so one 2x2 covariance per
keypoint serves both (stored as its three distinct entries).

The filter is only the tracker's predictor (for association); the smoothing of what users see is the
One-Euro filter's job (:mod:`litepose.tracking.smoothing`).

Shapes: ``K`` keypoints; positions and velocities ``(K, 2)``, covariances ``(K, 3)`` as
``(p_pos, p_pos_vel, p_vel)``. Every function also takes a batch of ``T`` people at once: ``(T, K, 2)``,
``(T, K, 3)`` and so on, with ``dt`` and ``size`` as floats or ``(T,)`` arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KalmanState", "kalman_predict", "kalman_start", "kalman_update"]


@dataclass(frozen=True)
class KalmanState:
    """Constant-velocity state of every keypoint of one person.

    Attributes:
        position: ``(K, 2)`` pixels.
        velocity: ``(K, 2)`` pixels per second.
        covariance: ``(K, 3)`` ``(var position, cov position-velocity, var velocity)``, per coordinate.
        seen: ``(K,)`` bool: the keypoint was measured at least once.
    """

    position: np.ndarray
    velocity: np.ndarray
    covariance: np.ndarray
    seen: np.ndarray


def kalman_start(points: np.ndarray, observed: np.ndarray, size: float, *, measurement_std: float,
                 velocity_std: float) -> KalmanState:
    """A state from a first measurement: observed keypoints at their place, all at rest (one person).

    Args:
        points: ``(K, 2)`` positions.
        observed: ``(K,)`` which positions are measurements.
        size: person size in pixels.
        measurement_std: position noise, in person sizes.
        velocity_std: prior velocity spread, in person sizes per second.
    """
    pos = np.asarray(points, dtype=np.float64).copy()
    k = pos.shape[0]
    cov = np.empty((k, 3))
    cov[:, 0] = (measurement_std * size) ** 2
    cov[:, 1] = 0.0
    cov[:, 2] = (velocity_std * size) ** 2
    return KalmanState(position=pos, velocity=np.zeros_like(pos), covariance=cov,
                       seen=np.asarray(observed, dtype=bool).copy())


def _per_person(value: float | np.ndarray) -> np.ndarray:
    """A float, or one value per person of a batch, broadcastable against ``(..., K)``."""
    v = np.asarray(value, dtype=np.float64)
    return v[..., None] if v.ndim else v


def kalman_predict(state: KalmanState, dt: float | np.ndarray, size: float | np.ndarray, *,
                   accel_std: float) -> KalmanState:
    """The state ``dt`` seconds later (pure)."""
    dt_k = _per_person(dt)
    q = (accel_std * _per_person(size)) ** 2
    cov = state.covariance
    p00, p01, p11 = cov[..., 0], cov[..., 1], cov[..., 2]
    out = np.empty_like(cov)
    out[..., 0] = p00 + 2 * dt_k * p01 + dt_k * dt_k * p11 + q * dt_k ** 3 / 3
    out[..., 1] = p01 + dt_k * p11 + q * dt_k * dt_k / 2
    out[..., 2] = p11 + q * dt_k
    return KalmanState(position=state.position + state.velocity * dt_k[..., None], velocity=state.velocity,
                       covariance=out, seen=state.seen)


def kalman_update(state: KalmanState, points: np.ndarray, weight: np.ndarray, size: float | np.ndarray, *,
                  measurement_std: float) -> KalmanState:
    """Fold in a measurement (pure).

    Args:
        state: the predicted state for the measurement's time.
        points: ``(K, 2)`` measured positions.
        weight: ``(K,)`` in [0, 1]: 0 = not measured, 1 = full confidence; the measurement noise
            variance is divided by it.
        size: person size in pixels.
        measurement_std: position noise at full confidence, in person sizes.
    """
    z = np.asarray(points, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    observed = w > 0
    first = observed & ~state.seen  # a joint seen for the first time starts at its measurement
    r = (measurement_std * _per_person(size)) ** 2 / np.maximum(w, 1e-6)
    cov = state.covariance
    p00, p01, p11 = cov[..., 0], cov[..., 1], cov[..., 2]
    s = p00 + r
    k0 = np.where(observed, p00 / s, 0.0)
    k1 = np.where(observed, p01 / s, 0.0)
    innovation = z - state.position
    position = state.position + k0[..., None] * innovation
    velocity = state.velocity + k1[..., None] * innovation
    out = np.empty_like(cov)
    out[..., 0] = (1 - k0) * p00
    out[..., 1] = (1 - k0) * p01
    out[..., 2] = p11 - k1 * p01
    if first.any():
        position[first] = z[first]
        # borrow the mean velocity of the person's joints already tracked: a new joint moves with its person
        known = (state.seen & observed)[..., None]
        mean_velocity = (state.velocity * known).sum(axis=-2, keepdims=True) / np.maximum(known.sum(axis=-2,
                                                                                                  keepdims=True), 1)
        velocity = np.where(first[..., None], mean_velocity, velocity)
        out[..., 0] = np.where(first, r, out[..., 0])
    return KalmanState(position=position, velocity=velocity, covariance=out, seen=state.seen | observed)

"""Synthetic heatmaps and tag maps of a crowd, shaped like a network's projected output.

What decoding costs depends on the maps: their size, the number of people and how crowded their tags
are. :func:`synthetic_crowd_maps` draws deterministic maps of ``N`` people so that decode time can be
measured without a trained model or a dataset (``measure_decode_ms``, the latency table, the decode
benchmark) and so that the decoder's tests have realistic crowds to check parity on. NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["synthetic_crowd_maps"]

# A standing person facing the camera in a unit box: (x offset from the centre, y from the top).
_COCO_TEMPLATE = np.array([
    (0.00, 0.06), (0.03, 0.04), (-0.03, 0.04), (0.06, 0.06), (-0.06, 0.06),
    (0.15, 0.20), (-0.15, 0.20), (0.20, 0.37), (-0.20, 0.37), (0.22, 0.52), (-0.22, 0.52),
    (0.10, 0.53), (-0.10, 0.53), (0.11, 0.75), (-0.11, 0.75), (0.12, 0.97), (-0.12, 0.97),
])
_CROWDPOSE_TEMPLATE = np.array([
    (0.15, 0.20), (-0.15, 0.20), (0.20, 0.37), (-0.20, 0.37), (0.22, 0.52), (-0.22, 0.52),
    (0.10, 0.53), (-0.10, 0.53), (0.11, 0.75), (-0.11, 0.75), (0.12, 0.97), (-0.12, 0.97),
    (0.00, 0.03), (0.00, 0.14),
])


def synthetic_crowd_maps(
    num_people: int,
    height: int = 512,
    width: int = 512,
    *,
    num_joints: int = 17,
    tag_dim: int = 2,
    seed: int = 0,
    tag_spacing: float = 1.5,
    visible_prob: float = 0.85,
    spurious: int | None = None,
    noise: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic heatmaps and tag maps of a crowd, shaped like a network's projected output.

    Each person is a jittered standing pose of random size and place; a visible joint is a Gaussian
    peak of random height (0.3 to 1) at a sub-pixel position; its tag is the person's tag plus noise.
    People's tags are a shuffled arithmetic sequence with step ``tag_spacing`` (small steps make
    crowded tag space, with ties and near-threshold distances). Weak single-joint blobs with random
    tags act as false detections; the background has small heatmap noise and a smooth tag field.

    Args:
        num_people: people to draw.
        height: map height.
        width: map width.
        num_joints: 17 and 14 use COCO / CrowdPose-like templates; other counts place joints at random.
        tag_dim: ``L``, tag channels per joint (2 mimics flip test).
        seed: random seed; the same arguments always give the same maps.
        tag_spacing: distance between consecutive people's tags.
        visible_prob: chance that a joint inside the map is drawn.
        spurious: number of false single-joint blobs (default ``num_people // 3``).
        noise: standard deviation of the heatmap background noise.

    Returns:
        ``(heatmaps [J, H, W] float32, tags [J, H, W, L] float32, truth [P, J, 3])`` where ``truth``
        holds each person's ``(x, y, visible)`` in map pixels.
    """
    rng = np.random.default_rng(seed)
    if num_joints == 17:
        template = _COCO_TEMPLATE
    elif num_joints == 14:
        template = _CROWDPOSE_TEMPLATE
    else:
        template = np.stack([rng.uniform(-0.25, 0.25, num_joints), rng.uniform(0.0, 1.0, num_joints)], axis=1)
    heat = (rng.standard_normal((num_joints, height, width)) * noise).astype(np.float32)
    # Smooth background tags: a coarse random grid, repeated up to the map size.
    cells = max(2, min(height, width) // 32)
    coarse = rng.uniform(-1.0, 1.0, (num_joints, cells + 1, cells + 1, tag_dim))
    ys = np.minimum((np.arange(height) * cells) // height, cells)
    xs = np.minimum((np.arange(width) * cells) // width, cells)
    tag = coarse[:, ys][:, :, xs].astype(np.float32)
    tag += (rng.standard_normal(tag.shape) * 0.02).astype(np.float32)
    owner = np.zeros((num_joints, height, width), dtype=np.float32)  # strongest Gaussian so far

    person_tags = (np.arange(num_people) - (num_people - 1) / 2.0) * tag_spacing
    person_tags = rng.permutation(person_tags) + rng.normal(0.0, 0.1 * tag_spacing, num_people)
    truth = np.zeros((num_people, num_joints, 3))
    scale_ref = min(height, width)

    def stamp(j: int, x: float, y: float, amp: float, sigma: float, tag_value: np.ndarray) -> None:
        radius = int(np.ceil(3 * sigma))
        x0, x1 = max(int(x) - radius, 0), min(int(x) + radius + 1, width)
        y0, y1 = max(int(y) - radius, 0), min(int(y) + radius + 1, height)
        if x0 >= x1 or y0 >= y1:
            return
        gx = np.arange(x0, x1) - x
        gy = np.arange(y0, y1) - y
        g = (amp * np.exp(-(gy[:, None] ** 2 + gx[None, :] ** 2) / (2 * sigma**2))).astype(np.float32)
        region = heat[j, y0:y1, x0:x1]
        np.maximum(region, g, out=region)
        wins = g > owner[j, y0:y1, x0:x1]
        owner[j, y0:y1, x0:x1] = np.where(wins, g, owner[j, y0:y1, x0:x1])
        own = wins & (g > 0.02)
        jitter = rng.normal(0.0, 0.03, (y1 - y0, x1 - x0, tag_dim))
        values = (tag_value[None, None, :] + jitter).astype(np.float32)
        tag[j, y0:y1, x0:x1] = np.where(own[..., None], values, tag[j, y0:y1, x0:x1])

    for p in range(num_people):
        size = rng.uniform(0.15, 0.6) * scale_ref
        cx = rng.uniform(0.05, 0.95) * width
        top = rng.uniform(-0.1, 0.9) * height - 0.2 * size
        sigma = 1.5 + size / 150.0
        base = np.array([person_tags[p]] * tag_dim) + rng.normal(0.0, 0.05, tag_dim)
        for j in range(num_joints):
            x = cx + (template[j, 0] + rng.normal(0.0, 0.03)) * size
            y = top + (template[j, 1] + rng.normal(0.0, 0.03)) * size
            inside = 0 <= x < width - 1 and 0 <= y < height - 1
            visible = inside and rng.random() < visible_prob
            truth[p, j] = (x, y, float(visible))
            if visible:
                stamp(j, x, y, rng.uniform(0.3, 1.0), sigma, base)
    for _ in range(num_people // 3 if spurious is None else spurious):
        j = int(rng.integers(num_joints))
        stamp(j, rng.uniform(0, width - 1), rng.uniform(0, height - 1), rng.uniform(0.1, 0.3), 2.0,
              rng.uniform(person_tags.min() - 1, person_tags.max() + 1, tag_dim))
    return np.ascontiguousarray(heat), np.ascontiguousarray(tag), truth

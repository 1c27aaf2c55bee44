"""Shared helper of the inference tests: maps that a perfect network would output for known people."""

from __future__ import annotations

import numpy as np


def render_people_maps(pts: np.ndarray, h: int, w: int, stride: int, num_joints: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian peaks at each person's truncated output cell and a constant tag (3·n) per person.

    Shapes:
        pts ``(N, J, 2)`` in input pixels -> heatmaps ``(J, h/stride, w/stride)``, tags the same.
    """
    mh, mw = h // stride, w // stride
    ys, xs = np.mgrid[0:mh, 0:mw]
    hm = np.zeros((num_joints, mh, mw), np.float32)
    tag = np.zeros((num_joints, mh, mw), np.float32)
    for j in range(num_joints):
        nearest = np.full((mh, mw), np.inf)
        for n, person in enumerate(pts):
            cx, cy = np.floor(person[j] / stride)
            d2 = (xs - cx) ** 2 + (ys - cy) ** 2
            hm[j] = np.maximum(hm[j], np.exp(-d2 / 8.0))
            closer = d2 < nearest
            nearest[closer] = d2[closer]
            tag[j][closer] = 3.0 * n
    return hm, tag

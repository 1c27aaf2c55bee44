"""Drawing skeletons on images (pure: the input image is never modified)."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from litepose.skeleton import Skeleton

__all__ = ["draw_poses", "limb_colors", "track_color"]


def limb_colors(num_limbs: int) -> list[tuple[int, int, int]]:
    """One saturated RGB colour per limb, spread evenly around the hue circle (deterministic)."""
    out = []
    for i in range(max(num_limbs, 1)):
        r, g, b = colorsys.hsv_to_rgb(i / max(num_limbs, 1), 0.85, 1.0)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


def track_color(track_id: int) -> tuple[int, int, int]:
    """A saturated RGB colour for a track id, the same in every frame and run; nearby ids differ.

    Hues step by the golden ratio of the circle (ids 1, 2, 3... land far apart); ``-1`` (untracked)
    is grey.
    """
    if track_id < 0:
        return (160, 160, 160)
    hue = (track_id * 0.6180339887498949) % 1.0
    value = 1.0 if track_id % 2 else 0.8  # neighbours on the hue circle also differ in brightness
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, value)
    return round(r * 255), round(g * 255), round(b * 255)


def draw_poses(image: np.ndarray, keypoints: np.ndarray, skeleton: Skeleton,
               scores: Sequence[float] | np.ndarray | None = None, *, threshold: float = 0.1,
               bgr: bool = False, thickness: int | None = None, radius: int | None = None,
               colors: Sequence[tuple[int, int, int]] | None = None,
               labels: Sequence[str] | None = None) -> np.ndarray:
    """Draw people as coloured limbs (anti-aliased lines) and joint circles on a copy of ``image``.

    Args:
        image: ``(H, W, 3)`` uint8 image (RGB, or BGR with ``bgr=True``; only the palette order
            depends on it). Grayscale / RGBA inputs are converted to 3 channels first.
        keypoints: ``(x, y, confidence)`` per joint, in ``image`` pixels.
        skeleton: gives the limbs; ``keypoints`` must have ``skeleton.num_keypoints`` joints.
        scores: optional person scores, written next to each person.
        threshold: joints with confidence below it are not drawn, nor are limbs touching them.
        bgr: the image is BGR (as for ``cv2.imwrite``); the palette is flipped to match.
        thickness, radius: line width and joint radius; default scales with the image size.
        colors: one RGB colour per person (e.g. :func:`track_color` of its track id): all its limbs
            and joints in it, instead of one colour per limb.
        labels: one text per person (e.g. ``"#3"``), written next to it instead of the score.

    Returns:
        A new ``(H, W, 3)`` uint8 image in the same channel order as the input.

    Shapes:
        keypoints ``(N, J, 3)``; scores ``(N,)``.
    """
    from litepose.inference.preprocess import to_rgb_uint8

    canvas = to_rgb_uint8(image).copy()  # always a fresh array: drawing is pure
    kpts = np.asarray(keypoints, dtype=np.float64)
    if kpts.size == 0:
        return canvas
    if kpts.ndim != 3 or kpts.shape[2] < 3:
        raise ValueError(f"keypoints must have shape (N, J, 3), got {kpts.shape}")
    if kpts.shape[1] != skeleton.num_keypoints:
        raise ValueError(f"keypoints have {kpts.shape[1]} joints but skeleton {skeleton.name!r} has "
                         f"{skeleton.num_keypoints}")
    h, w = canvas.shape[:2]
    base = max(1, round(max(h, w) / 320))
    thick = thickness if thickness is not None else base + 1
    rad = radius if radius is not None else base + 2
    palette = limb_colors(len(skeleton.limbs))
    if bgr:
        palette = [(b, g, r) for r, g, b in palette]
    joint_color = (255, 255, 255)
    if colors is not None and len(colors) != len(kpts):
        raise ValueError(f"{len(colors)} colours for {len(kpts)} people")
    if labels is not None and len(labels) != len(kpts):
        raise ValueError(f"{len(labels)} labels for {len(kpts)} people")
    # Sub-pixel drawing: cv2 takes integer coordinates with `shift` fractional bits.
    shift = 4
    mult = float(1 << shift)

    # Far-off points (a wild decode) would overflow cv2's int32 fixed-point coordinates: clamp them
    # well outside the canvas, where cv2 clips the line itself.
    limit = 8.0 * max(h, w)

    def pt(x: float, y: float) -> tuple[int, int]:
        return round(min(max(x, -limit), limit) * mult), round(min(max(y, -limit), limit) * mult)

    for n, person in enumerate(kpts):
        finite = np.isfinite(person[:, :2]).all(axis=1)
        visible = finite & (person[:, 2] >= threshold)
        own = None
        if colors is not None:
            own = tuple(int(c) for c in colors[n])
            own = own[::-1] if bgr else own
        for li, (a, b) in enumerate(skeleton.limbs):
            if visible[a] and visible[b]:
                cv2.line(canvas, pt(*person[a, :2]), pt(*person[b, :2]), own or palette[li], thick, cv2.LINE_AA,
                         shift)
        for j in np.flatnonzero(visible):
            center = pt(*person[j, :2])
            cv2.circle(canvas, center, round(rad * mult), own or joint_color, -1, cv2.LINE_AA, shift)
            cv2.circle(canvas, center, round(rad * mult), (0, 0, 0), 1, cv2.LINE_AA, shift)
        if (scores is not None or labels is not None) and visible.any():
            x0 = float(person[visible, 0].min())
            y0 = float(person[visible, 1].min())
            label = labels[n] if labels is not None else f"{float(scores[n]):.2f}"  # type: ignore[index]
            font_scale = 0.4 * base
            org = (int(np.clip(x0, 0, w - 1)), int(np.clip(y0 - 4, 10, h - 1)))
            cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), base + 2, cv2.LINE_AA)
            cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), base,
                        cv2.LINE_AA)
    return canvas

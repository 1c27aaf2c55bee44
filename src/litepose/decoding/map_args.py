"""The arguments of outputs -> maps, checked once for both implementations (PyTorch and NumPy).

:mod:`litepose.decoding.maps` (tensors) and :mod:`litepose.decoding.maps_numpy` (arrays, torch-free)
take the same arguments and must refuse the same bad ones with the same messages; the checks, the
padded-input extent, the multi-scale ordering and the bilinear source taps live here, in NumPy only, so
the torch-free path can import them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = ["check_flip_size", "check_pass_channels", "flip_permutation", "linear_taps", "padded_extent",
           "sorted_scales", "tags_scale_missing", "two_outputs"]

T = TypeVar("T")


def linear_taps(n_out: int, extent: float, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights (float64) of a bilinear (``align_corners=False``) resize of ``extent``
    map pixels onto ``n_out`` pixels: the rule of ``F.interpolate`` (source ``(i + 0.5)·extent/n_out −
    0.5``, clamped at 0, right neighbour clamped at ``n_in − 1``), with ``extent`` allowed to be
    fractional and smaller than the map (the padded-input projection)."""
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (extent / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def two_outputs(outputs: Any, name: str, convert: Callable[[Any], T]) -> tuple[T, T]:
    """The model's ``(stride4, stride2)`` outputs, each passed through ``convert`` and checked to be 4-D."""
    try:
        stride4, stride2 = outputs
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected the model's two outputs (stride4, stride2), got {type(outputs).__name__}") \
            from None
    pair = (convert(stride4), convert(stride2))
    for label, a in zip(("stride4", "stride2"), pair, strict=True):
        if a.ndim != 4:  # type: ignore[attr-defined]
            raise ValueError(f"{name}.{label}: expected shape [B, C, H, W], got {list(a.shape)}")  # type: ignore[attr-defined]
    return pair


def check_pass_channels(name: str, stride4_shape: Sequence[int], stride2_shape: Sequence[int], num_joints: int, *,
                        batch: bool = True) -> None:
    """``2J`` stride-4 and at least ``J`` stride-2 channels (and, with ``batch``, equal batch sizes)."""
    if stride4_shape[1] != 2 * num_joints or stride2_shape[1] < num_joints:
        detail = f" for {num_joints} joints, got {stride4_shape[1]} and {stride2_shape[1]}" if batch else ""
        raise ValueError(f"{name}: expected {2 * num_joints} stride-4 and {num_joints} stride-2 channels{detail}")
    if batch and stride4_shape[0] != stride2_shape[0]:
        raise ValueError(f"{name}: batch sizes differ ({stride4_shape[0]} vs {stride2_shape[0]})")


def flip_permutation(flip_index: Sequence[int] | None, num_joints: int) -> list[int]:
    """``flip_index`` as a list, checked to be a permutation of the ``num_joints`` joints."""
    if flip_index is None:
        raise ValueError("flip_index: required when flip_outputs are given")
    index = [int(i) for i in flip_index]
    if sorted(index) != list(range(num_joints)):
        raise ValueError(f"flip_index: must be a permutation of 0..{num_joints - 1}, got {index}")
    return index


def check_flip_size(flip_shape: Sequence[int], shape: Sequence[int]) -> None:
    """The flipped pass's maps have the size of the plain pass's."""
    if tuple(flip_shape) != tuple(shape):
        raise ValueError(f"flip_outputs: map size {list(flip_shape)} differs from outputs {list(shape)}")


def padded_extent(valid_size: tuple[int, int] | None, map_hw: Sequence[int],
                  project_to: tuple[int, int] | None) -> tuple[float, float] | None:
    """The stride-2 map pixels ``(h, w)`` that cover the image when the network input ``2·map_hw`` was
    padded on the right/bottom to hold ``valid_size`` image pixels; None when nothing was padded."""
    if valid_size is None:
        return None
    full = (2 * int(map_hw[0]), 2 * int(map_hw[1]))  # the network input size
    valid = (int(valid_size[0]), int(valid_size[1]))
    if not (0 < valid[0] <= full[0] and 0 < valid[1] <= full[1]):
        raise ValueError(f"valid_size: {list(valid)} must be positive and within the input size {list(full)}")
    if valid == full:
        return None
    if project_to is None:
        raise ValueError("valid_size: cropping a padded input needs project_to (the maps' target size)")
    return valid[0] / 2.0, valid[1] / 2.0


def sorted_scales(per_scale: Sequence[tuple[Any, ...]], convert: Callable[[Any], T]) -> list[tuple[float, T, T]]:
    """``(scale, heatmaps, tags)`` per test scale (entries ``(scale, heatmaps, tags)`` or ``(scale,
    (heatmaps, tags))``, maps passed through ``convert``), largest scale first; equal scales keep their
    order (the official aggregation's order of summation)."""
    if not per_scale:
        raise ValueError("per_scale: no scales given")
    flat_items = []
    for item in per_scale:
        if len(item) == 2:  # (scale, (heatmaps, tags)), as outputs_to_maps returns the pair
            scale, (heatmaps, tags) = item
        elif len(item) == 3:
            scale, heatmaps, tags = item
        else:
            raise ValueError("per_scale: each entry must be (scale, heatmaps, tags) or (scale, (heatmaps, tags))")
        flat_items.append((float(scale), convert(heatmaps), convert(tags)))
    return sorted(flat_items, key=lambda item: -item[0])


def tags_scale_missing(scales: Sequence[float]) -> ValueError:
    """The error of a multi-scale run without scale 1.0, whose tags the grouping uses."""
    return ValueError(f"per_scale: tags are taken from scale 1.0, which is missing from {list(scales)}")

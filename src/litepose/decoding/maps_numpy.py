"""Network outputs -> heatmaps and tag maps in NumPy/OpenCV: the torch-free twin of :mod:`litepose.decoding.maps`.

The same steps, arguments and results as :func:`litepose.decoding.maps.outputs_to_maps` and
:func:`~litepose.decoding.maps.aggregate_scales` (stage averaging, flip merge through the flip index,
project-to-image, the padded-input ``valid_size`` extent, multi-scale aggregation; read that module's
docstring), on NumPy arrays: the exported-model backends (onnxruntime, OpenVINO) return arrays, and a
device without PyTorch runs the whole prediction path on these functions.

It lives beside the torch version, not in :mod:`litepose.runtime`, because it is the same stage of the
data flow (network outputs -> maps), shared by every backend and tested against its twin.

How close to the torch version (float32 throughout):

* the element-wise steps (averages, flips, re-indexing, sums over scales) and the padded-input extent
  resampling of other scales repeat PyTorch's operations in the same order: bit-identical;
* bilinear resizing (``F.interpolate``, ``align_corners=False``) is not reproducible bit for bit in any
  portable way: PyTorch's own kernel gives different last bits under its AVX2/AVX-512 and its portable
  builds (``ATEN_CPU_CAPABILITY=default``), as the compiler fuses its multiply-adds differently. Exact
  2x enlargements, which are all the resizes of a single-scale run (stride 4 -> stride 2 -> input,
  a padded input's extent included), use ``cv2.resize`` (the same sampling rule; measured within 5e-7
  of PyTorch on maps of unit scale, and ~18x faster than a NumPy gather: 0.5 ms against 9 ms for 34
  maps 128 -> 256 px on one thread); other sizes (multi-scale aggregation) use a NumPy gather with
  PyTorch's source indices and weights (measured within 3e-5 on unit-scale maps, the weights being
  rounded to float32 as PyTorch rounds them).

The grouping then finds the same people: the tests compare both paths on random outputs, with flip,
padding and several scales, and whole predictions on a trained model.

Speed: every multi-megabyte array made fresh for each image costs page faults when first written and
its unmapping when freed, which at 256x256 cost more than the resizing. The averages are computed in
place, 2x resizes write each map straight to its place, and :class:`MapBuffers` lets a caller that
decodes the maps at once (the :class:`~litepose.Predictor`) reuse the same arrays from image to image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from litepose.decoding.map_args import (
    check_flip_size,
    check_pass_channels,
    flip_permutation,
    linear_taps,
    padded_extent,
    sorted_scales,
    tags_scale_missing,
    two_outputs,
)

__all__ = ["MapBuffers", "aggregate_scales", "outputs_to_maps", "resize_bilinear"]

_F32 = np.float32


def _torch_taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weight of ``F.interpolate(..., mode="bilinear", align_corners=False)`` along one
    axis, computed as PyTorch's CPU kernel does, in float32: scale ``n_in / n_out``, source
    ``scale·(i + 0.5) − 0.5`` clamped at 0, right neighbour clamped at ``n_in − 1``."""
    scale = _F32(n_in) / _F32(n_out)
    src = np.maximum(scale * (np.arange(n_out, dtype=_F32) + _F32(0.5)) - _F32(0.5), _F32(0))
    i0 = src.astype(np.int64)  # src >= 0: truncation is floor
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    lam = np.clip(src - i0.astype(_F32), _F32(0), _F32(1))
    return i0, i1, lam


def _blend(maps: np.ndarray, axis: int, i0: np.ndarray, i1: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``maps[i0]·(1 − λ) + maps[i1]·λ`` along ``axis`` (float32, in the order of the torch expression)."""
    shape = [1] * maps.ndim
    shape[axis] = -1
    w1 = lam.astype(_F32).reshape(shape)
    w0 = _F32(1) - w1
    return np.take(maps, i0, axis=axis) * w0 + np.take(maps, i1, axis=axis) * w1


def _resize_cv2(maps: np.ndarray, size: tuple[int, int], keep: tuple[int, int] | None = None,
                out: np.ndarray | None = None) -> np.ndarray:
    """``cv2.resize`` of every ``[H, W]`` map of ``maps`` (views are read in place) to ``size``, keeping the
    top-left ``keep`` rows and columns (default: all), into ``out`` (default: a new array).

    Each map goes straight to its place in the output: no contiguous copy of the input and no
    full-size intermediate, as every fresh multi-megabyte array costs its page faults.
    """
    maps = np.asarray(maps, dtype=_F32)
    keep = size if keep is None else keep
    if out is None:
        out = np.empty((*maps.shape[:-2], *keep), dtype=_F32)
    scratch = None if tuple(keep) == tuple(size) else np.empty(size, dtype=_F32)
    sources = maps.reshape(-1, *maps.shape[-2:])  # a view for maps cut from a [B, C, H, W] array
    targets = out.reshape(-1, *keep)  # out is contiguous: a view
    for src, dst in zip(sources, targets, strict=True):
        if src.strides[-1] != src.itemsize:  # OpenCV reads rows with a stride, not strided pixels
            src = np.ascontiguousarray(src)
        if scratch is None:
            cv2.resize(src, (size[1], size[0]), dst=dst, interpolation=cv2.INTER_LINEAR)
        else:
            cv2.resize(src, (size[1], size[0]), dst=scratch, interpolation=cv2.INTER_LINEAR)
            dst[...] = scratch[:keep[0], :keep[1]]
    return out


class MapBuffers:
    """Arrays :func:`outputs_to_maps` writes into, reused from one call to the next.

    Every fresh multi-megabyte array costs its page faults when first written and its unmapping when
    freed: at 256x256 without flip the maps of one image took ~9 MB of new arrays, which cost more than
    the resizing itself. Given ``buffers=MapBuffers()``, :func:`outputs_to_maps` writes the enlarged and
    projected maps into arrays kept here, and the maps it returns are views of them: valid until the next
    call with the same buffers (the :class:`~litepose.Predictor` decodes them before that). Each role
    keeps one array; a call with other shapes replaces it.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, role: str, shape: tuple[int, ...]) -> np.ndarray:
        """The float32 array of ``role`` with ``shape`` (its contents are whatever the last call left)."""
        shape = tuple(int(v) for v in shape)
        array = self._arrays.get(role)
        if array is None or array.shape != shape:
            array = self._arrays[role] = np.empty(shape, dtype=_F32)
        return array


def _buffer(buffers: MapBuffers | None, role: str, shape: tuple[int, ...]) -> np.ndarray | None:
    return None if buffers is None else buffers.get(role, shape)


def resize_bilinear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (``align_corners=False``) of the last two axes of ``maps`` to ``size = (h, w)``, as
    ``F.interpolate`` does (within float32 rounding, see the module docstring).

    Shapes:
        ``[..., H, W]`` float32 -> ``[..., h, w]`` float32.
    """
    h_in, w_in = maps.shape[-2:]
    h, w = int(size[0]), int(size[1])
    if (h, w) == (h_in, w_in):
        return maps  # the identity: every source index is exact, with weight 1
    if (h, w) == (2 * h_in, 2 * w_in):
        return _resize_cv2(maps, (h, w))
    x0, x1, lx = _torch_taps(w, w_in)
    cols = _blend(maps, maps.ndim - 1, x0, x1, lx)
    y0, y1, ly = _torch_taps(h, h_in)
    return _blend(cols, maps.ndim - 2, y0, y1, ly)


def _resize_extent(maps: np.ndarray, extent: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of the top-left ``extent = (h, w)`` map pixels (fractional allowed) to ``size``: along
    W first, then the rows, in the order of :func:`litepose.decoding.maps._resize_extent` (bit-identical).

    Shapes:
        ``[B, C, H_in, W_in]`` -> ``[B, C, size[0], size[1]]``.
    """
    h_in, w_in = maps.shape[-2:]
    xs0, xs1, lx = linear_taps(size[1], extent[1], w_in)
    cols = _blend(maps, 3, xs0, xs1, lx)
    ys0, ys1, ly = linear_taps(size[0], extent[0], h_in)
    return _blend(cols, 2, ys0, ys1, ly)


def _project_extent(maps: np.ndarray, extent: tuple[float, float], size: tuple[int, int],
                    out: np.ndarray | None = None) -> np.ndarray:
    """:func:`_resize_extent`, through ``cv2.resize`` when it is an exact 2x enlargement (``size = 2·extent``).

    That is every single-scale padded input (a fixed-size file's letterbox, a size that is not a multiple
    of 32): the valid input pixels are twice the stride-2 pixels covering them. The taps are then those
    of a 2x resize, ``src = i/2 − 1/4``, and the last output row or column reads one map pixel beyond the
    extent (the first padding pixel), as the official taps do; so the maps cut to the extent plus that
    pixel, enlarged 2x and cut to ``size``, are the same resampling (within the float32 rounding of
    :func:`resize_bilinear`'s 2x path) at a tenth of the gather's cost: 0.3 ms against 3 ms for 34 maps
    96x128 -> 192x256 on one thread.
    """
    h_in, w_in = maps.shape[-2:]
    if (size[0], size[1]) != (2 * extent[0], 2 * extent[1]):
        return _resize_extent(maps, extent, size)
    rows, cols = min(h_in, (size[0] + 1) // 2 + 1), min(w_in, (size[1] + 1) // 2 + 1)
    return _resize_cv2(maps[..., :rows, :cols], (2 * rows, 2 * cols), keep=(int(size[0]), int(size[1])), out=out)


def _project(maps: np.ndarray, size: tuple[int, int], extent: tuple[float, float] | None,
             out: np.ndarray | None) -> np.ndarray:
    """``maps`` projected to ``size``: the whole maps (``extent`` None) or their top-left ``extent``; into
    ``out`` where the resize is cv2's 2x enlargement (the other resizes make their own arrays)."""
    if extent is not None:
        return _project_extent(maps, extent, size, out)
    if tuple(size) == (2 * maps.shape[-2], 2 * maps.shape[-1]):
        return _resize_cv2(maps, size, out=out)
    return resize_bilinear(maps, size)


def _as_f32(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=_F32)


def _enlarge(stride4: np.ndarray, size: tuple[int, ...], buffers: MapBuffers | None, role: str) -> np.ndarray:
    """The stride-4 maps resized to the stride-2 ``size``: into ``buffers``' array ``role`` when it is a 2x
    enlargement and buffers are given, else a new array (or the input itself, at the same size)."""
    if buffers is not None and tuple(size) == (2 * stride4.shape[2], 2 * stride4.shape[3]):
        return _resize_cv2(stride4, size, out=buffers.get(role, (*stride4.shape[:2], *size)))
    return resize_bilinear(stride4, size)


def _single_pass(outputs: Any, num_joints: int, name: str,
                 buffers: MapBuffers | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stage-averaged heatmaps ``[B, J, h2, w2]`` and tags ``[B, J, h2, w2]`` of one forward pass."""
    stride4, stride2 = two_outputs(outputs, name, _as_f32)
    check_pass_channels(name, stride4.shape, stride2.shape, num_joints)
    up = _enlarge(stride4, stride2.shape[2:], buffers, "up")
    if up is stride4:  # same size (not a LitePose): the backend's array is not ours to overwrite
        heatmaps = (up[:, :num_joints] + stride2[:, :num_joints]) / _F32(2)
    else:  # (a + b) / 2 in place in the resized array: the same float32 operations, no new array
        heatmaps = up[:, :num_joints]
        np.add(heatmaps, stride2[:, :num_joints], out=heatmaps)
        np.divide(heatmaps, _F32(2), out=heatmaps)
    return heatmaps, up[:, num_joints:2 * num_joints]


def outputs_to_maps(
    outputs: Any,
    num_joints: int,
    flip_outputs: Any = None,
    flip_index: Sequence[int] | None = None,
    project_to: tuple[int, int] | None = None,
    valid_size: tuple[int, int] | None = None,
    *,
    buffers: MapBuffers | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps and tag maps of one test scale: :func:`litepose.decoding.maps.outputs_to_maps` on arrays.

    Args:
        outputs: the model's ``(stride4 [B, 2J, H/4, W/4], stride2 [B, J, H/2, W/2])`` for the image.
        num_joints: ``J``.
        flip_outputs: the same for the horizontally flipped image, or None (no flip test).
        flip_index: ``J`` joint indices, required with ``flip_outputs``.
        project_to: ``(H_r, W_r)`` to resize the maps to, or None to keep the stride-2 size.
        valid_size: ``(H_v, W_v)``: the input pixels that hold the image when the input was padded on the
            right/bottom (needs ``project_to``); None or the full input size: the official projection.
        buffers: write the maps into these reused arrays (:class:`MapBuffers`): the results are then
            views of them, overwritten by the next call with the same buffers. Default: new arrays.

    Returns:
        ``(heatmaps [B, J, H, W], tags [B, J, H, W, L])`` float32, ``L = 2`` under flip test, else 1.
    """
    heatmaps, tags = _single_pass(outputs, num_joints, "outputs", buffers)
    hm_list, tag_list = [heatmaps], [tags]
    if flip_outputs is not None:
        index = flip_permutation(flip_index, num_joints)
        stride4, stride2 = two_outputs(flip_outputs, "flip_outputs", _as_f32)
        check_pass_channels("flip_outputs", stride4.shape, stride2.shape, num_joints, batch=False)
        up = _enlarge(stride4, stride2.shape[2:], buffers, "flip.up")[..., ::-1]
        back = stride2[..., ::-1]
        # (a[index] + b[index]) / 2 with the sum and the halving in place: the same float32 operations
        flip_hm = up[:, :num_joints][:, index]
        np.add(flip_hm, back[:, :num_joints][:, index], out=flip_hm)
        np.divide(flip_hm, _F32(2), out=flip_hm)
        hm_list.append(flip_hm)
        tag_list.append(np.ascontiguousarray(up[:, num_joints:2 * num_joints][:, index]))
        check_flip_size(flip_hm.shape, heatmaps.shape)
    extent = padded_extent(valid_size, heatmaps.shape[2:], project_to)
    if project_to is not None:
        size = (int(project_to[0]), int(project_to[1]))
        shape = (*heatmaps.shape[:2], *size)
        hm_list = [_project(h, size, extent, _buffer(buffers, f"heatmaps{i}", shape)) for i, h in enumerate(hm_list)]
        tag_list = [_project(t, size, extent, _buffer(buffers, f"tags{i}", shape)) for i, t in enumerate(tag_list)]
    heatmaps = hm_list[0]  # ours (a resize output or the stage average), never an input array
    if len(hm_list) == 2:  # (a + b) / 2 in place: the same float32 operations
        np.add(heatmaps, hm_list[1], out=heatmaps)
        np.divide(heatmaps, _F32(2), out=heatmaps)
    if len(tag_list) == 1:
        tags = tag_list[0][..., None]
    else:
        tags = np.stack(tag_list, axis=4, out=_buffer(buffers, "tags", (*tag_list[0].shape, 2)))
    return heatmaps, tags


def aggregate_scales(per_scale: Sequence[tuple[Any, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """Combine :func:`outputs_to_maps` results of several test scales: :func:`litepose.decoding.maps.aggregate_scales`
    on arrays (``(scale, heatmaps, tags)`` or ``(scale, (heatmaps, tags))`` per scale)."""
    items = sorted_scales(per_scale, _as_f32)
    final: np.ndarray | None = None
    tag_parts: list[np.ndarray] = []
    for scale, heatmaps, tags in items:
        if scale == 1.0 or len(items) == 1:
            if final is not None and tags.shape[2:4] != final.shape[2:4]:
                # [B, J, H, W, L] -> [B, J, L, H, W]: resize the last two axes, then back
                moved = resize_bilinear(np.moveaxis(tags, 4, 2), final.shape[2:4])
                tags = np.moveaxis(moved, 2, 4)
            tag_parts.append(tags)
        if final is None:
            final = heatmaps
        elif heatmaps.shape[2:] == final.shape[2:]:
            final = final + heatmaps
        else:
            final = final + resize_bilinear(heatmaps, final.shape[2:4])
    if not tag_parts:
        raise tags_scale_missing([s for s, _, _ in items])
    assert final is not None
    tags_out = tag_parts[0] if len(tag_parts) == 1 else np.concatenate(tag_parts, axis=4)
    if len(items) == 1:  # x / 1 is x exactly: the maps as they are, without a new array
        return final, tags_out
    return final / _F32(len(items)), tags_out

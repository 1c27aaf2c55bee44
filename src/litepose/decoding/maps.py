"""Network outputs -> heatmaps and tag maps, as the official test pipeline builds them (reference §5.2).

Needs PyTorch (bilinear resizing is ``torch.nn.functional.interpolate``, ``align_corners=False``, as
the official code); :mod:`litepose.decoding` loads it only on first use. The grouping itself
(:func:`litepose.decoding.decode`) takes the NumPy versions of the returned maps.

Per scale (:func:`outputs_to_maps`):

1. the stride-4 output (``J`` heatmaps then ``J`` per-joint tags) is upsampled to the stride-2 size;
2. heatmaps are the average of both stages, ``(up(out4)[:, :J] + out2[:, :J]) / 2``; tags come from
   the stride-4 output only;
3. flip test: the outputs for the flipped image are upsampled the same way, flipped back along W,
   and both heatmap *and* tag channels are re-indexed by ``flip_index`` (tags are per joint);
4. ``project_to=(H_r, W_r)``: each heatmap and tag map (plain and flipped separately) is resized to
   the resized-input size (the official ``PROJECT2IMAGE``);
5. heatmaps of the plain and flipped pass are averaged; tags are stacked on a last axis
   (``L = 2`` with flip, else 1).

Padded inputs (an extension; the official code cannot run them): when a test scale's resized size
is not a multiple of 32, the :class:`~litepose.Predictor` warps the image into a canvas padded on the
right/bottom with the same affine, and passes ``valid_size``; the projection then resamples only the
part of the maps that covers the image (a fractional extent at stride 2), with the same bilinear
``align_corners=False`` rule, so map pixel ``(x, y)`` keeps meaning input pixel ``(x, y)``. Without
padding the official code path runs unchanged (bit-identical maps).

Across scales (:func:`aggregate_scales`), processed from the largest scale down as the official
loop does: heatmaps are summed (resized to the first one's size when sizes differ) and divided by
the number of scales; tags come only from scale 1.0, or from the single scale when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

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

__all__ = ["aggregate_scales", "outputs_to_maps"]


def _resize(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def _resize_extent(maps: torch.Tensor, extent: tuple[float, float], size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of the top-left ``extent = (h, w)`` map pixels (fractional allowed) of ``maps`` to ``size``.

    Shapes:
        ``[B, C, H_in, W_in]`` -> ``[B, C, size[0], size[1]]``.
    """
    _, _, h_in, w_in = maps.shape
    ys0, ys1, ly = linear_taps(size[0], extent[0], h_in)
    xs0, xs1, lx = linear_taps(size[1], extent[1], w_in)
    dev, dt = maps.device, maps.dtype

    def idx(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).to(dev)

    wx = torch.from_numpy(lx).to(device=dev, dtype=dt)
    # Along W first, then blend the two rows, as the bilinear kernel does: h0·(w0·p00 + w1·p01) + h1·(...).
    cols = maps.index_select(3, idx(xs0)) * (1 - wx) + maps.index_select(3, idx(xs1)) * wx
    wy = torch.from_numpy(ly).to(device=dev, dtype=dt)[:, None]
    return cols.index_select(2, idx(ys0)) * (1 - wy) + cols.index_select(2, idx(ys1)) * wy


def _as_tensor(a: Any) -> torch.Tensor:
    return a if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a))


def _single_pass(outputs: Any, num_joints: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage-averaged heatmaps ``[B, J, h2, w2]`` and tags ``[B, J, h2, w2]`` of one forward pass."""
    stride4, stride2 = two_outputs(outputs, name, _as_tensor)
    check_pass_channels(name, stride4.shape, stride2.shape, num_joints)
    up = _resize(stride4, (stride2.shape[2], stride2.shape[3]))
    heatmaps = (up[:, :num_joints] + stride2[:, :num_joints]) / 2
    return heatmaps, up[:, num_joints:2 * num_joints]


def outputs_to_maps(
    outputs: Any,
    num_joints: int,
    flip_outputs: Any = None,
    flip_index: Sequence[int] | None = None,
    project_to: tuple[int, int] | None = None,
    valid_size: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps and tag maps of one test scale, with optional flip test and projection.

    Args:
        outputs: the model's ``(stride4 [B, 2J, H/4, W/4], stride2 [B, J, H/2, W/2])`` for the image.
        num_joints: ``J``.
        flip_outputs: the same for the horizontally flipped image, or None (no flip test).
        flip_index: ``J`` joint indices, required with ``flip_outputs``.
        project_to: ``(H_r, W_r)`` to resize the maps to (the resized input size), or None to keep
            the stride-2 size.
        valid_size: ``(H_v, W_v)``: when the network input ``(H, W) = 2·stride2`` was padded on the
            right/bottom, the input pixels that hold the image; only that part of the maps is
            projected (needs ``project_to``). None or the full input size: the official projection.

    Returns:
        ``(heatmaps [B, J, H, W], tags [B, J, H, W, L])`` with ``L = 2`` under flip test, else 1.

    Shapes:
        stride4 ``[B, 2J, h, w]``, stride2 ``[B, J, 2h, 2w]`` -> ``[B, J, H, W]``, ``[B, J, H, W, L]``.
    """
    heatmaps, tags = _single_pass(outputs, num_joints, "outputs")
    hm_list, tag_list = [heatmaps], [tags]
    if flip_outputs is not None:
        index = flip_permutation(flip_index, num_joints)
        stride4, stride2 = two_outputs(flip_outputs, "flip_outputs", _as_tensor)
        check_pass_channels("flip_outputs", stride4.shape, stride2.shape, num_joints, batch=False)
        up = torch.flip(_resize(stride4, (stride2.shape[2], stride2.shape[3])), [3])
        back = torch.flip(stride2, [3])
        flip_hm = (up[:, :num_joints][:, index] + back[:, :num_joints][:, index]) / 2
        check_flip_size(flip_hm.shape, heatmaps.shape)
        hm_list.append(flip_hm)
        tag_list.append(up[:, num_joints:2 * num_joints][:, index])
    extent = padded_extent(valid_size, heatmaps.shape[2:], project_to)
    if project_to is not None:
        size = (int(project_to[0]), int(project_to[1]))
        if extent is None:
            hm_list = [_resize(h, size) for h in hm_list]
            tag_list = [_resize(t, size) for t in tag_list]
        else:
            hm_list = [_resize_extent(h, extent, size) for h in hm_list]
            tag_list = [_resize_extent(t, extent, size) for t in tag_list]
    heatmaps = (hm_list[0] + hm_list[1]) / 2.0 if len(hm_list) == 2 else hm_list[0]
    return heatmaps, torch.stack(tag_list, dim=4)


def aggregate_scales(per_scale: Sequence[tuple[Any, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine :func:`outputs_to_maps` results of several test scales (official ``aggregate_results``).

    Args:
        per_scale: ``(scale_factor, heatmaps [B, J, H, W], tags [B, J, H, W, L])`` per scale, or
            ``(scale_factor, (heatmaps, tags))``.

    Returns:
        ``(heatmaps, tags)``: heatmaps summed over scales (largest scale first, each resized to the
        first one's size when it differs) and divided by the number of scales; tags of scale 1.0
        (or of the only scale), resized to that size when needed, concatenated on the last axis.
    """
    items = sorted_scales(per_scale, _as_tensor)
    final: torch.Tensor | None = None
    tag_parts: list[torch.Tensor] = []
    for scale, heatmaps, tags in items:
        if scale == 1.0 or len(items) == 1:
            if final is not None and tags.shape[2:4] != final.shape[2:4]:
                b, j, h, w, dim = tags.shape
                flat = tags.permute(0, 4, 1, 2, 3).reshape(b, dim * j, h, w)
                flat = _resize(flat, (final.shape[2], final.shape[3]))
                tags = flat.reshape(b, dim, j, final.shape[2], final.shape[3]).permute(0, 2, 3, 4, 1)
            tag_parts.append(tags)
        if final is None:
            final = heatmaps
        elif heatmaps.shape[2:] == final.shape[2:]:
            final = final + heatmaps
        else:
            final = final + _resize(heatmaps, (final.shape[2], final.shape[3]))
    if not tag_parts:
        raise tags_scale_missing([s for s, _, _ in items])
    assert final is not None
    return final / float(len(items)), torch.cat(tag_parts, dim=4)

"""Adjust and refine (steps 4 and 6 of :func:`~litepose.decoding.grouping.decode`).

:func:`adjust_positions` moves found joints a quarter pixel toward their larger neighbour;
:func:`refine_people` fills missing joints with the pixel maximising ``det − round(‖tag − μ‖)``, found
by branch and bound over 16×16 and 4×4 cells (:class:`_BestPixels`): the same pixel as a dense search.
"""

from __future__ import annotations

import numpy as np

__all__ = ["adjust_positions", "refine_people"]

_TILE = 16  # refine search: coarse cell side, bounded for every person
_SUB = 4  # refine search: fine cell side, bounded only inside coarse cells that may win
_NO_PIXEL = np.iinfo(np.int64).max


def _quarter_offsets(det: np.ndarray, joint: np.ndarray, x: np.ndarray, y: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """±0.25 toward the larger neighbour along x and y (ties go down), neighbours clamped."""
    _, height, width = det.shape
    right = det[joint, y, np.minimum(x + 1, width - 1)]
    left = det[joint, y, np.maximum(x - 1, 0)]
    below = det[joint, np.minimum(y + 1, height - 1), x]
    above = det[joint, np.maximum(y - 1, 0), x]
    quarter = np.float32(0.25)
    return np.where(right > left, quarter, -quarter), np.where(below > above, quarter, -quarter)


def adjust_positions(people: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Quarter-pixel adjust of every found joint (value > 0), then ``+0.5``.

    Args:
        people: ``[N, J, C]`` with columns ``(x, y, val, ...)`` at integer pixel positions.
        heatmaps: ``[J, H, W]`` raw (not NMS'd) heatmaps.

    Returns:
        A float32 copy of ``people`` with adjusted ``x, y``.

    Shapes:
        people ``[N, J, C]``, heatmaps ``[J, H, W]`` -> ``[N, J, C]``.
    """
    out = np.array(people, dtype=np.float32, copy=True)
    if out.size == 0:
        return out
    det = np.asarray(heatmaps, dtype=np.float32)
    n, j = np.nonzero(out[:, :, 2] > 0)
    x = out[n, j, 0]
    y = out[n, j, 1]
    dx, dy = _quarter_offsets(det, j, x.astype(np.int64), y.astype(np.int64))
    out[n, j, 0] = (x + dx) + np.float32(0.5)
    out[n, j, 1] = (y + dy) + np.float32(0.5)
    return out


def _refine_goal(det_px: np.ndarray, tag_px: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``det − round(‖tag − μ‖)`` in float32, summing tag channels in order (as the reference)."""
    diff = tag_px - mean
    square = diff * diff
    dist2 = square[..., 0]
    for d in range(1, square.shape[-1]):
        dist2 = dist2 + square[..., d]
    return det_px - np.rint(np.sqrt(dist2))


def _block_reduce(maps: np.ndarray, block: int, op: np.ufunc) -> np.ndarray:
    """``op``-reduce ``[J, H, W, ...]`` over ``block × block`` cells (the last ones may be partial).

    Strided slices combined elementwise: far faster than ``reduceat`` or a reshape-reduce on small
    blocks, and partial cells need no padding.
    """
    rows = maps[:, 0::block].copy()
    for i in range(1, block):
        part = maps[:, i::block]
        op(rows[:, : part.shape[1]], part, out=rows[:, : part.shape[1]])
    cells = rows[:, :, 0::block].copy()
    for i in range(1, block):
        part = rows[:, :, i::block]
        op(cells[:, :, : part.shape[2]], part, out=cells[:, :, : part.shape[2]])
    return cells


class _CellStats:
    """Per-cell heatmap maximum and per-channel tag range of every joint, on a grid of square cells."""

    def __init__(self, det_max: np.ndarray, tag_lo: np.ndarray, tag_hi: np.ndarray, side: int) -> None:
        self.side = side  # cell side in pixels
        self.grid = det_max.shape[1:3]
        count = self.grid[0] * self.grid[1]
        self.det_max = det_max.reshape(det_max.shape[0], count)
        self.tag_lo = tag_lo.reshape(det_max.shape[0], count, -1)
        self.tag_hi = tag_hi.reshape(det_max.shape[0], count, -1)

    @classmethod
    def of_maps(cls, det: np.ndarray, tag: np.ndarray, side: int) -> _CellStats:
        return cls(_block_reduce(det, side, np.maximum), _block_reduce(tag, side, np.minimum),
                   _block_reduce(tag, side, np.maximum), side)

    def coarser(self, factor: int) -> _CellStats:
        """Stats of cells ``factor`` times larger, from these (no pass over the pixels)."""
        grid = (self.det_max.shape[0], *self.grid)
        return _CellStats(_block_reduce(self.det_max.reshape(grid), factor, np.maximum),
                          _block_reduce(self.tag_lo.reshape(*grid, -1), factor, np.minimum),
                          _block_reduce(self.tag_hi.reshape(*grid, -1), factor, np.maximum),
                          self.side * factor)

    def bounds(self, joint: int, cells: np.ndarray | None, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Value of ``det − round(dist)`` over cells for people with tag means ``[M, L]``.

        ``cells`` is ``[M, C]`` cell ids per person, or None for all cells. Returns ``[M, C]`` values and
        a mask: where True the rounded distance is one integer ``q`` on the whole cell and the value is
        exactly the cell's best ``det − q``; elsewhere the value is an upper bound.
        """
        if cells is None:
            lo, hi, top = self.tag_lo[joint][None], self.tag_hi[joint][None], self.det_max[joint][None]
        else:
            lo, hi, top = self.tag_lo[joint][cells], self.tag_hi[joint][cells], self.det_max[joint][cells]
        near2 = np.zeros((means.shape[0], top.shape[1]), dtype=np.float32)
        far2 = np.zeros_like(near2)
        for d in range(means.shape[1]):
            mu = means[:, d, None]
            below = lo[..., d] - mu  # > 0 when the whole range lies above the mean
            above = mu - hi[..., d]  # > 0 when it lies below
            far = np.minimum(below, above)  # minus the largest distance along this channel
            near = np.maximum(np.maximum(below, above), np.float32(0))
            near2 += near * near
            far2 += far * far
        dist_lo = np.sqrt(near2)
        dist_hi = np.sqrt(far2)
        # Bounds and pixels are float32, each within a few ulps of the exact distance, so a 1e-5
        # relative margin keeps the bounds safe; rint(d) lies in [ceil(d - 0.5), floor(d + 0.5)].
        r_lo = np.maximum(np.ceil(dist_lo * np.float32(1 - 1e-5) - np.float32(0.5)), np.float32(0))
        r_hi = np.floor(dist_hi * np.float32(1 + 1e-5) + np.float32(0.5))
        return top - r_lo, r_lo == r_hi


class _BestPixels:
    """Exact ``argmax det[j] − round(‖tag[j] − μ‖)`` per (joint, mean) pair, by branch and bound.

    Cells of 16×16 and 4×4 pixels carry the heatmap maximum and the tag range. Where the rounded
    distance cannot vary inside a cell, the cell's best value is known exactly without touching its
    pixels; other cells are opened (16 -> 4 -> pixels) only while their upper bound reaches the best
    value found so far. Equal maxima resolve to the smallest pixel index, as a dense ``argmax``.
    """

    def __init__(self, det: np.ndarray, tag: np.ndarray, joints: np.ndarray, means: np.ndarray) -> None:
        self.det = det.reshape(det.shape[0], -1)
        self.tag = tag.reshape(tag.shape[0], -1, tag.shape[3])
        self.height, self.width = det.shape[1:]
        self.means = means
        self.fine = _CellStats.of_maps(det, tag, _SUB)
        self.coarse = self.fine.coarser(_TILE // _SUB)
        self.value = np.full(joints.size, -np.inf, dtype=np.float32)
        self.index = np.full(joints.size, _NO_PIXEL, dtype=np.int64)
        for joint in np.unique(joints).tolist():
            self._search(joint, np.flatnonzero(joints == joint))

    def _raise(self, pair: np.ndarray, value: np.ndarray, index: np.ndarray) -> None:
        """Fold candidates in: a larger value wins; an equal value keeps the smaller pixel index."""
        order = np.lexsort((index, -value, pair))
        pair, value, index = pair[order], value[order], index[order]
        first = np.concatenate([[True], pair[1:] != pair[:-1]])
        p, v, i = pair[first], value[first], index[first]
        better = (v > self.value[p]) | ((v == self.value[p]) & (i < self.index[p]))
        self.value[p[better]] = v[better]
        self.index[p[better]] = i[better]

    def _pixels(self, stats: _CellStats, cells: np.ndarray) -> np.ndarray:
        """``[M, side²]`` flat pixel indices of cells (clamped at the map edge; repeats are harmless)."""
        side = stats.side
        oy, ox = np.divmod(np.arange(side * side), side)
        cy, cx = np.divmod(cells, stats.grid[1])
        ys = np.minimum((cy * side)[:, None] + oy, self.height - 1)
        xs = np.minimum((cx * side)[:, None] + ox, self.width - 1)
        return ys * self.width + xs

    def _evaluate(self, joint: int, pair: np.ndarray, stats: _CellStats, cells: np.ndarray) -> None:
        pix = self._pixels(stats, cells)
        goal = _refine_goal(self.det[joint][pix], self.tag[joint][pix], self.means[pair][:, None, :])
        best = goal.max(axis=1)
        self._raise(pair, best, np.where(goal == best[:, None], pix, _NO_PIXEL).min(axis=1))

    def _children(self, tiles: np.ndarray) -> np.ndarray:
        """``[M, 16]`` ids of the 4×4 cells inside 16×16 tiles (clamped at the grid edge)."""
        k = _TILE // _SUB
        ty, tx = np.divmod(tiles, self.coarse.grid[1])
        dy, dx = np.divmod(np.arange(k * k), k)
        fy = np.minimum((ty * k)[:, None] + dy, self.fine.grid[0] - 1)
        fx = np.minimum((tx * k)[:, None] + dx, self.fine.grid[1] - 1)
        return fy * self.fine.grid[1] + fx

    def _search(self, joint: int, sel: np.ndarray) -> None:
        means = self.means[sel]
        value, uniform = self.coarse.bounds(joint, None, means)
        exact = np.where(uniform, value, np.float32(-np.inf))
        self.value[sel] = exact.max(axis=1)
        # Open the tiles that may hold something better, most promising first.
        rows, tiles = np.nonzero(~uniform & (value >= self.value[sel][:, None]))
        order = np.argsort(-value[rows, tiles], kind="stable")
        rows, tiles = rows[order], tiles[order]
        tied_pair, tied_cell = [], []
        chunk = 64
        while rows.size:
            pair, part = sel[rows[:chunk]], tiles[:chunk]
            rows, tiles = rows[chunk:], tiles[chunk:]
            cells = self._children(part)
            sub_value, sub_uniform = self.fine.bounds(joint, cells, self.means[pair])
            sub_exact = np.where(sub_uniform, sub_value, np.float32(-np.inf))
            self._raise(pair, sub_exact.max(axis=1), np.full(pair.size, _NO_PIXEL))
            reach = sub_value >= self.value[pair][:, None]
            r, c = np.nonzero(sub_uniform & reach)  # may tie with the final best: keep for the scan
            tied_pair.append(pair[r])
            tied_cell.append(cells[r, c])
            r, c = np.nonzero(~sub_uniform & reach)
            if r.size:
                self._evaluate(joint, pair[r], self.fine, cells[r, c])
            alive = value[rows, tiles] >= self.value[sel[rows]]
            rows, tiles = rows[alive], tiles[alive]
            chunk *= 2
        # Cells valued exactly that reach the final best: scan their pixels for the first index.
        r, t = np.nonzero(uniform & (exact == self.value[sel][:, None]))
        if r.size:
            self._evaluate(joint, sel[r], self.coarse, t)
        if tied_pair:
            pair, cells = np.concatenate(tied_pair), np.concatenate(tied_cell)
            fine_value, _ = self.fine.bounds(joint, cells[:, None], self.means[pair])
            keep = fine_value[:, 0] == self.value[pair]
            if keep.any():
                self._evaluate(joint, pair[keep], self.fine, cells[keep])


def refine_people(det: np.ndarray, tag: np.ndarray, people: np.ndarray) -> np.ndarray:
    out = np.array(people, dtype=np.float32, copy=True)
    if out.shape[0] == 0:
        return out
    num_joints, _, width = det.shape
    found = out[:, :, 2] > 0
    count = found.sum(axis=1)
    if (count == 0).any():
        raise ValueError("refine: every person needs at least one joint with a value > 0")
    xi = np.where(found, out[:, :, 0], 0).astype(np.int32)
    yi = np.where(found, out[:, :, 1], 0).astype(np.int32)
    picked = tag[np.arange(num_joints)[None, :], yi, xi]  # [N, J, L]
    total = np.zeros((out.shape[0], tag.shape[3]), dtype=np.float32)
    for j in range(num_joints):  # sequential float32 sum in joint order
        total = np.where(found[:, j, None], total + picked[:, j], total)
    means = total / count.astype(np.float32)[:, None]
    person, joint = np.nonzero(out[:, :, 2] == 0)
    if person.size == 0:
        return out
    best = _BestPixels(det, tag, joint, means[person]).index
    y, x = np.divmod(best, width)
    val = det[joint, y, x]
    dx, dy = _quarter_offsets(det, joint, x, y)
    fill = val > 0
    half = np.float32(0.5)
    out[person[fill], joint[fill], 0] = (x[fill].astype(np.float32) + half) + dx[fill]
    out[person[fill], joint[fill], 1] = (y[fill].astype(np.float32) + half) + dy[fill]
    out[person[fill], joint[fill], 2] = val[fill]
    return out

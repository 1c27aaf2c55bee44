"""Numba-compiled kernels of the decoder: the same steps and results as the NumPy modules, ~10× faster.

Imported only when :func:`~litepose.decoding.grouping.decode` runs with ``backend="numba"`` (or
``"auto"`` with numba installed: the ``fast`` extra); importing :mod:`litepose.decoding` never imports
numba. Every kernel is ``@njit(cache=True)``: the first call in a fresh environment compiles them
(about 15-20 s of CPU, once) and stores the machine code next to this file (or in numba's user cache
when that folder is read-only); later processes load it in well under a second. Each kernel is
compiled on its first call, so a process that never decodes never compiles.

The kernels, all exact (the tests compare each with the NumPy step it replaces, and ``decode`` with
the loop reference):

* :func:`cell_stats`: the one pass over all the maps: per ``CELL × CELL`` cell the heatmap maximum
  and the per-channel tag range, and whether every value is finite (the input check rides along).
* :func:`peak_candidates`: NMS and top-k, reading only the cells whose maximum passes the threshold.
* :func:`match_by_tag` with :func:`munkres`: the official grouping in scalar loops (the same Munkres
  scan order and float updates as :func:`~litepose.decoding.assignment.munkres_assignment`, the
  summation order of ``np.mean`` and ``np.linalg.norm`` (:func:`pairwise_sum`), the same dict-key
  collisions).
* :func:`refine_people`: for every (person, missing joint) pair, the first pixel maximising
  ``det − rint(‖tag − μ‖)``, by best-first branch and bound over a tree built once per joint. Its
  leaves are the cells, except that a cell whose tag range is wider than 1 (a person's edge: the
  person's tags and the background's) is split in two at the middle of that range, each half with its
  own range, and that 2×2 cells whose ranges together stay within 1 (smooth background) are one leaf;
  leaves are sorted by tag, 16 to a node, 16 nodes to a top node. A box's bound is its
  heatmap maximum minus the smallest rounded distance its tag range allows (:func:`_bounds`); a box
  whose bound is below the best value found, or equal to it but starting at a later pixel, is never
  opened. A leaf whose range admits a single rounded distance ``q`` is valued exactly (its first
  maximum minus ``q``) without reading its tags; in an opened cell, rows whose heatmap maximum minus
  ``q`` cannot win are skipped before their tags are read.

  Why a tree sorted by tag rather than "pixels in descending heatmap order, stop when the heatmap
  drops below the best": that stop comes early only when the best value is high. For about half the
  missing joints of a crowd the person's tag is far from every tag of that joint's map, the best
  value is ``≤ 0`` and such a scan reads every pixel; tag ranges let those searches skip whole
  regions. (The heatmap bound is still what skips rows inside opened cells.) On the 30-person
  512×512 maps of ``benchmarks/bench_decode.py`` a search reaches about 6 leaves and reads the tags
  of 1-2 cells; building the 17 trees costs more than the ~1500 searches.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["CELL", "cell_stats", "match_by_tag", "munkres", "pairwise_sum", "peak_candidates", "refine_people"]

#: Side of the square cells whose heatmap maximum and tag range the kernels keep.
CELL = 8
_FANOUT = 16  # cells per tree node, nodes per top node
_NO_PIXEL = np.iinfo(np.int64).max
_JIT = {"cache": True, "nogil": True}


# --------------------------------------------------------------------------------------------
# One pass over the maps
# --------------------------------------------------------------------------------------------

@njit(**_JIT)
def cell_stats(det: np.ndarray, tag: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool]:
    """Per ``side × side`` cell (``side`` a power of two): heatmap maximum ``[J, GH, GW]``, tag minimum
    and maximum ``[J, GH, GW, L]``; and whether the heatmaps / the tags are all finite.

    The rows of a band of cells are folded elementwise into row buffers (contiguous loops the compiler
    vectorises), the buffers are padded to whole cells by repeating their last pixel, then halved
    ``log2(side)`` times, pairing neighbours. ``v * 0`` is NaN exactly when ``v`` is NaN or infinite.
    """
    num_joints, height, width = det.shape
    dim = tag.shape[3]
    gh = (height + side - 1) // side
    gw = (width + side - 1) // side
    padded = gw * side
    dmax = np.empty((num_joints, gh, gw), np.float32)
    lo = np.empty((num_joints, gh, gw, dim), np.float32)
    hi = np.empty((num_joints, gh, gw, dim), np.float32)
    rows_t = tag.reshape(num_joints, height, width * dim)
    bd = np.empty(padded, np.float32)
    bl = np.empty(padded * dim, np.float32)
    bh = np.empty(padded * dim, np.float32)
    chk_d = np.zeros(width, np.float32)
    chk_t = np.zeros(width * dim, np.float32)
    zero = np.float32(0)
    for j in range(num_joints):
        for cy in range(gh):
            y0 = cy * side
            for i in range(width):
                v = det[j, y0, i]
                bd[i] = v
                chk_d[i] += v * zero
            for i in range(width * dim):
                v = rows_t[j, y0, i]
                bl[i] = v
                bh[i] = v
                chk_t[i] += v * zero
            for y in range(y0 + 1, min(y0 + side, height)):
                for i in range(width):
                    v = det[j, y, i]
                    bd[i] = v if v > bd[i] else bd[i]
                    chk_d[i] += v * zero
                for i in range(width * dim):
                    v = rows_t[j, y, i]
                    bl[i] = v if v < bl[i] else bl[i]
                    bh[i] = v if v > bh[i] else bh[i]
                    chk_t[i] += v * zero
            for i in range(width, padded):
                bd[i] = bd[width - 1]
                for d in range(dim):
                    bl[i * dim + d] = bl[(width - 1) * dim + d]
                    bh[i * dim + d] = bh[(width - 1) * dim + d]
            n = padded
            while n > gw:  # in place: item i of the halved buffer reads items 2i and 2i + 1
                n //= 2
                for i in range(n):
                    a = bd[2 * i]
                    b = bd[2 * i + 1]
                    bd[i] = a if a > b else b
                if dim == 1:
                    for i in range(n):
                        a = bl[2 * i]
                        b = bl[2 * i + 1]
                        bl[i] = a if a < b else b
                        a = bh[2 * i]
                        b = bh[2 * i + 1]
                        bh[i] = a if a > b else b
                elif dim == 2:  # the flip-test case, written out so that it vectorises
                    for i in range(n):
                        a0 = bl[4 * i]
                        a1 = bl[4 * i + 1]
                        b0 = bl[4 * i + 2]
                        b1 = bl[4 * i + 3]
                        bl[2 * i] = a0 if a0 < b0 else b0
                        bl[2 * i + 1] = a1 if a1 < b1 else b1
                        a0 = bh[4 * i]
                        a1 = bh[4 * i + 1]
                        b0 = bh[4 * i + 2]
                        b1 = bh[4 * i + 3]
                        bh[2 * i] = a0 if a0 > b0 else b0
                        bh[2 * i + 1] = a1 if a1 > b1 else b1
                else:
                    for i in range(n):
                        for d in range(dim):
                            a = bl[2 * i * dim + d]
                            b = bl[(2 * i + 1) * dim + d]
                            bl[i * dim + d] = a if a < b else b
                            a = bh[2 * i * dim + d]
                            b = bh[(2 * i + 1) * dim + d]
                            bh[i * dim + d] = a if a > b else b
            for cx in range(gw):
                dmax[j, cy, cx] = bd[cx]
                for d in range(dim):
                    lo[j, cy, cx, d] = bl[cx * dim + d]
                    hi[j, cy, cx, d] = bh[cx * dim + d]
    det_ok = True
    for i in range(width):
        det_ok = det_ok and chk_d[i] == 0
    tag_ok = True
    for i in range(width * dim):
        tag_ok = tag_ok and chk_t[i] == 0
    return dmax, lo, hi, det_ok, tag_ok


# --------------------------------------------------------------------------------------------
# NMS and top-k
# --------------------------------------------------------------------------------------------

@njit(**_JIT)
def _before(value: np.float32, index: int, other_value: np.float32, other_index: int) -> bool:
    """Top-k order: larger values first, equal values in pixel order."""
    return value > other_value or (value == other_value and index < other_index)


@njit(**_JIT)
def peak_candidates(det: np.ndarray, tag: np.ndarray, dmax: np.ndarray, side: int, k: int, threshold: float,
                    kernel: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` NMS peaks per joint with value ``> threshold`` (compared in float64), ties in pixel order.

    Same result as :func:`litepose.decoding.peaks.peak_candidates`; only cells whose maximum passes
    the threshold are read. Returns ``xy [J, K, 2]`` int64, ``val [J, K]`` float32 (``-inf`` in unused
    slots), ``tag [J, K, L]`` float32 with ``K = min(k, H·W)``.
    """
    num_joints, height, width = det.shape
    dim = tag.shape[3]
    gh, gw = dmax.shape[1], dmax.shape[2]
    r = kernel // 2
    k_out = min(k, height * width)
    xy = np.zeros((num_joints, k_out, 2), np.int64)
    val = np.full((num_joints, k_out), -np.inf, np.float32)
    tag_k = np.zeros((num_joints, k_out, dim), np.float32)
    # Per joint, the best peaks so far in order (value descending, then pixel index): insertion into a
    # sorted list of at most K, which is short (K = max_people).
    best_i = np.empty(k_out, np.int64)
    best_v = np.empty(k_out, np.float32)
    for j in range(num_joints):
        count = 0
        for cy in range(gh):
            for cx in range(gw):
                if not np.float64(dmax[j, cy, cx]) > threshold:
                    continue
                for y in range(cy * side, min(cy * side + side, height)):
                    for x in range(cx * side, min(cx * side + side, width)):
                        v = det[j, y, x]
                        if not np.float64(v) > threshold:
                            continue
                        if count == k_out and not _before(v, y * width + x, best_v[count - 1], best_i[count - 1]):
                            continue
                        peak = True
                        for yy in range(max(y - r, 0), min(y + r + 1, height)):
                            for xx in range(max(x - r, 0), min(x + r + 1, width)):
                                if det[j, yy, xx] > v:
                                    peak = False
                                    break
                            if not peak:
                                break
                        if not peak:
                            continue
                        at = min(count, k_out - 1)  # the last slot is dropped when the list is full
                        while at > 0 and _before(v, y * width + x, best_v[at - 1], best_i[at - 1]):
                            best_v[at] = best_v[at - 1]
                            best_i[at] = best_i[at - 1]
                            at -= 1
                        best_v[at] = v
                        best_i[at] = y * width + x
                        count = min(count + 1, k_out)
        for s in range(count):
            y = best_i[s] // width
            x = best_i[s] - y * width
            xy[j, s, 0] = x
            xy[j, s, 1] = y
            val[j, s] = best_v[s]
            for d in range(dim):
                tag_k[j, s, d] = tag[j, y, x, d]
    return xy, val, tag_k


# --------------------------------------------------------------------------------------------
# Tag matching
# --------------------------------------------------------------------------------------------

@njit(**_JIT)
def pairwise_sum(a: np.ndarray) -> float:
    """NumPy's sum of a short contiguous 1-D array (``np.add.reduce``, ``1 <= n <= 128``), in ``a``'s
    dtype and order: a plain loop below 8 items, else eight interleaved partial sums."""
    n = a.size
    if n < 8:
        res = a[0]  # NumPy starts from 0: the same value (the sign of an all-zero sum does not matter here)
        for i in range(1, n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[0], a[1], a[2], a[3]
    r4, r5, r6, r7 = a[4], a[5], a[6], a[7]
    i = 8
    while i < n - (n % 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[i]
        i += 1
    return res


#: :func:`match_by_tag` sums at most this many items with :func:`pairwise_sum` (tags per person, channels).
PAIRWISE_LIMIT = 128


@njit(**_JIT)
def munkres(cost: np.ndarray) -> np.ndarray:
    """The ``munkres`` 1.1.x assignment as :func:`litepose.decoding.assignment.munkres_assignment`
    computes it, in scalar loops: returns, for each of the ``R`` rows of ``cost [R, C]``, its column
    (a column ``>= C`` is one of the zero columns padding the matrix to a square)."""
    rows, cols = cost.shape
    n = max(rows, cols)
    c = np.zeros((n, n))
    c[:rows, :cols] = cost
    for r in range(n):  # step 1
        low = c[r, 0]
        for col in range(1, n):
            if c[r, col] < low:
                low = c[r, col]
        for col in range(n):
            c[r, col] -= low
    star_in_row = np.full(n, -1, np.int64)
    star_in_col = np.full(n, -1, np.int64)
    for r in range(n):  # step 2
        for col in range(n):
            if c[r, col] == 0 and star_in_row[r] < 0 and star_in_col[col] < 0:
                star_in_row[r] = col
                star_in_col[col] = r
    prime_in_row = np.full(n, -1, np.int64)
    row_cov = np.zeros(n, np.bool_)
    col_cov = np.zeros(n, np.bool_)
    path_r = np.empty(2 * n + 2, np.int64)
    path_c = np.empty(2 * n + 2, np.int64)
    while True:
        done = True  # step 3
        for col in range(n):
            col_cov[col] = star_in_col[col] >= 0
            done = done and col_cov[col]
        if done:
            break
        row_cov[:] = False
        r0 = 0
        c0 = 0
        while True:  # step 4, with step 6 whenever no uncovered zero is left
            zrow = -1
            first = -1
            for r in range(n):
                if row_cov[r]:
                    continue
                has = False
                for col in range(n):
                    if c[r, col] == 0 and not col_cov[col]:
                        has = True
                        break
                if has:
                    if first < 0:
                        first = r
                    if r >= r0:
                        zrow = r
                        break
            if zrow < 0:
                zrow = first
            if zrow < 0:
                low = np.inf
                for r in range(n):
                    if not row_cov[r]:
                        for col in range(n):
                            if not col_cov[col] and c[r, col] < low:
                                low = c[r, col]
                for r in range(n):
                    if row_cov[r]:
                        for col in range(n):
                            c[r, col] += low
                for r in range(n):
                    for col in range(n):
                        if not col_cov[col]:
                            c[r, col] -= low
                r0 = 0
                c0 = 0
                continue
            zcol = -1
            before = -1  # the last zero of a cyclic scan from c0
            for col in range(n):
                if c[zrow, col] == 0 and not col_cov[col]:
                    zcol = col
                    if col < c0:
                        before = col
            if before >= 0:
                zcol = before
            prime_in_row[zrow] = zcol
            star = star_in_row[zrow]
            if star < 0:
                break
            row_cov[zrow] = True
            col_cov[star] = False
            r0 = zrow
            c0 = star
        # Step 5: prime -> star in its column -> prime in that star's row ..., then swap them.
        length = 1
        path_r[0] = zrow
        path_c[0] = zcol
        col = zcol
        while star_in_col[col] >= 0:
            r = star_in_col[col]
            path_r[length] = r  # a star
            path_c[length] = col
            col = prime_in_row[r]
            path_r[length + 1] = r  # a prime
            path_c[length + 1] = col
            length += 2
        for s in range(1, length, 2):
            star_in_row[path_r[s]] = -1
            star_in_col[path_c[s]] = -1
        for s in range(0, length, 2):
            star_in_row[path_r[s]] = path_c[s]
            star_in_col[path_c[s]] = path_r[s]
        prime_in_row[:] = -1
    return star_in_row[:rows].copy()


@njit(**_JIT)
def match_by_tag(xy: np.ndarray, val: np.ndarray, tag: np.ndarray, order: np.ndarray, threshold: float,
                 tag_threshold: float, max_people: int, fix_key_collisions: bool) -> np.ndarray:
    """The official ``match_by_tag`` with the Munkres assignment, as
    :func:`litepose.decoding.matching.match_by_tag` computes it: ``[N, J, 3 + L]`` people."""
    num_joints, slots, dim = tag.shape
    capacity = 1
    for j in range(num_joints):
        for s in range(slots):
            if np.isfinite(val[j, s]):
                capacity += 1
    people = np.zeros((capacity, num_joints, 3 + dim), np.float32)
    history = np.zeros((capacity, num_joints + 1, dim), np.float32)  # each person's tags, as a list
    count = np.zeros(capacity, np.int64)
    total = np.zeros((capacity, dim), np.float32)
    keys = np.zeros(capacity, np.float64)
    size = 0
    means = np.zeros((max_people, dim), np.float32)
    chosen = np.empty(slots, np.int64)
    square = np.empty(dim, np.float64)
    for idx in order:
        added = 0
        for s in range(slots):
            if np.float64(val[idx, s]) > threshold:
                chosen[added] = s
                added += 1
        if added == 0:
            continue
        groups = min(size, max_people)
        for g in range(groups):
            if dim >= 2:  # np.mean over axis 0 of [n, L]: a sequential float32 sum per channel
                for d in range(dim):
                    means[g, d] = total[g, d] / np.float32(count[g])
            else:  # np.mean of [n, 1]: NumPy's pairwise sum
                means[g, 0] = pairwise_sum(history[g, : count[g], 0]) / np.float32(count[g])
        width = max(added, groups)
        cost = np.zeros((added, width))
        dist = np.zeros((added, max(groups, 1)))
        for a in range(added):
            s = chosen[a]
            for g in range(groups):
                for d in range(dim):
                    diff = np.float64(tag[idx, s, d]) - np.float64(means[g, d])
                    square[d] = diff * diff
                dist[a, g] = np.sqrt(pairwise_sum(square))  # np.linalg.norm(ord=2) along the last axis
                cost[a, g] = np.rint(dist[a, g]) * 100 - np.float64(val[idx, s])
            for g in range(groups, width):
                cost[a, g] = 1e10
        assigned = munkres(cost) if groups > 0 else np.full(added, width, np.int64)
        for a in range(added):
            s = chosen[a]
            col = assigned[a]
            if col < groups and dist[a, col] < tag_threshold:
                person = col
                n = count[person]
                history[person, n] = tag[idx, s]
                count[person] = n + 1
                for d in range(dim):
                    total[person, d] = total[person, d] + tag[idx, s, d]
            else:  # a new person, or, on a key collision, the person with that key starts over
                key = np.float64(tag[idx, s, 0])
                person = size
                if not fix_key_collisions:
                    for p in range(size):
                        if keys[p] == key:
                            person = p
                            break
                if person == size:
                    keys[size] = key
                    size += 1
                history[person, 0] = tag[idx, s]
                count[person] = 1
                for d in range(dim):
                    total[person, d] = tag[idx, s, d]
            people[person, idx, 0] = np.float32(xy[idx, s, 0])
            people[person, idx, 1] = np.float32(xy[idx, s, 1])
            people[person, idx, 2] = val[idx, s]
            for d in range(dim):
                people[person, idx, 3 + d] = tag[idx, s, d]
    return people[:size].copy()


# --------------------------------------------------------------------------------------------
# Refine
# --------------------------------------------------------------------------------------------

@njit(**_JIT)
def _bounds(top: np.ndarray, lo: np.ndarray, hi: np.ndarray, mean: np.ndarray, start: int, stop: int,
            bound: np.ndarray, q: np.ndarray, uniform: np.ndarray, near2: np.ndarray, far2: np.ndarray) -> None:
    """For the boxes ``start..stop-1`` (heatmap maximum ``top``, tag ranges ``lo``/``hi`` ``[L, n]``), into
    ``bound``, ``q``, ``uniform`` from 0: an upper bound of ``det − rint(dist)``, the smallest rounded
    distance ``q`` the box allows, and whether that is the only one (then ``top − q`` is the exact best).

    Straight-line float32 loops over the children of one node, which the compiler vectorises. Pixels
    compute distances in float32 within a few ulps of the box's, so a 1e-5 relative margin keeps both
    answers safe: ``rint(d)`` lies in ``[ceil(d − ½), floor(d + ½)]``. ``top − q`` is rounded like the
    pixel values, and rounding is monotone, so ``value <= bound`` holds exactly. Beyond 2**22 the
    margin no longer covers rounding, so no box that far is called uniform. An empty box (``lo = +inf``,
    ``hi = −inf``, ``top = −inf``) gets the bound ``−inf``.
    """
    n = stop - start
    zero = np.float32(0)
    for i in range(n):
        near2[i] = zero
        far2[i] = zero
    for d in range(mean.size):
        mu = mean[d]
        for i in range(n):
            below = lo[d, start + i] - mu  # > 0 when the whole range lies above the mean
            above = mu - hi[d, start + i]  # > 0 when it lies below
            far = below if below < above else above  # minus the largest distance along this channel
            near = below if below > above else above
            near = near if near > zero else zero
            near2[i] += near * near
            far2[i] += far * far
    shrink = np.float32(1 - 1e-5)
    grow = np.float32(1 + 1e-5)
    half = np.float32(0.5)
    limit = np.float32(4194304.0)
    for i in range(n):
        r_lo = np.ceil(np.sqrt(near2[i]) * shrink - half)
        r_lo = r_lo if r_lo > zero else zero
        r_hi = np.floor(np.sqrt(far2[i]) * grow + half)
        q[i] = r_lo
        bound[i] = top[start + i] - r_lo
        uniform[i] = (r_lo == r_hi) & (r_hi < limit)


@njit(**_JIT)
def _better(value: np.float32, index: int, best_value: np.float32, best_index: int) -> bool:
    """Whether ``(value, index)`` beats the best so far: a larger value, or the same at an earlier pixel
    (the first maximum in row-major order, as a dense ``argmax``)."""
    return value > best_value or (value == best_value and index < best_index)


@njit(**_JIT)
def _most_promising(bound: np.ndarray, first: np.ndarray, offset: int, done: np.ndarray, n: int) -> int:
    """The child not yet done with the largest bound (the earliest first pixel on ties); -1 if none."""
    best = -1
    for i in range(n):
        if done[i]:
            continue
        if best < 0 or _better(bound[i], first[offset + i], bound[best], first[offset + best]):
            best = i
    return best


@njit(**_JIT)
def _split_cell(det: np.ndarray, tag: np.ndarray, y0: int, x0: int, side: int, lo: np.ndarray, hi: np.ndarray,
                e: int, leaf_top: np.ndarray, leaf_lo: np.ndarray, leaf_hi: np.ndarray, leaf_arg: np.ndarray) -> None:
    """Split a cell's pixels in two at the middle of its widest tag channel (``lo``/``hi``: the cell's
    tag box) into leaves ``e`` and ``e + 1``: heatmap maximum, tag box, first pixel holding the maximum.
    (A cell on the edge of a person holds the person's tags and the background's; its box spans every
    tag in between, its halves' boxes do not.) Both halves hold pixels: the box is wider than 0."""
    height, width = det.shape
    dim = tag.shape[2]
    split = 0
    for d in range(1, dim):
        if hi[d] - lo[d] > hi[split] - lo[split]:
            split = d
    mid = lo[split] + (hi[split] - lo[split]) * np.float32(0.5)
    inf = np.float32(np.inf)
    if dim == 2:  # the flip-test case: running values in registers; a pixel of the other half enters as an
        # infinity, so every update is a plain select (a branch on the half would be mispredicted half the time)
        top_a = top_b = -inf
        arg_a = arg_b = _NO_PIXEL
        lo_a0 = lo_a1 = lo_b0 = lo_b1 = inf
        hi_a0 = hi_a1 = hi_b0 = hi_b1 = -inf
        for y in range(y0, min(y0 + side, height)):
            for x in range(x0, min(x0 + side, width)):
                v = det[y, x]
                t0 = tag[y, x, 0]
                t1 = tag[y, x, 1]
                in_b = (t1 if split == 1 else t0) > mid
                at = y * width + x
                va = -inf if in_b else v
                vb = v if in_b else -inf
                arg_a = at if va > top_a else arg_a
                top_a = va if va > top_a else top_a
                arg_b = at if vb > top_b else arg_b
                top_b = vb if vb > top_b else top_b
                u0 = inf if in_b else t0
                u1 = inf if in_b else t1
                w0 = t0 if in_b else inf
                w1 = t1 if in_b else inf
                lo_a0 = u0 if u0 < lo_a0 else lo_a0
                lo_a1 = u1 if u1 < lo_a1 else lo_a1
                lo_b0 = w0 if w0 < lo_b0 else lo_b0
                lo_b1 = w1 if w1 < lo_b1 else lo_b1
                u0 = -inf if in_b else t0
                u1 = -inf if in_b else t1
                w0 = t0 if in_b else -inf
                w1 = t1 if in_b else -inf
                hi_a0 = u0 if u0 > hi_a0 else hi_a0
                hi_a1 = u1 if u1 > hi_a1 else hi_a1
                hi_b0 = w0 if w0 > hi_b0 else hi_b0
                hi_b1 = w1 if w1 > hi_b1 else hi_b1
        leaf_top[e], leaf_arg[e], leaf_top[e + 1], leaf_arg[e + 1] = top_a, arg_a, top_b, arg_b
        leaf_lo[0, e], leaf_lo[1, e], leaf_hi[0, e], leaf_hi[1, e] = lo_a0, lo_a1, hi_a0, hi_a1
        leaf_lo[0, e + 1], leaf_lo[1, e + 1], leaf_hi[0, e + 1], leaf_hi[1, e + 1] = lo_b0, lo_b1, hi_b0, hi_b1
        return
    for h in range(2):
        leaf_top[e + h] = -inf
        leaf_arg[e + h] = _NO_PIXEL
        for d in range(dim):
            leaf_lo[d, e + h] = inf
            leaf_hi[d, e + h] = -inf
    for y in range(y0, min(y0 + side, height)):
        for x in range(x0, min(x0 + side, width)):
            f = e + (1 if tag[y, x, split] > mid else 0)
            if det[y, x] > leaf_top[f]:
                leaf_top[f] = det[y, x]
                leaf_arg[f] = y * width + x
            for d in range(dim):
                leaf_lo[d, f] = min(leaf_lo[d, f], tag[y, x, d])
                leaf_hi[d, f] = max(leaf_hi[d, f], tag[y, x, d])


@njit(**_JIT)
def _fold(top: np.ndarray, lo: np.ndarray, hi: np.ndarray, first: np.ndarray, size: int,
          parent_top: np.ndarray, parent_lo: np.ndarray, parent_hi: np.ndarray, parent_first: np.ndarray) -> int:
    """Stats of parents holding ``_FANOUT`` consecutive children each (of the first ``size``); returns
    the number of parents."""
    parents = (size + _FANOUT - 1) // _FANOUT
    for p in range(parents):
        c0 = p * _FANOUT
        c1 = min(c0 + _FANOUT, size)
        t = top[c0]
        f = first[c0]
        for c in range(c0 + 1, c1):
            t = max(t, top[c])
            f = min(f, first[c])
        parent_top[p] = t
        parent_first[p] = f
        for d in range(lo.shape[0]):
            a = lo[d, c0]
            b = hi[d, c0]
            for c in range(c0 + 1, c1):
                a = min(a, lo[d, c])
                b = max(b, hi[d, c])
            parent_lo[d, p] = a
            parent_hi[d, p] = b
    return parents


@njit(**_JIT)
def _search_room(cells: int) -> int:
    """Work space :func:`_search` needs on a tree from :func:`_new_tree`: the most top nodes, at least 16."""
    nodes = (2 * cells + _FANOUT - 1) // _FANOUT
    return max((nodes + _FANOUT - 1) // _FANOUT, _FANOUT)


@njit(**_JIT)
def _new_tree(cells: int, dim: int) -> tuple:
    """Room for the search tree of a map with ``cells`` cells (every cell may be split in two): the 21
    arrays :func:`_build_tree` fills and :func:`_search` reads."""
    leaves = 2 * cells
    nodes = (leaves + _FANOUT - 1) // _FANOUT
    tops = (nodes + _FANOUT - 1) // _FANOUT
    return (np.empty(leaves, np.float32), np.empty((dim, leaves), np.float32), np.empty((dim, leaves), np.float32),
            np.empty(leaves, np.int64), np.empty(leaves, np.int64), np.empty(leaves, np.int64),
            np.empty(nodes, np.float32), np.empty((dim, nodes), np.float32), np.empty((dim, nodes), np.float32),
            np.empty(nodes, np.int64),
            np.empty(tops, np.float32), np.empty((dim, tops), np.float32), np.empty((dim, tops), np.float32),
            np.empty(tops, np.int64),
            # unsorted leaves and their sort keys, while building
            np.empty(leaves, np.float32), np.empty((dim, leaves), np.float32), np.empty((dim, leaves), np.float32),
            np.empty(leaves, np.int64), np.empty(leaves, np.int64), np.empty(leaves, np.int64),
            np.empty(leaves, np.float64))


@njit(**_JIT)
def _build_tree(det: np.ndarray, tag: np.ndarray, dmax: np.ndarray, lo: np.ndarray, hi: np.ndarray, side: int,
                tree: tuple) -> tuple[int, int, int]:
    """One joint's search tree, into ``tree``; returns the numbers of leaves, nodes and top nodes.

    Leaves are the cells (``dmax [GH, GW]``, ``lo``/``hi [GH, GW, L]``), except that a cell whose tag
    box is wider than 1 is split in two (:func:`_split_cell`), and that 2×2 cells whose boxes together
    are at most 1 wide (background, mostly) make one leaf. Leaves are sorted by tag centre (a counting
    sort on the sum of the channel centres) and stored channel-major with their heatmap maximum, tag
    box, side, first pixel (a lower bound of their pixel indices, and where their square starts) and,
    for halves, the first pixel holding the maximum (-1 for squares: found by a scan when needed).
    Nodes hold 16 consecutive leaves, top nodes 16 nodes.
    """
    (leaf_top, leaf_lo, leaf_hi, leaf_first, leaf_side, leaf_arg, node_top, node_lo, node_hi, node_first,
     top_top, top_lo, top_hi, top_first, raw_top, raw_lo, raw_hi, raw_first, raw_side, raw_arg, key) = tree
    gh, gw = dmax.shape
    dim = lo.shape[2]
    width = det.shape[1]
    one = np.float32(1)
    n = 0
    for by in range(0, gh, 2):
        for bx in range(0, gw, 2):
            if by + 1 < gh and bx + 1 < gw:
                narrow = True
                for d in range(dim):
                    a = min(min(lo[by, bx, d], lo[by, bx + 1, d]), min(lo[by + 1, bx, d], lo[by + 1, bx + 1, d]))
                    b = max(max(hi[by, bx, d], hi[by, bx + 1, d]), max(hi[by + 1, bx, d], hi[by + 1, bx + 1, d]))
                    raw_lo[d, n] = a
                    raw_hi[d, n] = b
                    narrow = narrow and b - a <= one
                if narrow:
                    raw_top[n] = max(max(dmax[by, bx], dmax[by, bx + 1]), max(dmax[by + 1, bx], dmax[by + 1, bx + 1]))
                    raw_arg[n] = -1
                    raw_first[n] = by * side * width + bx * side
                    raw_side[n] = 2 * side
                    n += 1
                    continue
            for cy in range(by, min(by + 2, gh)):
                for cx in range(bx, min(bx + 2, gw)):
                    wide = False
                    for d in range(dim):
                        wide = wide or hi[cy, cx, d] - lo[cy, cx, d] > one
                    if wide:
                        _split_cell(det, tag, cy * side, cx * side, side, lo[cy, cx], hi[cy, cx], n, raw_top,
                                    raw_lo, raw_hi, raw_arg)
                        count = 2
                    else:
                        raw_top[n] = dmax[cy, cx]
                        raw_arg[n] = -1
                        for d in range(dim):
                            raw_lo[d, n] = lo[cy, cx, d]
                            raw_hi[d, n] = hi[cy, cx, d]
                        count = 1
                    for e in range(n, n + count):
                        raw_first[e] = cy * side * width + cx * side
                        raw_side[e] = side
                    n += count
    kmin = np.inf
    kmax = -np.inf
    for e in range(n):
        s = 0.0
        for d in range(dim):
            s += np.float64(raw_lo[d, e]) + np.float64(raw_hi[d, e])
        key[e] = s
        kmin = min(kmin, s)
        kmax = max(kmax, s)
    scale = (n - 1) / (kmax - kmin) if kmax > kmin else 0.0
    start = np.zeros(n + 1, np.int64)
    bucket = np.empty(n, np.int64)
    for e in range(n):
        b = min(int((key[e] - kmin) * scale), n - 1)
        bucket[e] = b
        start[b + 1] += 1
    for b in range(n):
        start[b + 1] += start[b]
    for e in range(n):
        i = start[bucket[e]]
        start[bucket[e]] = i + 1
        leaf_top[i] = raw_top[e]
        for d in range(dim):
            leaf_lo[d, i] = raw_lo[d, e]
            leaf_hi[d, i] = raw_hi[d, e]
        leaf_first[i] = raw_first[e]
        leaf_side[i] = raw_side[e]
        leaf_arg[i] = raw_arg[e]
    nodes = _fold(leaf_top, leaf_lo, leaf_hi, leaf_first, n, node_top, node_lo, node_hi, node_first)
    tops = _fold(node_top, node_lo, node_hi, node_first, nodes, top_top, top_lo, top_hi, top_first)
    return n, nodes, tops


@njit(**_JIT)
def _open_cell(det: np.ndarray, tag: np.ndarray, mean: np.ndarray, q: np.float32, y0: int, x0: int, side: int,
               best_value: np.float32, best_index: int) -> tuple[np.float32, int]:
    """Fold the cell's pixels into the best ``(value, index)``: ``det − rint(sqrt(Σ (tag − μ)²))`` in
    float32, channels summed in order, as the reference. ``q`` is the smallest rounded distance of
    the leaf being opened: a row whose largest ``det − q`` cannot win is skipped before its tags are
    read (pixels of a split cell's other half are evaluated or skipped along; their own leaf answers
    for them)."""
    height, width = det.shape
    dim = mean.size
    x1 = min(x0 + side, width)
    for y in range(y0, min(y0 + side, height)):
        # (Full indices rather than row views: a view costs a reference count in the inner loop.)
        top = det[y, x0]
        for x in range(x0 + 1, x1):
            top = det[y, x] if det[y, x] > top else top
        if not _better(top - q, y * width + x0, best_value, best_index):
            continue
        # The row's best (first on ties) is folded into the best found, as a sequential scan would;
        # selects, not branches: a data-dependent branch per pixel costs more than its arithmetic.
        row_best = np.float32(-np.inf)
        row_at = x0
        if dim == 2:  # the flip-test case, written out
            m0 = mean[0]
            m1 = mean[1]
            for x in range(x0, x1):
                a = tag[y, x, 0] - m0
                b = tag[y, x, 1] - m1
                g = det[y, x] - np.rint(np.sqrt(a * a + b * b))
                take = g > row_best
                row_at = x if take else row_at
                row_best = g if take else row_best
        else:
            for x in range(x0, x1):
                a = tag[y, x, 0] - mean[0]
                dist2 = a * a
                for d in range(1, dim):
                    a = tag[y, x, d] - mean[d]
                    dist2 = dist2 + a * a
                g = det[y, x] - np.rint(np.sqrt(dist2))
                take = g > row_best
                row_at = x if take else row_at
                row_best = g if take else row_best
        if _better(row_best, y * width + row_at, best_value, best_index):
            best_value = row_best
            best_index = y * width + row_at
    return best_value, best_index


@njit(**_JIT)
def _first_max(det: np.ndarray, top: np.float32, y0: int, x0: int, side: int) -> int:
    """The first pixel of a cell holding its maximum ``top``."""
    height, width = det.shape
    for y in range(y0, min(y0 + side, height)):
        for x in range(x0, min(x0 + side, width)):
            if det[y, x] == top:
                return y * width + x
    return _NO_PIXEL


@njit(**_JIT)
def _search(det: np.ndarray, tag: np.ndarray, mean: np.ndarray, tree: tuple, size: tuple[int, int, int],
            scratch: np.ndarray, done: np.ndarray, uniform: np.ndarray) -> int:
    """The first pixel maximising ``det − rint(‖tag − μ‖)`` on one joint's maps: best-first over top
    nodes, then over their nodes, then their leaves, then pixels (:func:`_build_tree`). ``scratch``
    ``[6, n]``, ``done`` ``[2, n]`` and ``uniform`` ``[n]`` are work space, ``n = _search_room(cells)``."""
    (leaf_top, leaf_lo, leaf_hi, leaf_first, leaf_side, leaf_arg, node_top, node_lo, node_hi, node_first,
     top_top, top_lo, top_hi, top_first, _, _, _, _, _, _, _) = tree
    width = det.shape[1]
    leaves, nodes, tops = size
    top_bound, node_bound, leaf_bound, leaf_q, near2, far2 = (scratch[0], scratch[1], scratch[2], scratch[3],
                                                             scratch[4], scratch[5])
    top_done, node_done = done[0], done[1]
    best_value = np.float32(-np.inf)
    best_index = _NO_PIXEL
    _bounds(top_top, top_lo, top_hi, mean, 0, tops, top_bound, leaf_q, uniform, near2, far2)
    top_done[:tops] = False
    while True:
        t = _most_promising(top_bound, top_first, 0, top_done, tops)
        if t < 0 or not _better(top_bound[t], top_first[t], best_value, best_index):
            break
        top_done[t] = True
        n0 = t * _FANOUT
        n_count = min(n0 + _FANOUT, nodes) - n0
        _bounds(node_top, node_lo, node_hi, mean, n0, n0 + n_count, node_bound, leaf_q, uniform, near2, far2)
        node_done[:n_count] = False
        while True:
            k = _most_promising(node_bound, node_first, n0, node_done, n_count)
            if k < 0 or not _better(node_bound[k], node_first[n0 + k], best_value, best_index):
                break
            node_done[k] = True
            e0 = (n0 + k) * _FANOUT
            e1 = min(e0 + _FANOUT, leaves)
            _bounds(leaf_top, leaf_lo, leaf_hi, mean, e0, e1, leaf_bound, leaf_q, uniform, near2, far2)
            for i in range(e1 - e0):
                e = e0 + i
                if not _better(leaf_bound[i], leaf_first[e], best_value, best_index):
                    continue
                y0 = leaf_first[e] // width
                x0 = leaf_first[e] - y0 * width
                if uniform[i]:  # every pixel is det − q: the best is the first one holding the maximum
                    at = leaf_arg[e] if leaf_arg[e] >= 0 else _first_max(det, leaf_top[e], y0, x0, leaf_side[e])
                    if _better(leaf_top[e] - leaf_q[i], at, best_value, best_index):
                        best_value = leaf_top[e] - leaf_q[i]
                        best_index = at
                else:
                    best_value, best_index = _open_cell(det, tag, mean, leaf_q[i], y0, x0, leaf_side[e],
                                                        best_value, best_index)
    return best_index


@njit(**_JIT)
def refine_people(det: np.ndarray, tag: np.ndarray, people: np.ndarray, dmax: np.ndarray, lo: np.ndarray,
                  hi: np.ndarray) -> np.ndarray:
    """Fill every person's missing joints, as :func:`litepose.decoding.refine.refine_people`.

    ``dmax``, ``lo``, ``hi`` are :func:`cell_stats` of the same maps with cell side :data:`CELL`.
    """
    side = CELL
    num_joints, height, width = det.shape
    dim = tag.shape[3]
    out = people.copy()
    num_people = out.shape[0]
    means = np.zeros((num_people, dim), np.float32)
    for p in range(num_people):
        total = np.zeros(dim, np.float32)
        count = 0
        for j in range(num_joints):
            if out[p, j, 2] > 0:
                x = int(out[p, j, 0])
                y = int(out[p, j, 1])
                for d in range(dim):
                    total[d] = total[d] + tag[j, y, x, d]  # sequential float32 sum in joint order
                count += 1
        if count == 0:
            raise ValueError("refine: every person needs at least one joint with a value > 0")
        for d in range(dim):
            means[p, d] = total[d] / np.float32(count)
    tree = _new_tree(dmax.shape[1] * dmax.shape[2], dim)
    room = _search_room(dmax.shape[1] * dmax.shape[2])
    scratch = np.empty((6, room), np.float32)
    done = np.empty((2, room), np.bool_)
    uniform = np.empty(room, np.bool_)
    quarter = np.float32(0.25)
    half = np.float32(0.5)
    for j in range(num_joints):
        missing = False
        for p in range(num_people):
            missing = missing or out[p, j, 2] == 0
        if not missing:
            continue
        hm = det[j]
        tg = tag[j]
        size = _build_tree(hm, tg, dmax[j], lo[j], hi[j], side, tree)
        for p in range(num_people):
            if out[p, j, 2] != 0:
                continue
            index = _search(hm, tg, means[p], tree, size, scratch, done, uniform)
            y = index // width
            x = index - y * width
            v = hm[y, x]
            if v > 0:
                dx = quarter if hm[y, min(x + 1, width - 1)] > hm[y, max(x - 1, 0)] else -quarter
                dy = quarter if hm[min(y + 1, height - 1), x] > hm[max(y - 1, 0), x] else -quarter
                out[p, j, 0] = (np.float32(x) + half) + dx
                out[p, j, 1] = (np.float32(y) + half) + dy
                out[p, j, 2] = v
    return out

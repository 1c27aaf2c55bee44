"""Minimum-cost assignment for tag matching, with the official tie-breaking.

The official code calls the ``munkres`` package (1.1.x); :func:`munkres_assignment` returns exactly its
choice among equal-cost assignments, vectorised. ``"scipy"`` is the faster alternative that may break
ties differently (see :mod:`litepose.decoding.grouping`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["ASSIGNMENT_SOLVERS", "munkres_assignment"]


def munkres_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment that returns exactly what the ``munkres`` 1.1.x package returns.

    That package (used by the official parser) pads a rectangular matrix with zeros to a square and
    runs Munkres' algorithm with a particular scan order; when several assignments tie, its choice
    follows from that order. This is the same algorithm, vectorised with NumPy, with the same scan
    order and the same floating-point updates.

    Args:
        cost: ``[R, C]`` cost matrix (finite).

    Returns:
        ``(row, col)`` pairs sorted by row, one per row when ``R <= C``, one per column otherwise.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost: expected a 2-D matrix, got shape {list(cost.shape)}")
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return []
    if not np.isfinite(cost).all():
        raise ValueError("cost: contains NaN or infinite values")
    n = max(rows, cols)
    c = np.zeros((n, n))
    c[:rows, :cols] = cost
    c -= c.min(axis=1, keepdims=True)  # step 1

    star_in_row = np.full(n, -1)
    star_in_col = np.full(n, -1)
    zr, zc = np.nonzero(c == 0)  # step 2: the first free zero of each row, row by row
    for r, col in zip(zr.tolist(), zc.tolist(), strict=True):
        if star_in_row[r] < 0 and star_in_col[col] < 0:
            star_in_row[r] = col
            star_in_col[col] = r

    prime_in_row = np.full(n, -1)
    while True:
        col_cov = star_in_col >= 0  # step 3
        if col_cov.all():
            break
        row_cov = np.zeros(n, dtype=bool)
        r0 = c0 = 0
        while True:  # step 4, with step 6 whenever no uncovered zero is left
            free = (c == 0) & ~row_cov[:, None] & ~col_cov[None, :]
            rows_with = np.flatnonzero(free.any(axis=1))
            if rows_with.size == 0:
                low = c[np.ix_(~row_cov, ~col_cov)].min()
                c[row_cov] += low
                c[:, ~col_cov] -= low
                r0 = c0 = 0
                continue
            later = rows_with[rows_with >= r0]
            zrow = int(later[0] if later.size else rows_with[0])
            zcols = np.flatnonzero(free[zrow])
            before = zcols[zcols < c0]
            zcol = int(before[-1] if before.size else zcols[-1])  # the last zero of a cyclic scan from c0
            prime_in_row[zrow] = zcol
            star = int(star_in_row[zrow])
            if star < 0:
                break
            row_cov[zrow] = True
            col_cov[star] = False
            r0, c0 = zrow, star
        # Step 5: walk prime -> star in its column -> prime in that star's row ..., then swap them.
        path_primes = [(zrow, zcol)]
        path_stars = []
        col = zcol
        while star_in_col[col] >= 0:
            r = int(star_in_col[col])
            path_stars.append((r, col))
            col = int(prime_in_row[r])
            path_primes.append((r, col))
        for r, col in path_stars:
            star_in_row[r] = -1
            star_in_col[col] = -1
        for r, col in path_primes:
            star_in_row[r] = col
            star_in_col[col] = r
        prime_in_row[:] = -1
    return [(r, int(star_in_row[r])) for r in range(rows) if star_in_row[r] < cols]


def _scipy_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(cost)
    return list(zip(r.tolist(), c.tolist(), strict=True))


#: ``assignment=`` names accepted by :func:`~litepose.decoding.grouping.decode`.
ASSIGNMENT_SOLVERS: dict[str, Callable[[np.ndarray], list[tuple[int, int]]]] = {
    "munkres": munkres_assignment,
    "scipy": _scipy_assignment,
}

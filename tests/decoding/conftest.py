"""The decoder's two backends: tests taking ``backend`` run on both (numba's is skipped where the ``fast``
extra is not installed)."""

from __future__ import annotations

import pytest

from litepose.decoding.grouping import numba_available


@pytest.fixture(params=["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_available(), reason="numba (the 'fast' extra) is not installed"))])
def backend(request: pytest.FixtureRequest) -> str:
    """A ``decode(..., backend=...)`` value: ``"numpy"``, then ``"numba"``."""
    return request.param

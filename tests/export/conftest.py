"""Fixtures: a tiny search space whose latency tables build in about a second, and a tiny network."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from litepose.models.litepose import LitePose
from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec, BlockSpec, StageSpec

# The supernet's layout (stage strides 2/2/2/1, runs of identical blocks, fusion head) at a fraction of
# its widths and depth.
TINY_MAX = ArchSpec(16, tuple(StageSpec(c, s, tuple(BlockSpec(2, 3) for _ in range(n)))
                              for c, n, s in ((16, 2, 2), (24, 2, 2), (32, 3, 2), (48, 2, 1))),
                    (16, 16, 16), 64, name="tiny-max")


@pytest.fixture(scope="session")
def make_space() -> Callable[..., SearchSpace]:
    """``make_space(resolutions=(64, 96), name="tiny")``: two widths per gene around ``TINY_MAX``."""
    def make(resolutions: tuple[int, ...] = (64, 96), name: str = "tiny") -> SearchSpace:
        return SearchSpace(name, resolutions, (1.0, 0.5), TINY_MAX)

    return make


@pytest.fixture
def space(make_space: Callable[..., SearchSpace]) -> SearchSpace:
    return make_space()


@pytest.fixture
def tiny_model(space: SearchSpace) -> LitePose:
    return LitePose(space.min_arch(), num_keypoints=5).eval()

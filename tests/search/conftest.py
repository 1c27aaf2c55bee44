"""Tiny search problems shared by the search tests: a 512-arch space at 64/96-pixel inputs, whose costs
are profiled once per session (every search here reuses one cost cache)."""

from __future__ import annotations

import pytest

from litepose.models.space import SearchSpace, get_search_space
from litepose.search.config import EvolutionConfig
from litepose.search.constraints import CostModel

TINY_RESOLUTIONS = (64, 96)
TINY_MULTIPLIERS = (1.0, 0.5)


@pytest.fixture(scope="session")
def tiny_space() -> SearchSpace:
    base = get_search_space("official")
    return SearchSpace("tiny", TINY_RESOLUTIONS, TINY_MULTIPLIERS, base.maximum)


@pytest.fixture(scope="session")
def cost_model() -> CostModel:
    """One cost cache for the session (costs are deterministic; profiling is the slow part)."""
    return CostModel(14)


@pytest.fixture
def tiny_evolution() -> EvolutionConfig:
    return EvolutionConfig(population=6, generations=3, mutate_prob=0.3, parent_ratio=0.5, mutation_ratio=0.5,
                           seed=3, max_tries=500)

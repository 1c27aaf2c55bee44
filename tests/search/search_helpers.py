"""Helpers of the search tests: budgets inside a space's range, and an evaluator that records its calls."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec
from litepose.search.config import CostKind
from litepose.search.constraints import Budget, CostModel
from litepose.search.proxy import proxy_fitness


def middle_budget(space: SearchSpace, costs: CostModel, kind: CostKind, fraction: float = 0.5) -> Budget:
    """A budget ``fraction`` of the way from the smallest to the largest sub-network's cost."""
    low, high = costs.cost(space.min_arch(), kind), costs.cost(space.max_arch(), kind)
    return Budget(kind, low + fraction * (high - low))


class CountingEvaluator:
    """The proxy fitness, recording every batch it is asked to evaluate."""

    def __init__(self, space: SearchSpace, score: Callable[[ArchSpec], float] | None = None) -> None:
        self.space = space
        self.score = score or (lambda a: proxy_fitness(a, space))
        self.batches: list[list[ArchSpec]] = []

    def __call__(self, archs: Sequence[ArchSpec]) -> list[float]:
        self.batches.append(list(archs))
        return [self.score(a) for a in archs]

    @property
    def evaluated(self) -> list[ArchSpec]:
        return [a for batch in self.batches for a in batch]

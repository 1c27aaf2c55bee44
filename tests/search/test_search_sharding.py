"""evaluate_sharded: each process evaluates archs[rank::world], every process gets all accuracies in order;
a failing evaluator stops every process (in-process, with a fake gather standing in for torch.distributed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from search_helpers import CountingEvaluator

from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec
from litepose.search.proxy import proxy_fitness
from litepose.search.sharding import ShardedEvaluator, evaluate_sharded
from litepose.training.distributed import PeerFailed


def run_ranks(archs: Sequence[ArchSpec], world: int, evaluators: list[Any]) -> list[Any]:
    """Every rank's outcome (accuracies or the exception it raised), as if run at once: the fake gather of
    rank r returns what every rank contributes (computed by running each rank's share first)."""
    shares: list[Any] = []
    for rank in range(world):
        try:
            shares.append(evaluators[rank](list(archs[rank::world])))
        except Exception:
            shares.append(None)
    outcomes: list[Any] = []
    for rank in range(world):
        def gather(mine: Any, rank: int = rank) -> list[Any]:
            assert mine == shares[rank]  # what this rank contributes is what the others receive
            return list(shares)

        try:
            outcomes.append(evaluate_sharded(archs, evaluators[rank], rank=rank, world_size=world, gather=gather))
        except Exception as err:
            outcomes.append(err)
    return outcomes


@pytest.mark.parametrize(("n", "world"), [(7, 2), (2, 3), (0, 2), (5, 1)])
def test_every_rank_gets_every_accuracy_in_order(n: int, world: int, tiny_space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    archs = [tiny_space.sample(rng) for _ in range(n)]
    evaluators = [CountingEvaluator(tiny_space) for _ in range(world)]
    outcomes = run_ranks(archs, world, evaluators)
    expected = [proxy_fitness(a, tiny_space) for a in archs]
    assert all(o == expected for o in outcomes)
    for rank, ev in enumerate(evaluators):  # each rank evaluated its share, once per call of run_ranks' parts
        assert ev.evaluated[: len(archs[rank::world])] == list(archs[rank::world])


def test_a_failing_rank_stops_every_rank(tiny_space: SearchSpace) -> None:
    rng = np.random.default_rng(1)
    archs = [tiny_space.sample(rng) for _ in range(4)]

    def broken(batch: Sequence[ArchSpec]) -> list[float]:
        raise OSError("cannot read the calibration images")

    outcomes = run_ranks(archs, 2, [CountingEvaluator(tiny_space), broken])
    assert isinstance(outcomes[1], OSError)  # the failing rank reports its own error
    assert isinstance(outcomes[0], PeerFailed) and "process 1" in str(outcomes[0])


def test_wrong_count_is_an_error_on_one_process(tiny_space: SearchSpace) -> None:
    sharded = ShardedEvaluator(lambda batch: [0.5], rank=0, world_size=1, gather=lambda x: [x])
    with pytest.raises(ValueError, match="returned 1 accuracies for 2 architectures"):
        sharded([tiny_space.min_arch(), tiny_space.max_arch()])

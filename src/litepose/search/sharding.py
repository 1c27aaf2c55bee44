"""Splitting a generation's evaluations across ``torchrun`` processes.

Every process runs the same evolution (same seed, same proposals, same decisions); only the
evaluations are divided: process ``rank`` evaluates ``archs[rank::world_size]``, and one all-gather
hands every process all the accuracies, in the original order. The gather is a parameter (the CLI
passes :func:`litepose.training.distributed.all_gather_objects`), so the splitting is tested in one
process with a fake gather.

A process whose evaluator fails still takes part in the gather (otherwise the others would wait in it
forever); then every process stops: the lowest failing rank re-raises its own error, every other
process raises :class:`~litepose.training.distributed.PeerFailed`, which the CLI turns into a quiet exit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from litepose.models.spec import ArchSpec
from litepose.training.distributed import PeerFailed

__all__ = ["Evaluator", "Gather", "ShardedEvaluator", "evaluate_sharded"]

#: A batch of architectures -> one accuracy each (the search's only view of evaluation).
Evaluator = Callable[[Sequence[ArchSpec]], list[float]]
#: Every process's object, in rank order, on every process.
Gather = Callable[[Any], list[Any]]


def evaluate_sharded(archs: Sequence[ArchSpec], evaluate: Evaluator, *, rank: int, world_size: int,
                     gather: Gather) -> list[float]:
    """Evaluate ``archs[rank::world_size]`` here, gather every share, return all accuracies in order.

    Raises:
        ValueError: the evaluator returned the wrong number of accuracies or a non-finite one.
        PeerFailed: another process's evaluator failed (that process reports why).
    """
    mine = list(archs[rank::world_size])
    scores: list[float] | None = None
    error: BaseException | None = None
    try:
        scores = _checked(evaluate(mine) if mine else [], mine)
    except Exception as err:  # every process must reach the gather, whatever happened here
        error = err
    shares = gather(scores)
    failed = [r for r, share in enumerate(shares) if share is None]
    if failed:
        if error is not None and rank == failed[0]:
            raise error
        raise PeerFailed(f"process {failed[0]} failed to evaluate its candidates; see its message")
    out: list[float] = [0.0] * len(archs)
    for r, share in enumerate(shares):
        out[r::world_size] = share
    return out


def _checked(scores: Sequence[float], archs: Sequence[ArchSpec]) -> list[float]:
    values = list(scores)
    if len(values) != len(archs):
        raise ValueError(f"the evaluator returned {len(values)} accuracies for {len(archs)} architectures")
    out = []
    for value, arch in zip(values, archs, strict=True):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"the evaluator returned {value!r} for {arch.name}")
        out.append(number)
    return out


@dataclass(frozen=True)
class ShardedEvaluator:
    """An :data:`Evaluator` that splits each batch across processes with :func:`evaluate_sharded`."""

    evaluate: Evaluator
    rank: int
    world_size: int
    gather: Gather

    def __call__(self, archs: Sequence[ArchSpec]) -> list[float]:
        return evaluate_sharded(archs, self.evaluate, rank=self.rank, world_size=self.world_size,
                                gather=self.gather)

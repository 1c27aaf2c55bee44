"""EpochSampler: DistributedSampler's order, and skipping in global samples across a change of batch or world size."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

from litepose.training.distributed import DistInfo, EpochSampler


def shares(n: int, world: int, epoch: int, skip: int = 0) -> list[list[int]]:
    out = []
    for rank in range(world):
        sampler = EpochSampler(range(n), DistInfo(rank, world), seed=3)  # type: ignore[arg-type]
        sampler.set_epoch(epoch)
        sampler.skip_next(skip)
        keys = list(sampler)
        assert all(e == epoch for e, _ in keys)
        out.append([i for _, i in keys])
    return out


@pytest.mark.parametrize(("n", "world"), [(10, 1), (10, 2), (11, 3), (7, 4)])
def test_without_skip_the_order_is_distributed_samplers(n: int, world: int) -> None:
    for rank, mine in enumerate(shares(n, world, epoch=5)):
        reference = DistributedSampler(range(n), num_replicas=world, rank=rank, seed=3)  # type: ignore[arg-type]
        reference.set_epoch(5)
        assert mine == list(reference)


@pytest.mark.parametrize(("before", "after"), [((2, 3), (1, 2)), ((1, 4), (2, 1)), ((3, 1), (2, 2)),
                                               ((2, 2), (2, 2))])
def test_resumed_epoch_trains_on_the_unseen_samples_with_another_batch_or_world(
        before: tuple[int, int], after: tuple[int, int]) -> None:
    n, steps = 24, 2
    world, batch = before
    consumed = [i for share in shares(n, world, epoch=1) for i in share[:steps * batch]]
    rest = [i for share in shares(n, after[0], epoch=1, skip=steps * batch * world) for i in share]
    assert sorted(consumed + rest) == list(range(n))  # every sample exactly once in the epoch
    assert len(set(consumed)) == len(consumed) == steps * batch * world


def test_skip_applies_to_the_next_epoch_only() -> None:
    sampler = EpochSampler(range(6), DistInfo(0, 1), seed=0)  # type: ignore[arg-type]
    sampler.skip_next(4)
    assert len(list(sampler)) == 2 and len(list(sampler)) == 6
    assert torch.equal(torch.tensor(sorted(i for _, i in sampler)), torch.arange(6))

"""Everything that touches ``torch.distributed`` lives here, so the trainer reads the same on one
process and under ``torchrun``.

``torchrun --nproc_per_node N -m litepose train CFG.yaml`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
in the environment; :func:`init_distributed` sees them and starts a process group (NCCL on CUDA, gloo on
CPU). Without them every helper here is a no-op, so single-process training needs no special case.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

__all__ = [
    "DistInfo",
    "EpochSampler",
    "PeerFailed",
    "agree_max",
    "all_gather_objects",
    "barrier",
    "broadcast_buffers",
    "broadcast_object",
    "cleanup",
    "init_distributed",
    "raise_if_any_failed",
    "reduce_mean",
    "select_device",
    "wrap_model",
]

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process logs, draws progress bars and writes files."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def select_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    pref = preference.lower()
    if pref == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"train.device={preference!r} but CUDA is not available on this machine")
        # Under torchrun every process must drive its own GPU, whatever index the config names.
        return torch.device("cuda", local_rank if ":" not in pref or _env_int("WORLD_SIZE", 1) > 1
                            else int(pref.split(":", 1)[1]))
    if pref == "cpu":
        return torch.device("cpu")
    raise ValueError(f"train.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {preference!r}")


def init_distributed(device_preference: str = "auto", *, timeout_minutes: float = 30.0
                     ) -> tuple[DistInfo, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment (if any).

    Returns:
        This process's :class:`DistInfo` and the device it should compute on.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    device = select_device(device_preference, local_rank)
    if world <= 1:
        return DistInfo(0, 1, 0), device
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=timeout_minutes),
                                **({"device_id": device} if device.type == "cuda" else {}))
    return DistInfo(rank, world, local_rank), device


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if _active():
        dist.barrier()


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device, *, sync_bn: bool = False) -> nn.Module:
    """DDP-wrap ``model`` under torchrun (BN -> SyncBN if asked, on CUDA only); unchanged otherwise."""
    if not info.is_distributed:
        return model
    if sync_bn and device.type == "cuda":  # SyncBatchNorm has no CPU implementation
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None)


def reduce_mean(values: Mapping[str, float], device: torch.device) -> dict[str, float]:
    """Average scalar metrics over all processes (identity on one process)."""
    if not _active() or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist(), strict=True)}


def agree_max(values: Tensor) -> list[float]:
    """The element-wise maximum of ``values`` over all processes, identical on every rank.

    One all-reduce (and one device-to-host copy) for any number of decisions: the trainer packs its
    time-budget progress and its non-finite flag into one call per check, so that every rank takes the
    same learning rate and stops at the same step.
    """
    if _active():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return [float(v) for v in values.tolist()]


@torch.no_grad()
def broadcast_buffers(modules: Iterable[nn.Module], src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) into every process's ``modules``.

    DDP broadcasts buffers at the start of each forward, but every rank then updates them with its own
    batch: after the last step they differ. Calling this before validating and saving makes the
    validated model on every rank the one that is saved.
    """
    if not _active():
        return
    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=src)


class PeerFailed(RuntimeError):
    """Another process of the job failed; that process reports the error (this one stays quiet)."""


def raise_if_any_failed(error: BaseException | None) -> None:
    """Make every process stop when any has ``error``, instead of leaving the others in a collective.

    Call it at a point that every process reaches (it is a collective). The lowest failing rank
    re-raises its own error (the one line the user sees); every other process raises
    :class:`PeerFailed`, which the CLI turns into a quiet non-zero exit.
    """
    if not _active():
        if error is not None:
            raise error
        return
    failed = [rank for rank, bad in enumerate(all_gather_objects(error is not None)) if bad]
    if not failed:
        return
    if error is not None and dist.get_rank() == failed[0]:
        raise error
    raise PeerFailed(f"process {failed[0]} failed; see its message")


def broadcast_object(obj: T, src: int = 0) -> T:
    """``obj`` from rank ``src`` on every process."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_objects(obj: T) -> list[T]:
    """Every process's ``obj``, in rank order, on every process."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


class EpochSampler(DistributedSampler):
    """A :class:`DistributedSampler` that yields ``(epoch, index)`` pairs and can skip ahead.

    The epoch travels with each index so that a dataset wrapper can seed augmentation from
    ``(seed, epoch, index)`` inside persistent workers: a sample's augmentation then depends on
    neither the worker that draws it nor on what ran before, which is what makes ``--resume``
    reproduce an uninterrupted run exactly. On one process it is simply a seeded shuffle.

    ``skip_next(n)`` drops the first ``n`` samples of the next epoch's *global* order (resuming
    part-way through an epoch). The epoch's permutation does not depend on the number of processes,
    and ``k`` steps of batch ``B`` on ``W`` processes consume exactly its first ``k * B * W`` entries,
    so a run resumed with another batch size or process count continues with the samples not yet seen.
    """

    def __init__(self, dataset: Dataset, info: DistInfo, *, shuffle: bool = True, seed: int = 0) -> None:
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle,
                         seed=seed, drop_last=False)
        self._skip = 0

    def skip_next(self, num_samples: int) -> None:
        """Leave out the first ``num_samples`` entries of the next epoch's global order."""
        self._skip = max(0, int(num_samples))

    def global_order(self) -> list[int]:
        """This epoch's order of all dataset indices (the same on every process)."""
        n = len(self.dataset)  # type: ignore[arg-type]
        if not self.shuffle:
            return list(range(n))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return torch.randperm(n, generator=g).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        order = self.global_order()
        skip, self._skip = min(self._skip, len(order)), 0
        rest = order[skip:]
        # Pad to a multiple of the process count with the epoch's first entries, as DistributedSampler
        # does (without a skip the result is exactly DistributedSampler's).
        padding = -len(rest) % self.num_replicas
        if padding and order:
            rest += (order * math.ceil(padding / len(order)))[:padding]
        epoch = self.epoch
        return iter([(epoch, int(i)) for i in rest[self.rank::self.num_replicas]])

"""Training data: where the sets are, the augmented training set, and its distributed loader.

The data order is a seeded :class:`~litepose.training.distributed.EpochSampler` shuffle per epoch; each
sample's augmentation is seeded from ``(seed, epoch, index)`` inside the worker that loads it (the
sampler hands the epoch to the worker with every index), so a resumed run sees the same samples with
the same augmentation as the uninterrupted one, whatever the number of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from litepose.data.dataset import KeypointDataset
from litepose.skeleton import Skeleton, load_skeleton
from litepose.training import distributed as D
from litepose.training.config import Config, ConfigError

__all__ = ["DataPaths", "EpochSeeded", "build_train_dataset", "build_train_loader", "epoch_samples", "resolve_data"]


@dataclass(frozen=True)
class DataPaths:
    """Resolved dataset locations and skeleton (``skeleton`` is ``None``: take it from the train JSON)."""

    train_ann: Path
    train_images: Path
    val_ann: Path | None
    val_images: Path | None
    skeleton: Skeleton | None


def resolve_data(cfg: Config) -> DataPaths:
    """Combine ``data.dataset`` (a dataset YAML) with the explicit ``data.*`` paths and skeleton."""
    d = cfg.data
    train_ann, train_images, val_ann, val_images = d.train_ann, d.train_images, d.val_ann, d.val_images
    skeleton: Skeleton | None = None
    if d.dataset is not None:
        from litepose.data.config_dataset import load_dataset_config

        ds = load_dataset_config(d.dataset)
        if ds.train is not None:
            train_ann = train_ann or str(ds.train.ann_file)
            train_images = train_images or str(ds.train.image_dir)
        if ds.val is not None:
            val_ann = val_ann or str(ds.val.ann_file)
            val_images = val_images or str(ds.val.image_dir)
        skeleton = ds.skeleton
    if d.skeleton is not None:
        skeleton = load_skeleton(d.skeleton)
    if not train_ann or not train_images:
        raise ConfigError("data: no training set; set data.dataset (a dataset YAML) or data.train_ann and "
                          "data.train_images")
    if (val_ann is None) != (val_images is None):
        raise ConfigError("data: data.val_ann and data.val_images must be given together")
    return DataPaths(Path(train_ann), Path(train_images), Path(val_ann) if val_ann else None,
                     Path(val_images) if val_images else None, skeleton)


class EpochSeeded(Dataset):
    """Feeds :class:`~litepose.training.distributed.EpochSampler` keys ``(epoch, index)`` to a dataset.

    Setting the epoch inside the worker (rather than on the main process's copy) is what makes the
    augmentation follow the epoch even with persistent workers.
    """

    def __init__(self, dataset: KeypointDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        if self.dataset.epoch != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


def _seed_worker(worker_id: int) -> None:
    # Python's and NumPy's global RNGs are not reseeded by the DataLoader in every PyTorch version;
    # derive them from the per-worker torch seed so no two workers share a stream.
    import random

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_train_dataset(cfg: Config, paths: DataPaths, input_size: int) -> KeypointDataset:
    """The augmented training set (targets at strides 4 and 2 of ``input_size``)."""
    d = cfg.data
    return KeypointDataset(paths.train_ann, paths.train_images, paths.skeleton, input_size=input_size,
                           output_strides=(4, 2), train=True, augment=d.augment, max_people=d.max_people,
                           sigma=d.sigma, heatmap_center=d.heatmap_center, skip_bad=d.skip_bad,
                           seed=cfg.train.seed)


def build_train_loader(dataset: KeypointDataset, cfg: Config, info: D.DistInfo, device: torch.device
                       ) -> tuple[DataLoader, D.EpochSampler]:
    """A DataLoader over ``dataset`` with a seeded distributed sampler, workers and pinned memory."""
    sampler = D.EpochSampler(dataset, info, shuffle=True, seed=cfg.train.seed)
    per_rank = math.ceil(len(dataset) / info.world_size)
    bs = cfg.optim.batch_size
    workers = cfg.data.workers
    generator = torch.Generator()
    generator.manual_seed(cfg.train.seed)
    loader = DataLoader(
        EpochSeeded(dataset),
        batch_size=bs,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        # A partial last batch is dropped (BatchNorm statistics of a handful of images are noisy),
        # unless the data are so few that nothing would be left.
        drop_last=per_rank >= bs,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=_seed_worker if workers > 0 else None,
        generator=generator,
    )
    return loader, sampler


def epoch_samples(loader: DataLoader, info: D.DistInfo) -> int:
    """Samples one epoch of ``loader`` trains on, summed over all processes (after ``drop_last``)."""
    sampler = loader.sampler
    per_rank = len(sampler)  # type: ignore[arg-type]
    batch = loader.batch_size or 1
    if loader.drop_last:
        per_rank = (per_rank // batch) * batch
    return per_rank * info.world_size

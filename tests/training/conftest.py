from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny synthetic COCO-17 dataset (8 train, 4 val images of 96x96, one to three big people)."""
    from litepose.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("tiny_synth")
    kw: dict[str, Any] = {"image_size": (96, 96), "min_people": 1, "max_people": 3, "min_height": 40,
                          "max_height": 90, "crowd_prob": 0.0}
    train = generate_dataset(root / "train", 8, "coco", seed=11, **kw)
    val = generate_dataset(root / "val", 4, "coco", seed=12, **kw)
    return {"train_ann": train, "train_images": root / "train" / "images",
            "val_ann": val, "val_images": root / "val" / "images", "root": root}


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(str(x) for x in v) + "]"
    return str(v)


@pytest.fixture
def tiny_overrides(tiny_synth: dict[str, Path]) -> Callable[..., list[str]]:
    """``--set`` overrides of a tiny deterministic CPU run: input 64, batch 4, one thread, no workers."""

    def make(out: Path, *, val: bool = False, **extra: Any) -> list[str]:
        sets: dict[str, Any] = {
            "data.train_ann": tiny_synth["train_ann"], "data.train_images": tiny_synth["train_images"],
            "data.input_size": 64, "data.workers": 0, "optim.batch_size": 4, "optim.epochs": 2,
            "optim.lr": 2e-3, "optim.milestones": [100], "train.output_dir": out, "train.threads": 1,
            "train.log_interval": 1, "train.device": "cpu",
        }
        if val:
            sets.update({"data.val_ann": tiny_synth["val_ann"], "data.val_images": tiny_synth["val_images"]})
        sets.update({k.replace("__", "."): v for k, v in extra.items()})
        return [f"{k}={_fmt(v)}" for k, v in sets.items()]

    return make

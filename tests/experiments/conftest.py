from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic set in the `litepose synth` layout: train/ (8 images) and val/ (4), 96x96, COCO-17."""
    from litepose.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("experiment-data")
    kw: dict[str, Any] = {"image_size": (96, 96), "min_people": 1, "max_people": 2, "min_height": 50,
                          "max_height": 90, "crowd_prob": 0.0}
    generate_dataset(root / "train", 8, "coco", seed=11, **kw)
    generate_dataset(root / "val", 4, "coco", seed=12, **kw)
    return root


@pytest.fixture(scope="session")
def tiny_arch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small LitePose arch JSON (the kernel and fusion experiments' --arch)."""
    from litepose.models.zoo import get_arch

    path = tmp_path_factory.mktemp("arch") / "tiny.json"
    spec = get_arch("litepose-xs").scaled(0.5)
    raw = spec.to_official()
    for stage in raw["backbone_setting"]:  # two blocks per stage
        stage["num_blocks"] = 2
        stage["block_setting"] = stage["block_setting"][:2]
    path.write_text(json.dumps(raw))
    return path


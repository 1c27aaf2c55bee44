"""Fixtures: a tiny LitePose trained (over-fitted) on two synthetic images and their mirrors, and its
exported files.

A trained model matters for backend parity: a random network's heatmaps are flat noise whose peaks
swap places under float rounding, while a trained one's people stand out as they do in real use.
Training takes 300 Adam steps on one batch of four 64x64 images (two and their mirrors; about 10 s on a
quiet 2-core CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from runtime_helpers import SIZE, batch_one, tiny_arch

STEPS = 300


def mirrored(item: dict[str, Any], flip_index: Sequence[int]) -> dict[str, Any]:
    """A :class:`~litepose.data.dataset.KeypointDataset` item of the horizontally mirrored image: maps
    flipped along W with left/right joints swapped, the packed tag-loss indices ``k·r² + y·r + x`` moved
    to ``flip_index[k]`` and ``r − 1 − x``."""
    import torch

    index = torch.as_tensor(list(flip_index))
    joints = []
    for packed in item["joints"]:
        res = item["masks"][len(joints)].shape[-1]
        k, rest = packed[..., 0] // (res * res), packed[..., 0] % (res * res)
        y, x = rest // res, rest % res
        moved = torch.zeros_like(packed)
        moved[:, index] = torch.stack([index[k] * res * res + y * res + (res - 1 - x), packed[..., 1]], dim=-1)
        moved[..., 0] *= moved[..., 1] > 0  # unused slots stay zero
        joints.append(moved)
    return {"image": item["image"].flip(-1), "heatmaps": tuple(h[index].flip(-1) for h in item["heatmaps"]),
            "masks": tuple(m.flip(-1) for m in item["masks"]), "joints": tuple(joints)}


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """``model`` (eval mode, COCO-17), the ``images`` it was trained on (two RGB arrays and their mirrors)
    and the ``paths`` of the two."""
    import torch

    from litepose.data.dataset import KeypointDataset
    from litepose.data.synthetic import generate_dataset
    from litepose.inference.preprocess import load_image
    from litepose.models.litepose import LitePose
    from litepose.training.losses import LitePoseLoss

    root = tmp_path_factory.mktemp("trained")
    ann = generate_dataset(root, 2, "coco", seed=3, image_size=(SIZE, SIZE), min_people=2, max_people=2,
                           min_height=0.55 * SIZE, max_height=0.85 * SIZE, crowd_prob=0.0)
    data = KeypointDataset(ann, root / "images", input_size=SIZE, train=False, max_people=4, sigma=2.0)
    # each image and its mirror: the flip test then merges two sensible passes, as with a real model
    items = [item for i in range(len(data)) for item in (data[i], mirrored(data[i], data.skeleton.flip_index))]
    images = torch.stack([item["image"] for item in items])
    targets = [[torch.stack([item[key][s] for item in items]) for s in range(2)]
               for key in ("heatmaps", "masks", "joints")]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = LitePose(tiny_arch(), num_keypoints=17)
        loss_fn = LitePoseLoss(17, ae_factors=((1e-2, 1e-2), None))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        model.train()
        for _ in range(STEPS):
            loss = loss_fn(model(images), *targets)
            optimizer.zero_grad()
            loss.total.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(previous)
    model.eval()
    paths = sorted((root / "images").glob("*.jpg"))
    images = [load_image(p) for p in paths]
    return SimpleNamespace(model=model, images=images + [np.ascontiguousarray(im[:, ::-1]) for im in images],
                           paths=paths, root=root)


@pytest.fixture(scope="session")
def exported(trained: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The trained model written by ``litepose.export.export_model``: ``onnx`` and ``xml`` (fp32, dynamic
    height and width), ``static_onnx`` (fixed 64x64, batch fixed at 1) and ``static_xml`` (fixed 64x64)."""
    from litepose.export import export_model

    out = tmp_path_factory.mktemp("exported")
    files = SimpleNamespace(onnx=out / "tiny.onnx", xml=out / "tiny.xml", static_xml=out / "tiny64.xml")
    export_model(trained.model, files.onnx, format="onnx", input_size=SIZE, dynamic=True)
    export_model(trained.model, files.xml, format="openvino", input_size=SIZE, dynamic=True)
    export_model(trained.model, files.static_xml, format="openvino", input_size=SIZE)
    export_model(trained.model, out / "tiny64.onnx", format="onnx", input_size=SIZE)
    files.static_onnx = batch_one(out / "tiny64.onnx", out / "tiny64-b1.onnx")
    return files


"""Helpers of the runtime tests: the tiny architecture, canvases, a batch-1 ONNX copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SIZE = 64  # side of the training images and of the network input


def tiny_arch(size: int = SIZE) -> Any:
    """A LitePose ``ArchSpec`` of ~175k parameters (LitePose-XS's layout, narrower and shallower)."""
    from litepose.models.spec import ArchSpec, BlockSpec, StageSpec

    stages = tuple(StageSpec(c, s, tuple(BlockSpec(4, 5) for _ in range(n)))
                   for c, n, s in ((16, 1, 2), (24, 2, 2), (32, 2, 2), (48, 2, 1)))
    return ArchSpec(16, stages, (32, 32, 32), size, name="tiny")


def padded(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` on a black canvas at the top-left: the same people, another aspect ratio."""
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[:image.shape[0], :image.shape[1]] = image
    return canvas


def batch_one(path: Path, out: Path) -> Path:
    """A copy of the ONNX file ``path`` whose batch axis is fixed at 1 (as files exported by other tools are)."""
    import onnx

    proto = onnx.load(path)
    for value in (*proto.graph.input, *proto.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = 1
    onnx.save(proto, out)
    return out

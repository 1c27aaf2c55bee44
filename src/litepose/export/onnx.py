"""ONNX export of LitePose (and of any module, for per-piece timing), checked with onnxruntime.

:func:`export_onnx` writes a LitePose as an ONNX graph with one input ``image`` ``[1, 3, H, W]``
and the two raw outputs ``stride4`` ``[1, 2J, H/4, W/4]`` and ``stride2`` ``[1, J, H/2, W/2]``
(the same as :class:`~litepose.models.LitePoseOutput`), written atomically, after checking that
onnxruntime reproduces PyTorch's outputs within ``1e-4`` relative error (max absolute difference
over the largest magnitude of each output). This is the minimal export the latency measurement
needs; BatchNorm folding, metadata and reduced precision belong to the deployment issue.

The TorchScript-based exporter is used (``dynamo=False``): it needs no extra package, and LitePose
is a static graph it traces exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from litepose.io import atomic_write_bytes
from litepose.runtime.from_torch import DEFAULT_OPSET, onnx_bytes
from litepose.runtime.sessions import ort_session

__all__ = ["DEFAULT_OPSET", "OnnxExport", "check_onnx", "export_onnx", "onnx_bytes", "ort_session"]

PARITY_RTOL = 1e-4
INPUT_NAME = "image"
OUTPUT_NAMES = ("stride4", "stride2")


def check_onnx(model: bytes | str | os.PathLike[str], module: nn.Module, inputs: Sequence[Tensor], *,
               rtol: float = PARITY_RTOL, source: str = "ONNX export") -> float:
    """Run ``model`` in onnxruntime and ``module`` in PyTorch on ``inputs``; return the largest relative
    error over the outputs (max absolute difference / max absolute PyTorch value).

    Raises:
        ValueError: an output differs by more than ``rtol``, or the output counts or shapes differ.
    """
    session = ort_session(model)
    feeds = {arg.name: x.detach().cpu().numpy() for arg, x in zip(session.get_inputs(), inputs, strict=True)}  # type: ignore[attr-defined]
    got = session.run(None, feeds)  # type: ignore[attr-defined]
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            expected = module(*inputs)
    finally:
        module.train(was_training)
    expected = [expected] if isinstance(expected, Tensor) else list(expected)
    if len(got) != len(expected):
        raise ValueError(f"{source}: onnxruntime returned {len(got)} outputs, PyTorch {len(expected)}")
    worst = 0.0
    for i, (a, e) in enumerate(zip(got, expected, strict=True)):
        ref = e.float().cpu().numpy()
        if a.shape != ref.shape:
            raise ValueError(f"{source}: output {i} has shape {list(a.shape)} in onnxruntime, "
                             f"{list(ref.shape)} in PyTorch")
        err = float(np.abs(a - ref).max() / max(float(np.abs(ref).max()), 1e-12)) if ref.size else 0.0
        if not err <= rtol:  # also catches NaN
            raise ValueError(f"{source}: output {i} differs from PyTorch by {err:.2e} relative (limit {rtol:.0e})")
        worst = max(worst, err)
    return worst


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote: the file, its opset, input size (``None`` sides are dynamic)
    and the largest relative error of onnxruntime against PyTorch measured on export."""

    path: Path
    opset: int
    input_size: tuple[int, int]
    dynamic: bool
    max_rel_error: float


def _hw(input_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(input_size, int):
        return input_size, input_size
    h, w = (int(v) for v in input_size)
    return h, w


def export_onnx(model: nn.Module, path: str | os.PathLike[str], *, input_size: int | Sequence[int],
                opset: int = DEFAULT_OPSET, dynamic: bool = False, check: bool = True) -> OnnxExport:
    """Export a LitePose to ``path`` (atomically: a failed export leaves no file and no previous one damaged).

    Args:
        model: a :class:`~litepose.models.LitePose` (any module with one image input works).
        path: the ``.onnx`` file to write.
        input_size: the side (or ``(H, W)``) of the traced input; multiples of 32.
        opset: ONNX opset (>= 17 recommended: the deployment targets need it).
        dynamic: let height and width vary (the batch stays 1).
        check: compare onnxruntime with PyTorch on a random input (and, when ``dynamic``, on a second,
            larger size) and refuse a result beyond ``1e-4`` relative error.

    Returns:
        An :class:`OnnxExport` with the measured error (0 when ``check`` is off).
    """
    h, w = _hw(input_size)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(f"input_size must be positive multiples of 32, got {h}x{w}")
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, h, w, generator=generator)
    axes = None
    if dynamic:
        axes = {INPUT_NAME: {2: "height", 3: "width"}, OUTPUT_NAMES[0]: {2: "height4", 3: "width4"},
                OUTPUT_NAMES[1]: {2: "height2", 3: "width2"}}
    data = onnx_bytes(model, (x,), opset=opset, input_names=(INPUT_NAME,), output_names=OUTPUT_NAMES,
                      dynamic_axes=axes)
    error = 0.0
    if check:
        error = check_onnx(data, model, (x,), source=f"ONNX export to {path}")
        if dynamic:
            other = torch.randn(1, 3, h + 32, w + 64, generator=generator)
            error = max(error, check_onnx(data, model, (other,), source=f"ONNX export to {path} (dynamic shape)"))
    atomic_write_bytes(path, data)
    return OnnxExport(Path(path), opset, (h, w), dynamic, error)

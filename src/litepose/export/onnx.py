"""The ONNX graph of a pose network: BatchNorm folded, a dynamic batch axis, metadata, checked with onnxruntime.

:func:`onnx_graph` traces a LitePose (any module with one image input and the two outputs of
:class:`~litepose.models.LitePoseOutput`) after :func:`~litepose.models.fuse.fold_batchnorm`, so the
graph has no ``BatchNormalization`` node, not even after the fusion head's summed deconvs, which the
stock exporter leaves in. One input ``image`` ``[N, 3, H, W]`` and two outputs ``stride4``
``[N, 2J, H/4, W/4]`` and ``stride2`` ``[N, J, H/2, W/2]``. The batch axis is always dynamic (the
predictor runs the flip test as a batch of two); height and width are fixed at the traced size
unless ``dynamic``.

:func:`embed_metadata` writes a :class:`~litepose.runtime.metadata.ModelMetadata` into the model's
``metadata_props`` (key :data:`~litepose.runtime.metadata.METADATA_KEY`). :func:`check_onnx` runs a
graph in onnxruntime against PyTorch; :func:`export_onnx` is the fp32 file in one call (what
``litepose export --format onnx`` does without options, see :mod:`litepose.export.exporter`).

The TorchScript-based exporter is used (``dynamo=False``): it needs no extra package, and LitePose
is a static graph it traces exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from litepose.io import atomic_write_bytes
from litepose.models.fuse import fold_batchnorm
from litepose.runtime.from_torch import DEFAULT_OPSET, onnx_bytes
from litepose.runtime.metadata import METADATA_KEY, ModelMetadata
from litepose.runtime.sessions import ort_session

if TYPE_CHECKING:
    import onnx

__all__ = ["DEFAULT_OPSET", "INPUT_NAME", "MIN_OPSET", "OUTPUT_NAMES", "OnnxExport", "check_onnx", "embed_metadata",
           "export_onnx", "input_hw", "onnx_bytes", "onnx_graph", "ort_session", "read_metadata"]

PARITY_RTOL = 1e-4
MIN_OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAMES = ("stride4", "stride2")


def input_hw(input_size: int | Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` from a side or a pair, checked: positive multiples of 32 (the network's total stride)."""
    if isinstance(input_size, int):
        h = w = input_size
    else:
        h, w = (int(v) for v in input_size)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(f"input size must be positive multiples of 32, got {h}x{w}")
    return h, w


def onnx_graph(model: nn.Module, input_size: int | Sequence[int], *, dynamic: bool = False,
               opset: int = DEFAULT_OPSET, fold: bool = True) -> onnx.ModelProto:
    """The ONNX model of ``model`` traced at ``input_size`` (see the module docstring).

    Args:
        model: a LitePose (left as it was: folding works on a copy).
        input_size: the traced side or ``(H, W)``, multiples of 32.
        dynamic: let height and width vary too (the batch always does).
        opset: ONNX opset, at least :data:`MIN_OPSET` (17).
        fold: fold BatchNorm first (:func:`~litepose.models.fuse.fold_batchnorm`).
    """
    import onnx

    h, w = input_hw(input_size)
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    net = fold_batchnorm(model) if fold else model
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAMES[0]: {0: "batch"}, OUTPUT_NAMES[1]: {0: "batch"}}
    if dynamic:
        axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                OUTPUT_NAMES[0]: {0: "batch", 2: "height_4", 3: "width_4"},
                OUTPUT_NAMES[1]: {0: "batch", 2: "height_2", 3: "width_2"}}
    proto = onnx.load_from_string(onnx_bytes(net, (x,), opset=opset, input_names=(INPUT_NAME,),
                                             output_names=OUTPUT_NAMES, dynamic_axes=axes))
    proto.producer_name = "litepose"
    _materialize_shared_initializers(proto)
    return proto


def _materialize_shared_initializers(proto: onnx.ModelProto) -> None:
    """Replace ``Identity(initializer)`` nodes by initializers of their own.

    The exporter stores equal tensors once and feeds the other users through ``Identity`` nodes (after
    folding, a zero-initialised network's biases are all equal); quantizers expect every conv bias
    to be an initializer.
    """
    import onnx

    inits = {t.name: t for t in proto.graph.initializer}
    graph_outputs = {o.name for o in proto.graph.output}
    keep = []
    for node in proto.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits and node.output[0] not in graph_outputs:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            proto.graph.initializer.append(copy)
        else:
            keep.append(node)
    if len(keep) != len(proto.graph.node):
        del proto.graph.node[:]
        proto.graph.node.extend(keep)


def embed_metadata(proto: onnx.ModelProto, metadata: ModelMetadata) -> onnx.ModelProto:
    """Write ``metadata`` into ``proto.metadata_props`` (replacing an earlier litepose entry); returns ``proto``."""
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    for key, value in [*kept, (METADATA_KEY, metadata.to_json())]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto


def read_metadata(source: onnx.ModelProto | str | os.PathLike[str]) -> ModelMetadata:
    """The :class:`ModelMetadata` of an ONNX model or file (``ValueError`` naming the file if it has none)."""
    import onnx

    name = "ONNX model" if isinstance(source, onnx.ModelProto) else str(source)
    proto = source if isinstance(source, onnx.ModelProto) else onnx.load(os.fspath(source), load_external_data=False)
    for prop in proto.metadata_props:
        if prop.key == METADATA_KEY:
            return ModelMetadata.from_json(prop.value, source=name)
    raise ValueError(f"{name}: no litepose metadata (metadata_props[{METADATA_KEY!r}])")


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


def export_onnx(model: nn.Module, path: str | os.PathLike[str], *, input_size: int | Sequence[int],
                opset: int = DEFAULT_OPSET, dynamic: bool = False, check: bool = True,
                metadata: ModelMetadata | None = None) -> OnnxExport:
    """Write an fp32 ONNX file of a LitePose, BatchNorm folded (atomically: a failed export leaves no file
    and no previous one damaged).

    Args:
        model: a :class:`~litepose.models.LitePose` (any module with one image input works).
        path: the ``.onnx`` file to write.
        input_size: the side (or ``(H, W)``) of the traced input; multiples of 32.
        opset: ONNX opset (>= 17).
        dynamic: let height and width vary (the batch always does).
        check: compare onnxruntime with PyTorch on a random batch of two (and, when ``dynamic``, on a
            second, larger size) and refuse a result beyond ``1e-4`` relative error.
        metadata: written into the file when given (:func:`litepose.export.export_model` always
            writes it; this lower-level call leaves it to the caller).

    Returns:
        An :class:`OnnxExport` with the measured error (0 when ``check`` is off).
    """
    h, w = input_hw(input_size)
    proto = onnx_graph(model, (h, w), dynamic=dynamic, opset=opset)
    if metadata is not None:
        embed_metadata(proto, metadata)
    data = proto.SerializeToString()
    error = 0.0
    if check:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(2, 3, h, w, generator=generator)
        error = check_onnx(data, model, (x,), source=f"ONNX export to {path}")
        if dynamic:
            other = torch.randn(1, 3, h + 32, w + 64, generator=generator)
            error = max(error, check_onnx(data, model, (other,), source=f"ONNX export to {path} (dynamic shape)"))
    atomic_write_bytes(path, data)
    return OnnxExport(Path(path), opset, (h, w), dynamic, error)

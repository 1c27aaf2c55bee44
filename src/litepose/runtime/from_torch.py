"""A PyTorch module as an ONNX graph in memory: the one module of :mod:`litepose.runtime` that needs torch.

Used when a torch model (a checkpoint, an ``nn.Module``) is to run on onnxruntime or OpenVINO without being
exported to a file first (:func:`module_backend`, behind ``Predictor(model, backend=...)``), and by
:mod:`litepose.export`, which builds files on it. Nothing in the torch-free prediction path (an exported
file in, people out) imports this module.

The TorchScript-based exporter is used (``dynamo=False``): it needs no extra package, and LitePose is a static
graph it traces exactly.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from litepose.runtime.backends import OnnxRuntimeBackend, OpenVinoBackend
    from litepose.runtime.metadata import ModelMetadata

__all__ = ["DEFAULT_OPSET", "module_backend", "onnx_bytes"]

DEFAULT_OPSET = 17
# The side of the image traced when converting a pose network: small (a fast trace), a multiple of the
# largest network stride (32) with room for every stage; height and width are dynamic in the graph.
_TRACE_SIDE = 128


def onnx_bytes(module: nn.Module, example_inputs: Sequence[Tensor], *, opset: int = DEFAULT_OPSET,
               input_names: Sequence[str] | None = None, output_names: Sequence[str] | None = None,
               dynamic_axes: Mapping[str, Mapping[int, str]] | None = None) -> bytes:
    """The ONNX model of ``module`` (in eval mode) traced on ``example_inputs``, in memory.

    The module's own train/eval state is left as it was.
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation and the tracer warns about Python-side
        # shape checks; neither concerns a static network traced at fixed shapes.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, tuple(example_inputs), buffer, dynamo=False, opset_version=opset,
                          input_names=list(input_names) if input_names else None,
                          output_names=list(output_names) if output_names else None,
                          dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()} if dynamic_axes else None,
                          training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    return buffer.getvalue()


def module_backend(module: nn.Module, metadata: ModelMetadata, backend: str, *,
                   threads: int | None = None) -> OnnxRuntimeBackend | OpenVinoBackend:
    """A pose network on onnxruntime or OpenVINO without a file in between.

    The module is BatchNorm-folded (:func:`litepose.models.fuse.fold_batchnorm`, on a copy: ``module``
    is not touched) and traced to ONNX in memory with a dynamic batch, height and width, so one
    conversion serves every image shape (OpenVINO then compiles once per input shape met).

    Raises:
        ValueError: one line, when the module cannot be traced to ONNX.
    """
    from litepose.models.fuse import fold_batchnorm
    from litepose.runtime.backends import OnnxRuntimeBackend, OpenVinoBackend, check_backend

    if check_backend(backend) not in ("onnxruntime", "openvino"):
        raise ValueError(f"module_backend: backend must be onnxruntime or openvino, got {backend!r}")
    name = f"the model converted for {backend}"
    outputs = tuple(metadata.outputs)
    axes = {metadata.input_name: {0: "batch", 2: "height", 3: "width"},
            outputs[0]: {0: "batch", 2: "height4", 3: "width4"}, outputs[1]: {0: "batch", 2: "height2", 3: "width2"}}
    example = torch.zeros(1, 3, _TRACE_SIDE, _TRACE_SIDE)
    try:
        folded = fold_batchnorm(module).cpu().float()
        data = onnx_bytes(folded, (example,), input_names=(metadata.input_name,), output_names=outputs,
                          dynamic_axes=axes)
    except Exception as err:  # the tracer and exporter raise many types; the message says what failed
        text = str(err).strip().splitlines()
        raise ValueError(f"{name}: cannot trace it to ONNX ({type(err).__name__}: {text[0][:200] if text else ''})") \
            from None
    if backend == "onnxruntime":
        return OnnxRuntimeBackend(data, threads=threads, metadata=metadata, source=name)
    from litepose.runtime.sessions import openvino_core

    try:
        core = openvino_core()
    except ModuleNotFoundError:
        raise ValueError(f"{name}: the openvino package is not installed (pip install 'litepose[openvino]')") \
            from None
    return OpenVinoBackend(core.read_model(data), threads=threads, metadata=metadata, source=name)

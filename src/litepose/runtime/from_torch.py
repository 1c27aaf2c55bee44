"""A PyTorch module as an ONNX graph in memory: the one module of :mod:`litepose.runtime` that needs torch.

Used when a torch model (a checkpoint, an ``nn.Module``) is to run on onnxruntime or OpenVINO without being
exported to a file first, and by :mod:`litepose.export`, which builds files on it. Nothing in the torch-free
prediction path (an exported file in, people out) imports this module.

The TorchScript-based exporter is used (``dynamo=False``): it needs no extra package, and LitePose is a static
graph it traces exactly.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

__all__ = ["DEFAULT_OPSET", "onnx_bytes"]

DEFAULT_OPSET = 17


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

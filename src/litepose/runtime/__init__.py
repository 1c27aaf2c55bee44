"""The torch-free runtime: exported model files (ONNX, OpenVINO IR) and what they say about themselves.

Nothing in the prediction path of this package imports torch: a device with NumPy, OpenCV, SciPy and
onnxruntime or OpenVINO runs exported models through :class:`litepose.Predictor`.

* :mod:`~litepose.runtime.metadata` — :class:`ModelMetadata`, the JSON document every exported file carries;
* :mod:`~litepose.runtime.backends` — the :class:`Backend` interface (a float32 batch in, the two output
  arrays out) over onnxruntime, OpenVINO and PyTorch, and :func:`open_backend` for exported files;
* :mod:`~litepose.runtime.sessions` — onnxruntime sessions with pinned thread counts, and the process's one
  OpenVINO ``Core`` (:func:`~litepose.runtime.sessions.openvino_core`);
* :mod:`~litepose.runtime.from_torch` — a torch module as an ONNX graph in memory (the one module that
  needs torch; used only when a torch model is to run on another backend, and by :mod:`litepose.export`).
"""

from litepose.runtime.backends import (
    BACKENDS,
    Backend,
    OnnxRuntimeBackend,
    OpenVinoBackend,
    TorchBackend,
    open_backend,
)
from litepose.runtime.metadata import METADATA_KEY, OPENVINO_RT_PATH, ModelMetadata
from litepose.runtime.sessions import openvino_core

__all__ = [
    "BACKENDS",
    "METADATA_KEY",
    "OPENVINO_RT_PATH",
    "Backend",
    "ModelMetadata",
    "OnnxRuntimeBackend",
    "OpenVinoBackend",
    "TorchBackend",
    "open_backend",
    "openvino_core",
]

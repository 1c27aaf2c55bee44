"""Deployment and benchmarking: ONNX export, runtime backends, latency measurement and lookup tables.

One job per module:

* :mod:`~litepose.export.exporter` — :func:`export_model`: a pose network to an ONNX or OpenVINO
  file in fp32, fp16, bf16 or int8, BatchNorm folded, verified against PyTorch, with its
  :class:`~litepose.runtime.metadata.ModelMetadata` inside (``litepose export``);
* :mod:`~litepose.export.onnx` — the ONNX graph (folded, dynamic batch), its metadata, and
  :func:`export_onnx` (the fp32 file in one call) and :func:`onnx_bytes` (any module, in memory);
* :mod:`~litepose.export.openvino_ir` — conversion to OpenVINO IR, inference precision, atomic saving;
* :mod:`~litepose.export.quantize` — calibration inputs from images, the layers kept in float, NNCF
  (OpenVINO) and onnxruntime static QDQ quantization;
* :mod:`~litepose.export.verify` — an exported network against PyTorch, output by output;
* :mod:`~litepose.export.runners` — the backends a network is timed on (``torch``,
  ``onnxruntime``) with pinned thread counts: :func:`open_runner`;
* :mod:`~litepose.export.timing` — the timing loop, :class:`LatencyResult` and :func:`host_id`;
* :mod:`~litepose.export.latency` — :func:`measure_latency`, :func:`measure_decode_ms`, the
  persistent :class:`LatencyCache`, the :class:`LatencyModel` protocol and :class:`MeasuredLatency`;
* :mod:`~litepose.export.pieces` — the layer configurations (stem, blocks, head pieces) a network
  of a search space is made of;
* :mod:`~litepose.export.latency_table` — :class:`LatencyTable`, a per-piece lookup table measured
  on one device that predicts whole-network latency there, and :class:`TableLatency`;
* :mod:`~litepose.export.crowd_maps` — :func:`synthetic_crowd_maps`, deterministic maps of a crowd
  (decode-time measurement, decoder tests);
* :mod:`~litepose.export.bench` — image-to-people latency of a model on a backend split by stage, against
  the number of people, as a versioned JSON report, tables and a plot (``litepose bench``).

The search (issue 11) calls a :class:`LatencyModel`; it never times anything itself. Core modules
(inference, decoding) do not import this package. Importing it is cheap: names are loaded on first
use, so ``litepose.export.crowd_maps`` stays NumPy-only.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it (loaded on first access)
_NAMES = {
    "export_model": "exporter",
    "ExportReport": "exporter",
    "check_export_options": "exporter",
    "export_onnx": "onnx",
    "onnx_bytes": "onnx",
    "OnnxExport": "onnx",
    "BACKENDS": "runners",
    "open_runner": "runners",
    "LatencyResult": "timing",
    "host_id": "timing",
    "default_threads": "timing",
    "measure_latency": "latency",
    "measure_decode_ms": "latency",
    "LatencyCache": "latency",
    "LatencyModel": "latency",
    "MeasuredLatency": "latency",
    "make_latency_model": "latency",
    "Piece": "pieces",
    "network_pieces": "pieces",
    "space_pieces": "pieces",
    "LatencyTable": "latency_table",
    "TableLatency": "latency_table",
    "synthetic_crowd_maps": "crowd_maps",
    "BenchSettings": "bench",
    "measure_cell": "bench",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(f"litepose.export.{_NAMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'litepose.export' has no attribute {name!r}")

"""onnxruntime sessions with pinned thread counts (no torch)."""

from __future__ import annotations

import os

__all__ = ["ort_session"]


def ort_session(model: bytes | str | os.PathLike[str], *, threads: int | None = None) -> object:
    """An onnxruntime CPU ``InferenceSession`` with ``threads`` intra-op threads (one inter-op thread,
    sequential execution, full graph optimisation: onnxruntime's defaults apart from the thread pin),
    logging errors only."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    # Errors only: graph optimisation logs a coloured warning per initializer it drops (dozens for an
    # int8 QDQ model), which would bury the one-line messages of the CLI.
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    source = model if isinstance(model, bytes) else os.fspath(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])

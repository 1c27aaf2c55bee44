"""onnxruntime sessions with pinned thread counts, and the one OpenVINO ``Core`` of the process (no torch)."""

from __future__ import annotations

import functools
import os
from typing import Any

__all__ = ["openvino_core", "ort_session"]


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


@functools.cache
def openvino_core() -> Any:
    """The ``openvino.Core`` every OpenVINO model of this process is read and compiled with.

    One, kept for the life of the process, because each ``Core`` whose CPU plugin gets loaded swaps the
    calling thread's signal stack (``sigaltstack``) for one of its own and, when destroyed, unmaps it and
    puts back the one it found. Two Cores freed in the order they were made leave the main thread's
    signal stack pointing at unmapped memory; the next signal a Python handler catches (Ctrl-C, a child's
    SIGCHLD) then kills the process with SIGSEGV and no message (seen with OpenVINO 2026.4: create two
    Cores, use the CPU, delete the first then the second, send SIGUSR1). A single Core never is.
    """
    import openvino as ov

    return ov.Core()

"""The backends a network is timed on, each with a pinned thread count.

:func:`open_runner` prepares a module for repeated calls on one backend and yields a no-argument
callable that runs it once on fixed random inputs, plus the settings that shape its speed:

* ``torch`` — eager PyTorch under ``inference_mode`` on a private copy of the module, with
  ``torch.set_num_threads(threads)`` for the duration (the previous count is restored on exit) and
  the **channels-last** memory format. Channels-last is the default because it measured faster on
  this project's 2-core CPU for both LitePose sizes tried (XS at 256: 22.7 ms against 28.2 ms; S at 448:
  54.6 ms against 61.7 ms; median of 20), as oneDNN's depthwise and 1×1 kernels prefer NHWC;
  ``memory_format="contiguous"`` measures the other layout.
* ``onnxruntime`` — the module exported to ONNX in memory (:func:`~litepose.export.onnx.onnx_bytes`),
  run by a CPU session with ``intra_op_num_threads=threads``, one inter-op thread, sequential
  execution and full graph optimisation. The graph has the fixed input shapes, unless
  :func:`reusable_options` exported it once with dynamic height and width (latency tables time each
  piece at several resolutions that way).

New backends (OpenVINO, an exported file instead of a module) register a runner in ``_RUNNERS``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["BACKENDS", "MEMORY_FORMATS", "check_backend", "open_runner", "pinned_torch_threads", "reusable_options"]

MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}

Runner = Callable[[], Any]


@contextlib.contextmanager
def pinned_torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``; restore the previous count afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _random_inputs(shapes: Sequence[Sequence[int]], seed: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator) for shape in shapes]


@contextlib.contextmanager
def _torch_runner(module: nn.Module, shapes: Sequence[Sequence[int]], threads: int, seed: int,
                  memory_format: str = "channels_last") -> Iterator[tuple[Runner, dict[str, Any]]]:
    if memory_format not in MEMORY_FORMATS:
        raise ValueError(f"memory_format must be one of {sorted(MEMORY_FORMATS)}, got {memory_format!r}")
    fmt = MEMORY_FORMATS[memory_format]
    net = copy.deepcopy(module).eval().to(memory_format=fmt)  # the caller's module stays as it was
    inputs = [x.contiguous(memory_format=fmt) if x.dim() == 4 else x for x in _random_inputs(shapes, seed)]
    with pinned_torch_threads(threads), torch.inference_mode():
        yield (lambda: net(*inputs)), {"memory_format": memory_format}


@contextlib.contextmanager
def _onnxruntime_runner(module: nn.Module, shapes: Sequence[Sequence[int]], threads: int, seed: int,
                        opset: int | None = None,
                        onnx_model: bytes | None = None) -> Iterator[tuple[Runner, dict[str, Any]]]:
    from litepose.export.onnx import DEFAULT_OPSET, onnx_bytes, ort_session

    opset = DEFAULT_OPSET if opset is None else opset
    inputs = _random_inputs(shapes, seed)
    names = _input_names(len(inputs))
    if onnx_model is None:
        onnx_model = onnx_bytes(module, inputs, opset=opset, input_names=names)
        shape_kind = "static"
    else:
        shape_kind = "dynamic"
    session: Any = ort_session(onnx_model, threads=threads)
    feeds = {name: x.numpy() for name, x in zip(names, inputs, strict=True)}
    yield (lambda: session.run(None, feeds)), {"opset": opset, "graph_optimization": "all", "shapes": shape_kind}


def _input_names(count: int) -> list[str]:
    return [f"input{i}" for i in range(count)]


def reusable_options(module: nn.Module, input_shapes: Sequence[Sequence[int]], *, backend: str,
                     opset: int | None = None) -> dict[str, Any]:
    """Options for :func:`open_runner` that prepare ``module`` once for inputs of any height and width.

    For onnxruntime: the module exported once with dynamic height and width (``onnx_model``), so that a
    piece timed at several resolutions is exported once, not once per resolution (dynamic and static
    graphs measured within a few percent of each other here). Nothing for torch.
    """
    if check_backend(backend) != "onnxruntime":
        return {}
    from litepose.export.onnx import DEFAULT_OPSET, onnx_bytes

    inputs = _random_inputs(input_shapes, 0)
    names = _input_names(len(inputs))
    axes = {name: {2: f"height{i}", 3: f"width{i}"} for i, name in enumerate(names)}
    return {"onnx_model": onnx_bytes(module, inputs, opset=DEFAULT_OPSET if opset is None else opset,
                                     input_names=names, dynamic_axes=axes)}


_RUNNERS: dict[str, Callable[..., contextlib.AbstractContextManager[tuple[Runner, dict[str, Any]]]]] = {
    "torch": _torch_runner,
    "onnxruntime": _onnxruntime_runner,
}
BACKENDS: tuple[str, ...] = tuple(_RUNNERS)


def check_backend(backend: str) -> str:
    """``backend`` if it is known, else a ``ValueError`` listing the known ones."""
    if backend not in _RUNNERS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return backend


def open_runner(module: nn.Module, input_shapes: Sequence[Sequence[int]], *, backend: str = "torch",
                threads: int, seed: int = 0,
                **options: Any) -> contextlib.AbstractContextManager[tuple[Runner, dict[str, Any]]]:
    """A context that yields ``(run, settings)``: ``run()`` calls ``module`` once on random inputs of
    ``input_shapes`` on ``backend`` with ``threads`` intra-op threads; ``settings`` describes the
    backend options used. ``options`` go to the backend (``memory_format`` for torch; ``opset``, or an
    already exported ``onnx_model`` from :func:`reusable_options`, for onnxruntime)."""
    return _RUNNERS[check_backend(backend)](module, input_shapes, threads, seed, **options)

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
* ``openvino`` — the same ONNX graph converted in memory to an ``ov.Model`` (its ONNX frontend), reshaped
  to the input shapes and compiled for the CPU with ``INFERENCE_NUM_THREADS=threads``, the latency hint
  and an explicit inference precision: ``precision="fp32"`` (default) runs f32 arithmetic even on a CPU
  with bf16 (where the plugin would otherwise pick bf16 on its own), ``"bf16"`` runs bf16 and is refused
  on a CPU without it, so that a search ranks networks in the precision they will be deployed in.

Another backend registers a runner in ``_RUNNERS``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["BACKENDS", "MEMORY_FORMATS", "OPENVINO_PRECISIONS", "check_backend", "open_runner", "pinned_torch_threads",
           "reusable_options"]

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


#: litepose precision -> OpenVINO CPU inference precision of the openvino runner.
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


@contextlib.contextmanager
def _openvino_runner(module: nn.Module, shapes: Sequence[Sequence[int]], threads: int, seed: int,
                     opset: int | None = None, onnx_model: bytes | None = None,
                     precision: str = "fp32") -> Iterator[tuple[Runner, dict[str, Any]]]:
    import io

    import openvino as ov

    from litepose.export.onnx import DEFAULT_OPSET, onnx_bytes
    from litepose.export.openvino_ir import compile_ir, cpu_capabilities, set_inference_precision

    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(f"OpenVINO precision must be one of {sorted(OPENVINO_PRECISIONS)}, got {precision!r}")
    if precision == "bf16" and "BF16" not in cpu_capabilities():
        raise ValueError("OpenVINO precision bf16: this CPU has no bf16 support (OPTIMIZATION_CAPABILITIES)")
    opset = DEFAULT_OPSET if opset is None else opset
    inputs = _random_inputs(shapes, seed)
    names = _input_names(len(inputs))
    shape_kind = "dynamic" if onnx_model is not None else "static"
    if onnx_model is None:
        onnx_model = onnx_bytes(module, inputs, opset=opset, input_names=names)
    model = ov.convert_model(io.BytesIO(onnx_model))
    # A graph exported with dynamic height/width (reusable_options) is compiled for these shapes only:
    # the CPU plugin's static-shape kernels are the ones deployment runs.
    model.reshape({model.input(i).get_any_name(): ov.PartialShape(list(x.shape)) for i, x in enumerate(inputs)})
    set_inference_precision(model, OPENVINO_PRECISIONS[precision])
    compiled = compile_ir(model, threads=threads)  # the same compile settings as deployment
    request = compiled.create_infer_request()
    feeds = [x.numpy() for x in inputs]
    yield (lambda: request.infer(feeds)), {"opset": opset, "precision": precision, "shapes": shape_kind}


def _input_names(count: int) -> list[str]:
    return [f"input{i}" for i in range(count)]


def reusable_options(module: nn.Module, input_shapes: Sequence[Sequence[int]], *, backend: str,
                     opset: int | None = None) -> dict[str, Any]:
    """Options for :func:`open_runner` that prepare ``module`` once for inputs of any height and width.

    For onnxruntime and OpenVINO: the module exported once with dynamic height and width (``onnx_model``),
    so that a piece timed at several resolutions is exported once, not once per resolution (dynamic and
    static onnxruntime graphs measured within a few percent of each other here; OpenVINO reshapes the
    graph to static shapes before compiling). Nothing for torch.
    """
    if check_backend(backend) not in ("onnxruntime", "openvino"):
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
    "openvino": _openvino_runner,
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
    already exported ``onnx_model`` from :func:`reusable_options`, for onnxruntime and OpenVINO;
    ``precision`` ``fp32`` or ``bf16`` for OpenVINO)."""
    return _RUNNERS[check_backend(backend)](module, input_shapes, threads, seed, **options)

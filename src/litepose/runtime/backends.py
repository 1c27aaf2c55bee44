"""Runtime backends: one small interface over PyTorch, onnxruntime and OpenVINO.

A :class:`Backend` runs the network and nothing else: a float32 ``[N, 3, H, W]`` batch (the normalised
image, see :mod:`litepose.inference.preprocess`) in, the two raw outputs out as NumPy arrays, stride 4
(``2J`` channels: heatmaps then tags) and stride 2 (``J`` heatmaps). Preprocessing, the maps and the
grouping are shared by every backend (:class:`litepose.Predictor`).

* :class:`OnnxRuntimeBackend` — an ``.onnx`` file (or ONNX bytes) on onnxruntime's CPU provider;
* :class:`OpenVinoBackend` — an OpenVINO IR ``.xml`` (or an ``.onnx`` file, or an in-memory
  ``openvino.Model``) on OpenVINO's CPU plugin, run in the precision the file was exported for
  (:func:`openvino_precision_hint`);
* :class:`TorchBackend` — an ``nn.Module`` in eager PyTorch (torch is imported only here, lazily).

:func:`open_backend` opens an exported file by its suffix (``.onnx`` -> onnxruntime, ``.xml`` ->
OpenVINO) and reads the :class:`~litepose.runtime.metadata.ModelMetadata` it carries without torch.
A file of the wrong kind, a corrupt one or one without litepose metadata is a ``ValueError`` of one
line naming the file.

What a backend accepts: ``max_batch`` (``None``: any batch; ``1``: the flip test runs as two calls)
and ``input_size`` (``(H, W)`` of a file exported at a fixed size, ``None`` sides: any multiple of 32).
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from litepose.runtime.metadata import METADATA_KEY, OPENVINO_RT_PATH, ModelMetadata
from litepose.runtime.sessions import openvino_core

if TYPE_CHECKING:
    import torch
    from torch import nn

    from litepose.skeleton import Skeleton

__all__ = [
    "BACKENDS",
    "FILE_SUFFIXES",
    "Backend",
    "OnnxRuntimeBackend",
    "OpenVinoBackend",
    "TorchBackend",
    "check_backend",
    "module_metadata",
    "open_backend",
    "openvino_precision_hint",
    "skeleton_for",
]

BACKENDS = ("torch", "onnxruntime", "openvino")
# exported file suffix -> the backend that opens it by default
FILE_SUFFIXES = {".onnx": "onnxruntime", ".xml": "openvino"}
# compiled OpenVINO models kept per input shape for a dynamic-shape model (a video has one shape, a
# folder of photos a few)
_OPENVINO_SHAPE_CACHE = 8


@runtime_checkable
class Backend(Protocol):
    """What the :class:`~litepose.Predictor` needs from a runtime.

    Attributes:
        name: ``"torch"``, ``"onnxruntime"`` or ``"openvino"``.
        metadata: the model's self-description (skeleton, input size, normalisation, precision).
        max_batch: the largest batch one call takes (``None``: any).
        input_size: ``(H, W)`` the network takes; ``None`` sides are free (multiples of 32).
    """

    name: str
    metadata: ModelMetadata
    max_batch: int | None
    input_size: tuple[int | None, int | None]

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[N, 3, H, W]`` float32 -> ``(stride4 [N, 2J, H/4, W/4], stride2 [N, J, H/2, W/2])`` float32."""
        ...


def check_backend(backend: str | None, *, option: str = "backend") -> str | None:
    """``backend`` if it is one of :data:`BACKENDS` (or None), else a one-line ``ValueError``."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"{option} {backend!r}: choose one of {', '.join(BACKENDS)}")
    return backend


def _first_line(err: BaseException, limit: int = 200) -> str:
    text = str(err).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # onnxruntime and OpenVINO put the useful part last ("... : Protobuf parsing failed.")
    line = lines[-1] if lines else type(err).__name__
    return line[:limit]


def _missing_package(package: str, label: str) -> ValueError:
    return ValueError(f"{label}: the {package} package is not installed (pip install 'litepose[runtime]' for "
                      "onnxruntime, 'litepose[openvino]' for OpenVINO)")


def _as_f32(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def _check_io(label: str, metadata: ModelMetadata, inputs: list[str], outputs: list[str]) -> None:
    if metadata.input_name not in inputs:
        raise ValueError(f"{label}: the model's inputs are {inputs}, its litepose metadata names "
                         f"{metadata.input_name!r}")
    missing = [name for name in metadata.outputs if name not in outputs]
    if missing:
        raise ValueError(f"{label}: the model's outputs are {outputs}, its litepose metadata names "
                         f"{list(metadata.outputs)}")


def _static(side: Any) -> int | None:
    """A shape entry as an int when it is fixed (onnxruntime gives names or None for dynamic axes)."""
    return int(side) if isinstance(side, int | np.integer) and int(side) > 0 else None


class OnnxRuntimeBackend:
    """An ONNX model on onnxruntime's CPU provider.

    Args:
        model: an ``.onnx`` path or the serialized model.
        threads: intra-op threads (default: onnxruntime's choice, one per core).
        metadata: the model's description; default: read from the file's ``metadata_props``.
        source: how to name the model in messages (default: the path).
    """

    name = "onnxruntime"

    def __init__(self, model: str | os.PathLike[str] | bytes, *, threads: int | None = None,
                 metadata: ModelMetadata | None = None, source: str | None = None) -> None:
        label = source or (os.fspath(model) if not isinstance(model, bytes) else "ONNX model")
        try:
            import onnxruntime  # noqa: F401
        except ModuleNotFoundError:
            raise _missing_package("onnxruntime", label) from None
        from litepose.runtime.sessions import ort_session

        try:
            session: Any = ort_session(model, threads=threads)
        except Exception as err:  # onnxruntime raises its own exception types for unreadable models
            raise ValueError(f"{label}: not a readable ONNX model ({_first_line(err)})") from None
        if metadata is None:
            raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
            if raw is None:
                raise ValueError(f"{label}: an ONNX model without litepose metadata (write it with `litepose export`)")
            metadata = ModelMetadata.from_json(raw, source=label)
        inputs = session.get_inputs()
        _check_io(label, metadata, [i.name for i in inputs], [o.name for o in session.get_outputs()])
        image = next(i for i in inputs if i.name == metadata.input_name)
        if len(image.shape) != 4:
            raise ValueError(f"{label}: the input {image.name!r} has shape {image.shape}, expected [N, 3, H, W]")
        self.metadata = metadata
        self.source = label
        self.threads = threads
        self.max_batch = _static(image.shape[0])
        self.input_size = (_static(image.shape[2]), _static(image.shape[3]))
        self._input_dtype = np.float16 if image.type == "tensor(float16)" else np.float32
        self._session = session

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = {self.metadata.input_name: np.ascontiguousarray(batch, dtype=self._input_dtype)}
        stride4, stride2 = self._session.run(list(self.metadata.outputs), feed)
        return _as_f32(stride4), _as_f32(stride2)


# rt_info path where `litepose export` records the CPU inference precision it verified
_HINT_PATH = ("runtime_options", "INFERENCE_PRECISION_HINT")
_HINTS = {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": "f32"}


def openvino_precision_hint(precision: str, capabilities: list[str] | tuple[str, ...],
                            recorded: str | None = None) -> tuple[str, str | None]:
    """The CPU plugin's ``INFERENCE_PRECISION_HINT`` for a model exported at ``precision``, and a warning
    (or None) when this CPU cannot run it as exported.

    The plugin's default is not "as exported": on CPUs with BF16 it runs float32 models in bfloat16.
    So the hint is the one the file records (``recorded``, what ``litepose export`` verified), else the
    precision's: ``fp32``, ``fp16`` (half-precision weights, float32 arithmetic) and ``int8`` (whose
    float layers were calibrated in float32) -> ``f32``, ``bf16`` -> ``bf16``. A ``bf16`` or ``f16`` hint
    on a CPU without that arithmetic (e.g. a bf16 file on a Raspberry Pi) falls back to ``f32``.
    """
    caps = {str(c).upper() for c in capabilities}
    hint = recorded if recorded in ("f32", "bf16", "f16") else _HINTS.get(precision, "f32")
    if hint == "bf16" and "BF16" not in caps:
        return "f32", "this CPU has no bf16 arithmetic: the bf16 model runs in float32"
    if hint == "f16" and "FP16" not in caps:
        return "f32", "this CPU has no fp16 arithmetic: the model runs in float32"
    return hint, None


def _looks_like_ir(path: Path) -> bool:
    """Whether ``path`` starts like an OpenVINO IR: optional XML declaration and comments, then ``<net``."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    while head.startswith((b"<?", b"<!--")):
        end = head.find(b"?>" if head.startswith(b"<?") else b"-->")
        if end < 0:
            return False
        head = head[end + (2 if head.startswith(b"<?") else 3):].lstrip()
    return head.startswith(b"<net")


class OpenVinoBackend:
    """An OpenVINO model on the CPU plugin, in the precision its metadata names.

    Args:
        model: an OpenVINO IR ``.xml`` path (its ``.bin`` beside it), an ``.onnx`` path, or an
            ``openvino.Model``.
        threads: ``INFERENCE_NUM_THREADS`` (default: OpenVINO's choice).
        metadata: the model's description; default: read from the file (rt_info ``litepose/metadata``
            of an IR; ``metadata_props`` of an ONNX file).
        source: how to name the model in messages.

    A model with a dynamic input shape is compiled once per input shape met (the CPU plugin runs
    static shapes faster), keeping the last 8.
    """

    name = "openvino"

    def __init__(self, model: Any, *, threads: int | None = None, metadata: ModelMetadata | None = None,
                 source: str | None = None) -> None:
        is_path = isinstance(model, str | os.PathLike)
        label = source or (os.fspath(model) if is_path else "OpenVINO model")
        try:
            self._core = openvino_core()
        except ModuleNotFoundError:
            raise _missing_package("openvino", label) from None
        if is_path:
            path = Path(model)
            if path.suffix.lower() == ".xml":
                # OpenVINO picks a reader by content (ONNX, TensorFlow text...), some of which print parse
                # errors of their own: an IR is an XML document whose root element is <net>.
                if not _looks_like_ir(path):
                    raise ValueError(f"{label}: not an OpenVINO IR (no <net> element at the start of the file)")
                if not path.with_suffix(".bin").is_file():
                    raise ValueError(f"{label}: its weights file {path.with_suffix('.bin')} is missing")
            try:
                model = self._core.read_model(os.fspath(path))
            except Exception as err:  # OpenVINO raises RuntimeError subclasses of its own
                kind = "OpenVINO IR" if path.suffix.lower() == ".xml" else "model OpenVINO can read"
                raise ValueError(f"{label}: not a readable {kind} ({_first_line(err)})") from None
        if metadata is None:
            metadata = self._read_metadata(model, label)
        inputs = [p.get_any_name() for p in model.inputs]
        outputs = [name for p in model.outputs for name in p.get_names()]
        _check_io(label, metadata, inputs, outputs)
        shape = model.input(metadata.input_name).get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            raise ValueError(f"{label}: the input {metadata.input_name!r} has shape {shape}, expected [N, 3, H, W]")
        sides = [d.get_length() if d.is_static else None for d in shape]
        capabilities = self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        recorded = str(model.get_rt_info(list(_HINT_PATH)).astype(str)) if model.has_rt_info(list(_HINT_PATH)) \
            else None
        hint, self.precision_warning = openvino_precision_hint(metadata.precision, capabilities, recorded)
        self.inference_precision = hint
        # One image at a time, as soon as possible: the latency hint (not throughput streams).
        self._config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
        if threads is not None:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self.metadata = metadata
        self.source = label
        self.threads = threads
        self.max_batch = sides[0]
        self.input_size = (sides[2], sides[3])
        self._model = _channels_last_outputs(model, metadata.outputs)
        self._dynamic = shape.is_dynamic
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        if not self._dynamic:
            self._compiled[tuple(int(s) for s in sides)] = self._compile(self._model, label)

    @staticmethod
    def _read_metadata(model: Any, label: str) -> ModelMetadata:
        for path in (list(OPENVINO_RT_PATH), ["framework", METADATA_KEY]):  # IR, then ONNX metadata_props
            if model.has_rt_info(path):
                return ModelMetadata.from_json(model.get_rt_info(path).astype(str), source=label)
        raise ValueError(f"{label}: a model without litepose metadata (write it with `litepose export`)")

    def _compile(self, model: Any, label: str) -> Any:
        try:
            return self._core.compile_model(model, "CPU", self._config)
        except Exception as err:
            raise ValueError(f"{label}: OpenVINO cannot compile the model ({_first_line(err)})") from None

    def _compiled_for(self, shape: tuple[int, ...]) -> Any:
        compiled = self._compiled.get(shape)
        if compiled is not None:
            self._compiled.move_to_end(shape)
            return compiled
        if not self._dynamic:
            raise ValueError(f"{self.source}: the model takes input shape {list(next(iter(self._compiled)))}, "
                             f"got {list(shape)}")
        model = self._model.clone()
        model.reshape({self.metadata.input_name: list(shape)})
        compiled = self._compile(model, self.source)
        self._compiled[shape] = compiled
        if len(self._compiled) > _OPENVINO_SHAPE_CACHE:
            self._compiled.popitem(last=False)
        return compiled

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        compiled = self._compiled_for(tuple(int(s) for s in x.shape))
        result = compiled({self.metadata.input_name: x})
        # [N, H, W, C] -> [N, C, H, W] (see _channels_last_outputs)
        stride4, stride2 = (np.ascontiguousarray(_as_f32(result[name]).transpose(0, 3, 1, 2))
                            for name in self.metadata.outputs)
        return stride4, stride2


def _channels_last_outputs(model: Any, outputs: tuple[str, str]) -> Any:
    """``model`` with its two outputs delivered as ``[N, H, W, C]``.

    The CPU plugin computes the last convolutions channels-last and reorders their 2J and J channels to
    NCHW with a generic kernel that took 1.6 ms of a 9.8 ms XS forward at 256x256 (one thread, fp32, bf16
    and int8 alike); asked for NHWC it hands the tensors over as they are, and the backend transposes
    them with NumPy (0.2 ms), bit for bit the same values.
    """
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    for name in outputs:
        ppp.output(name).model().set_layout(ov.Layout("NCHW"))
        ppp.output(name).tensor().set_layout(ov.Layout("NHWC"))
    return ppp.build()


def module_metadata(module: Any, skeleton: Skeleton, *, test_size: int | None = None) -> ModelMetadata:
    """The :class:`ModelMetadata` of a torch pose network (what an export of it with dynamic height and
    width would carry): family and spec from the module, the given skeleton, float32, default normalisation."""
    spec = getattr(module, "spec", None)
    arch = spec.to_dict() if spec is not None and hasattr(spec, "to_dict") else None
    size = test_size if test_size is not None else getattr(spec, "input_size", None)
    if size is None:
        raise ValueError("input_size is required for a model without .spec.input_size")
    return ModelMetadata(family=str(getattr(module, "family", "litepose")), arch=arch, skeleton=skeleton,
                         input_size=(None, None), test_size=int(size))


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` for the block, the previous count restored after it."""
    if threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class TorchBackend:
    """An ``nn.Module`` in eager PyTorch, under ``inference_mode``.

    Args:
        module: the network (switched to eval mode and moved to ``device`` in place, as ``module.to`` does).
        metadata: its description (see :func:`module_metadata`).
        device: where it runs.
        threads: ``torch.set_num_threads`` while it runs (the previous count is restored after each call).
        channels_last: feed the network NHWC inputs on the CPU, where oneDNN's depthwise and 1x1 kernels
            prefer that layout (the outputs are the same up to float rounding). Only the input changes
            layout, never the module passed in: LitePose-XS at 256x256, one thread, fastest of 25 runs
            under load: 35 ms against 43 ms for NCHW (and 47 ms with the module's weights converted too).
    """

    name = "torch"
    max_batch: int | None = None
    input_size: tuple[int | None, int | None] = (None, None)

    def __init__(self, module: nn.Module, metadata: ModelMetadata, *, device: str | torch.device = "cpu",
                 threads: int | None = None, channels_last: bool = True) -> None:
        import torch

        self.device = torch.device(device)
        self.module = module.eval().to(self.device)
        self.metadata = metadata
        self.threads = threads
        self.channels_last = bool(channels_last) and self.device.type == "cpu"

    def forward(self, x: torch.Tensor) -> Any:
        """The module's outputs (tensors on the device) for a ``[N, 3, H, W]`` tensor."""
        import torch

        x = x.to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _torch_threads(self.threads), torch.inference_mode():
            return self.module(x)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        stride4, stride2 = self.forward(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return _as_f32(stride4.float().cpu().numpy()), _as_f32(stride2.float().cpu().numpy())


def _exported_backend(path: Path, backend: str | None) -> str:
    suffix = path.suffix.lower()
    default = FILE_SUFFIXES[suffix]
    if backend is None or backend == default:
        return default
    if suffix == ".onnx" and backend == "openvino":
        return backend  # OpenVINO reads ONNX files directly
    runs_on = "onnxruntime or openvino" if suffix == ".onnx" else "openvino"
    raise ValueError(f"{path}: an {'ONNX file' if suffix == '.onnx' else 'OpenVINO IR'} runs on {runs_on}, "
                     f"not {backend}")


def open_backend(source: str | os.PathLike[str], backend: str | None = None, *,
                 threads: int | None = None) -> OnnxRuntimeBackend | OpenVinoBackend:
    """Open an exported model file on its runtime (no torch).

    Args:
        source: an ``.onnx`` file (onnxruntime by default; ``backend="openvino"`` also reads it) or an
            OpenVINO IR ``.xml`` (with its ``.bin`` beside it).
        backend: None (by suffix), ``"onnxruntime"`` or ``"openvino"``.
        threads: intra-op threads of the runtime.

    Raises:
        FileNotFoundError: no such file.
        ValueError: one line naming the file: not an exported model suffix, a backend that cannot run
            it, a corrupt file or one of the wrong kind, no litepose metadata, a missing runtime package.
    """
    path = Path(source)
    check_backend(backend)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise ValueError(f"{path}: not an exported model file (expected {' or '.join(FILE_SUFFIXES)})")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    name = _exported_backend(path, backend)
    if name == "onnxruntime":
        return OnnxRuntimeBackend(path, threads=threads)
    return OpenVinoBackend(path, threads=threads)


def skeleton_for(metadata: ModelMetadata, skeleton: Skeleton | None, source: str) -> Skeleton:
    """The skeleton to use with a model described by ``metadata``: the given one (its joint count must
    match the model's), else the model's own."""
    if skeleton is None:
        return metadata.skeleton
    if skeleton.num_keypoints != metadata.num_keypoints:
        raise ValueError(f"{source}: the model predicts {metadata.num_keypoints} keypoints, the skeleton "
                         f"{skeleton.name!r} has {skeleton.num_keypoints}")
    return skeleton

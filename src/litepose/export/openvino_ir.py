"""OpenVINO IR (``.xml`` + ``.bin``): conversion from the ONNX graph, precision, metadata, atomic saving.

What each precision means on the CPU plugin (OpenVINO 2026.4):

* ``fp32``: fp32 weights, inference precision ``f32``. This must be stated: on a CPU with bf16
  support the plugin's default inference precision is ``bf16``, so a file opened without a hint
  would silently run in bf16.
* ``bf16``: fp32 weights, inference precision ``bf16`` (needs ``BF16`` in the CPU's
  ``OPTIMIZATION_CAPABILITIES``: AVX-512 BF16 or AMX).
* ``fp16``: weights stored as fp16 (half the ``.bin``), inference precision ``f32``: the CPU
  plugin decompresses the weights once when the model is compiled, so fp16 here is a smaller file
  with the accuracy of fp16-rounded weights and the speed of fp32 (an x86 CPU without AVX-512 FP16
  has no fp16 arithmetic).
* ``int8``: quantized by NNCF (:mod:`litepose.export.quantize`); the layers kept in float run at
  inference precision ``bf16`` where the CPU has bf16, else ``f32`` (:func:`int8_inference_precision`).

The inference precision is written into the model's ``rt_info`` at ``runtime_options /
INFERENCE_PRECISION_HINT`` and into the litepose metadata (``extra.openvino_inference_precision``).
The CPU plugin of OpenVINO 2026.4 does **not** apply that ``rt_info`` entry by itself (it reads only
KV-cache and dynamic-quantization options there; checked: a file saved with ``f32`` compiles as
``bf16`` on this CPU), so whoever compiles the file must pass it: :func:`compile_ir` does, and so
must the runtime's OpenVINO backend.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litepose.runtime.metadata import OPENVINO_RT_PATH, ModelMetadata
from litepose.runtime.sessions import openvino_core

if TYPE_CHECKING:
    import onnx
    import openvino as ov

__all__ = ["HINT_PATH", "INFERENCE_PRECISION", "compile_ir", "cpu_capabilities", "inference_precision",
           "int8_inference_precision", "read_ir_metadata", "save_ir", "set_inference_precision", "set_ir_metadata",
           "to_openvino"]

HINT_PATH = ("runtime_options", "INFERENCE_PRECISION_HINT")
#: litepose precision -> the CPU plugin's inference precision for the float parts of the network
#: (int8: see int8_inference_precision).
INFERENCE_PRECISION = {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": "f32"}


def int8_inference_precision(capabilities: tuple[str, ...] | None = None) -> str:
    """The inference precision of an int8 model's float layers: ``bf16`` on a CPU with bf16, else ``f32``.

    Measured on a trained LitePose (500 synthetic validation images, fp32 AP 0.5772; one thread, CPU time
    at 256x256): int8 with the head in f32 AP 0.5790 at 1.43-1.50x the fp32 speed, with the head in bf16
    AP 0.5767 at 1.47-1.53x. A file exported this way on a bf16 CPU runs its float layers in f32 on a
    CPU without bf16 (the runtime falls back).
    """
    caps = cpu_capabilities() if capabilities is None else capabilities
    return "bf16" if "BF16" in caps else "f32"


def cpu_capabilities() -> tuple[str, ...]:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of this CPU (``FP32``, ``BF16``, ``INT8``...)."""
    return tuple(str(c) for c in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def to_openvino(proto: onnx.ModelProto) -> ov.Model:
    """The ONNX model as an ``ov.Model`` (``openvino.convert_model`` through its ONNX frontend, in memory)."""
    import io

    import openvino as ov

    return ov.convert_model(io.BytesIO(proto.SerializeToString()))


def set_inference_precision(model: ov.Model, hint: str) -> None:
    """Record the CPU inference precision (``f32`` or ``bf16``) in ``model``'s ``rt_info``."""
    if hint not in ("f32", "bf16", "f16"):
        raise ValueError(f"inference precision must be f32, bf16 or f16, got {hint!r}")
    model.set_rt_info(hint, list(HINT_PATH))


def inference_precision(model: ov.Model) -> str | None:
    """The inference precision recorded in ``model``'s ``rt_info`` (``None`` if there is none)."""
    if not model.has_rt_info(list(HINT_PATH)):
        return None
    return str(model.get_rt_info(list(HINT_PATH)).astype(str))


def set_ir_metadata(model: ov.Model, metadata: ModelMetadata) -> None:
    """Write ``metadata`` (JSON) at ``rt_info`` path :data:`~litepose.runtime.metadata.OPENVINO_RT_PATH`."""
    model.set_rt_info(metadata.to_json(), list(OPENVINO_RT_PATH))


def read_ir_metadata(model: ov.Model, *, source: str = "OpenVINO model") -> ModelMetadata:
    """The :class:`ModelMetadata` stored in an ``ov.Model`` (``ValueError`` naming ``source`` if none)."""
    path = list(OPENVINO_RT_PATH)
    if not model.has_rt_info(path):
        raise ValueError(f"{source}: no litepose metadata (rt_info {'/'.join(path)})")
    return ModelMetadata.from_json(str(model.get_rt_info(path).astype(str)), source=source)


def compile_ir(model: ov.Model | str | os.PathLike[str], *, threads: int | None = None) -> Any:
    """A CPU ``CompiledModel`` with the inference precision the model records (see the module docstring),
    ``threads`` inference threads and the latency performance hint."""
    import openvino as ov

    core = openvino_core()
    net = model if isinstance(model, ov.Model) else core.read_model(os.fspath(model))
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    hint = inference_precision(net)
    if hint is not None:
        config["INFERENCE_PRECISION_HINT"] = hint
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return core.compile_model(net, "CPU", config)


def save_ir(model: ov.Model, path: str | os.PathLike[str], *, compress_to_fp16: bool = False) -> tuple[Path, Path]:
    """Save ``model`` as ``path`` (``.xml``) and its weights beside it (``.bin``), atomically.

    Both files are first written under temporary names in the same folder, then renamed, the ``.bin``
    first: a reader never sees a half-written file, and a failure before the renames leaves any
    previous pair untouched. Returns ``(xml, bin)``.
    """
    import openvino as ov

    xml = Path(path)
    if xml.suffix.lower() != ".xml":
        raise ValueError(f"{xml}: an OpenVINO IR file name must end in .xml")
    weights = xml.with_suffix(".bin")
    xml.parent.mkdir(parents=True, exist_ok=True)
    # The IR pairs model.xml with model.bin by name, so both are written into a private temporary folder
    # beside the target (same file system: the renames are atomic).
    with tempfile.TemporaryDirectory(prefix=f".{xml.name}.", dir=xml.parent) as tmp:
        tmp_xml = Path(tmp) / "model.xml"
        ov.save_model(model, tmp_xml, compress_to_fp16=compress_to_fp16)
        mode = 0o666 & ~_umask()
        for produced in (tmp_xml, tmp_xml.with_suffix(".bin")):
            os.chmod(produced, mode)
            with open(produced, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_xml.with_suffix(".bin"), weights)
        try:
            os.replace(tmp_xml, xml)
        except BaseException:
            # The new weights without their graph would pair with a previous .xml: remove them.
            with contextlib.suppress(OSError):
                os.unlink(weights)
            raise
    return xml, weights


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

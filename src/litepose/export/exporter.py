"""``export_model``: a pose network to a deployable file (ONNX or OpenVINO IR), verified, self-describing.

The steps, each in its own module:

1. the ONNX graph with BatchNorm folded and a dynamic batch axis (:mod:`litepose.export.onnx`);
2. for ``int8``, calibration inputs from images and post-training quantization
   (:mod:`litepose.export.quantize`); for OpenVINO, conversion and the precision settings
   (:mod:`litepose.export.openvino_ir`);
3. verification against the PyTorch model, output by output (:mod:`litepose.export.verify`);
   beyond the precision's bound nothing is written;
4. the :class:`~litepose.runtime.metadata.ModelMetadata` written into the file, and the file written
   atomically (temporary names, then renames).

Precisions per format (:data:`SUPPORTED`): ONNX fp32 and int8 (onnxruntime's CPU provider has no bf16
convolutions, and an fp16 graph ran 1.3-1.6x slower than fp32 here, so both are refused with a line
that names what to use instead); OpenVINO fp32, fp16 (fp16 weights, fp32 arithmetic on the CPU),
bf16 (on CPUs with bf16) and int8. What the int8 files keep in float is :data:`DEFAULT_FLOAT_LAYERS`.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from litepose.export.onnx import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAMES, embed_metadata, input_hw, onnx_graph
from litepose.export.verify import ERROR_BOUNDS, OutputErrors, compare_outputs
from litepose.runtime.metadata import DEFAULT_MEAN, DEFAULT_STD, PRECISIONS, ModelMetadata
from litepose.skeleton import Skeleton, get_skeleton

__all__ = ["DEFAULT_FLOAT_LAYERS", "FORMATS", "SUFFIXES", "SUPPORTED", "ExportReport", "check_export_options",
           "export_model", "output_files"]

FORMATS = ("onnx", "openvino")
SUFFIXES = {"onnx": ".onnx", "openvino": ".xml"}
SUPPORTED = {"onnx": ("fp32", "int8"), "openvino": ("fp32", "fp16", "bf16", "int8")}
#: Layers an int8 export keeps in float (see litepose.export.quantize: the output layers held AP, 0.6 points
#: better than quantizing everything with OpenVINO; the first conv changed nothing).
DEFAULT_FLOAT_LAYERS: tuple[str, ...] = ("head",)

_REFUSED = {
    ("onnx", "fp16"): "onnxruntime's CPU provider runs an fp16 LitePose graph slower than fp32 (measured 1.3-1.6x "
                      "slower); use --format openvino --precision fp16 for half-size weights, or --format openvino "
                      "--precision bf16 or int8 for speed",
    ("onnx", "bf16"): "onnxruntime's CPU provider has no bf16 convolution kernels; use --format openvino --precision "
                      "bf16",
}


def check_export_options(format: str, precision: str, *, calib: bool = False, dynamic: bool = False) -> None:
    """Refuse a combination that cannot be exported, before anything is loaded (one-line ``ValueError``).

    Checks the format, the precision and whether this format supports it, bf16 against this CPU's
    capabilities (OpenVINO), and that ``int8`` has calibration images and only ``int8`` uses them.
    Every supported combination also exports dynamic height and width.
    """
    del dynamic  # every format and precision here supports dynamic shapes (tested); kept for the signature
    if format not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision not in SUPPORTED[format]:
        raise ValueError(f"--precision {precision} is not supported with --format {format}: "
                         f"{_REFUSED[(format, precision)]}")
    if format == "openvino" and precision == "bf16":
        from litepose.export.openvino_ir import cpu_capabilities

        caps = cpu_capabilities()
        if "BF16" not in caps:
            raise ValueError(f"--precision bf16: this CPU has no bf16 support (OpenVINO reports "
                             f"{', '.join(caps)}); use --precision fp32, or int8 for speed")
    if precision == "int8" and not calib:
        raise ValueError("--precision int8 needs calibration images: --calib DIR")
    if precision != "int8" and calib:
        raise ValueError(f"--calib is used by --precision int8 only (got --precision {precision})")


def output_files(path: str | os.PathLike[str], format: str) -> tuple[Path, ...]:
    """The files an export to ``path`` writes (``.onnx``; or ``.xml`` and ``.bin``); checks the suffix."""
    target = Path(path)
    suffix = SUFFIXES[format]
    if target.suffix.lower() != suffix:
        kind = {"onnx": "an ONNX", "openvino": "an OpenVINO IR"}[format]
        raise ValueError(f"-o {target}: {kind} export is written to a {suffix} file")
    return (target,) if format == "onnx" else (target, target.with_suffix(".bin"))


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_model` wrote and measured.

    Attributes:
        files: the files written (``.onnx``; or ``.xml`` then ``.bin``).
        format, precision: as exported.
        input_size: the traced ``(H, W)``; with ``dynamic`` any multiple of 32 runs.
        dynamic: height and width are dynamic (the batch always is).
        opset: ONNX opset of the graph.
        verification: the error of each output against PyTorch and its bound.
        float_layers: int8 only: the layers kept in float.
        calibration_images: int8 only: how many images calibrated the quantization.
        metadata: the document written into the file.
        seconds: wall time of the export.
        settings: format details (inference precision, weights, quantizer) also written to the metadata.
        unfolded_batchnorms: ``BatchNormalization`` nodes left in the graph (0 for every zoo network).
    """

    files: tuple[Path, ...]
    format: str
    precision: str
    input_size: tuple[int, int]
    dynamic: bool
    opset: int
    verification: OutputErrors
    metadata: ModelMetadata
    float_layers: tuple[str, ...] = ()
    calibration_images: int = 0
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    unfolded_batchnorms: int = 0

    @property
    def path(self) -> Path:
        return self.files[0]

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files if f.exists())

    def describe(self) -> list[str]:
        """Lines for people: the files, the precision used and the measured error."""
        h, w = self.input_size
        shape = f"N x 3 x {'H x W (dynamic; traced at ' + f'{h}x{w})' if self.dynamic else f'{h} x {w}'}"
        lines = [f"wrote {' + '.join(str(f) for f in self.files)} ({self.size_bytes / 2**20:.2f} MiB) in "
                 f"{self.seconds:.1f} s",
                 f"  {self.format} {self.precision}: {self.settings.get('precision_note', '')}".rstrip(),
                 f"  input {shape}, opset {self.opset}, "
                 + ("BatchNorm folded" if not self.unfolded_batchnorms else
                    f"{self.unfolded_batchnorms} BatchNorm layers left in the graph (a layout fold_batchnorm "
                    "does not know)"),
                 f"  {self.verification.describe()}"]
        if self.precision == "int8":
            kept = ", ".join(self.float_layers) if self.float_layers else "none"
            lines.append(f"  calibrated on {self.calibration_images} images; kept in float: {kept}")
        return lines


def _resolve_skeleton(model: nn.Module, skeleton: Skeleton | None) -> Skeleton:
    joints = int(getattr(model, "num_keypoints", 0) or 0)
    sk = skeleton if skeleton is not None else getattr(model, "skeleton", None)
    if sk is None:
        try:
            sk = get_skeleton(joints)
        except ValueError:
            raise ValueError(f"the model predicts {joints} keypoints and no built-in skeleton has that many: "
                             "pass a skeleton (--skeleton FILE)") from None
    if joints and sk.num_keypoints != joints:
        raise ValueError(f"the model predicts {joints} keypoints but skeleton {sk.name!r} has {sk.num_keypoints}")
    return sk


def _verification_batches(hw: tuple[int, int], dynamic: bool, calib: Sequence[np.ndarray]) -> tuple[
        list[np.ndarray], str]:
    """Batches of two (the flip-test batch): calibration images when there are any, else random inputs;
    with ``dynamic`` also an input of a second size (a calibration image on a larger black canvas, as the
    predictor pads; else random). Random inputs are far from any image: a quantized network, whose
    activation ranges come from images, is checked on images only."""
    generator = np.random.default_rng(0)
    h, w = hw
    if len(calib) >= 2:
        pairs = [np.concatenate(calib[i:i + 2]) for i in range(0, min(len(calib), 8) - 1, 2)]
        batches, what = pairs, f"{2 * len(pairs)} calibration images"
    else:
        batches, what = [generator.standard_normal((2, 3, h, w), dtype=np.float32)], "random inputs"
    if dynamic:
        if calib:
            black = ((0.0 - np.asarray(DEFAULT_MEAN)) / np.asarray(DEFAULT_STD)).astype(np.float32)
            canvas = np.broadcast_to(black[None, :, None, None], (1, 3, h + 32, w + 64)).copy()
            canvas[:, :, :h, :w] = calib[0]
            batches.append(canvas)
            what += f" and one on a {h + 32}x{w + 64} canvas"
        else:
            batches.append(generator.standard_normal((1, 3, h + 32, w + 64), dtype=np.float32))
            what += f" and a random {h + 32}x{w + 64} input"
    return batches, what


def export_model(model: nn.Module, path: str | os.PathLike[str], *, format: str = "onnx", precision: str = "fp32",
                 input_size: int | Sequence[int] | None = None, dynamic: bool = False,
                 calib: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Sequence[np.ndarray] | None = None,
                 calib_images: int | None = None, skeleton: Skeleton | None = None,
                 float_layers: Sequence[str] = DEFAULT_FLOAT_LAYERS, opset: int = DEFAULT_OPSET,
                 progress: bool = False) -> ExportReport:
    """Export ``model`` to ``path`` and verify it (see the module docstring).

    Args:
        model: a :class:`~litepose.models.LitePose` (not modified).
        path: ``.onnx`` for ``format="onnx"``, ``.xml`` for ``"openvino"`` (the ``.bin`` goes beside it).
        format: ``onnx`` or ``openvino``.
        precision: ``fp32``, ``fp16``, ``bf16`` or ``int8`` (see :data:`SUPPORTED`).
        input_size: the traced side or ``(H, W)`` (multiples of 32); default the architecture's input size.
        dynamic: dynamic height and width (``input_size`` is then the size verified and calibrated at).
        calib: ``int8``: a folder of calibration images, a list of image files, or ready inputs
            ``(1, 3, H, W)`` float32.
        calib_images: how many calibration images to use (default 300).
        skeleton: the joint layout written into the metadata (default: the model's, else the built-in
            one with its joint count).
        float_layers: ``int8``: layer groups kept in float (``"head"``, ``"stem"``).
        opset: ONNX opset (>= 17).
        progress: progress bars while reading calibration images and calibrating (on stderr).

    Returns:
        An :class:`ExportReport`.

    Raises:
        ValueError: an unsupported option (one line), no readable calibration image, or an exported
            network beyond its precision's error bound (nothing is written then).
    """
    from litepose import __version__
    from litepose.export.quantize import DEFAULT_CALIBRATION_IMAGES, calibration_images, calibration_inputs

    start = time.perf_counter()
    check_export_options(format, precision, calib=calib is not None, dynamic=dynamic)
    files = output_files(path, format)
    spec = getattr(model, "spec", None)
    if input_size is None:
        if spec is None:
            raise ValueError("input_size is required for a model without .spec.input_size")
        input_size = int(spec.input_size)
    hw = input_hw(input_size)
    sk = _resolve_skeleton(model, skeleton)
    count = DEFAULT_CALIBRATION_IMAGES if calib_images is None else int(calib_images)

    inputs: list[np.ndarray] = []
    if calib is not None:
        if isinstance(calib, str | os.PathLike):
            inputs = calibration_inputs(calibration_images(calib), hw, count=count, progress=progress)
        elif calib and all(isinstance(c, str | os.PathLike) for c in calib):
            inputs = calibration_inputs([Path(c) for c in calib], hw, count=count, progress=progress)  # type: ignore[arg-type]
        else:
            inputs = [np.asarray(a, dtype=np.float32) for a in calib][:count]
            if not inputs:
                raise ValueError("calib: no calibration inputs given")

    if any(p.device.type != "cpu" for p in model.parameters()):
        model = copy.deepcopy(model).cpu()  # traced and compared on the CPU; the caller's module stays where it is
    proto = onnx_graph(model, hw, dynamic=dynamic, opset=opset)
    unfolded = sum(n.op_type == "BatchNormalization" for n in proto.graph.node)  # layouts fold_batchnorm lacks
    kept: list[str] = []
    settings: dict[str, Any] = {}
    if precision == "int8":
        from litepose.export.quantize import float_layers as find_float_layers

        kept = find_float_layers(proto, float_layers)

    batches, what = _verification_batches(hw, dynamic, inputs)
    bound = ERROR_BOUNDS[precision]
    if format == "onnx":
        build = _build_onnx(proto, precision, inputs, kept, settings)
    else:
        build = _build_openvino(proto, precision, inputs, kept, settings, progress=progress)
    run, write = build
    verification = compare_outputs(run, model, batches, names=OUTPUT_NAMES, bound=bound, inputs=what)
    if not verification.ok:
        raise ValueError(f"{path}: export refused, the {format} {precision} network is too far from PyTorch: "
                         f"{verification.describe()}")

    extra: dict[str, Any] = {
        "litepose_version": __version__,
        "exporter": f"litepose export ({format})",
        "opset": opset,
        "batchnorm_folded": unfolded == 0,
        "dynamic_batch": True,
        "max_rel_error": {k: float(f"{v:.3e}") for k, v in verification.errors.items()},
        "error_bound": bound,
        "verified_on": what,
        **{k: v for k, v in settings.items() if k != "precision_note"},
    }
    if precision == "int8":
        extra["int8"] = {**settings.get("int8", {}), "calibration_images": len(inputs),
                         "float_layer_groups": list(float_layers), "float_layers": kept}
    metadata = ModelMetadata(
        family=str(getattr(model, "family", "litepose")),
        arch=spec.to_dict() if spec is not None and hasattr(spec, "to_dict") else None,
        skeleton=sk,
        input_size=(None, None) if dynamic else hw,
        test_size=int(spec.input_size) if spec is not None else hw[0],
        precision=precision,
        extra=extra,
    )
    write(metadata, files[0])
    return ExportReport(files=files, format=format, precision=precision, input_size=hw, dynamic=dynamic,
                        opset=opset, verification=verification, metadata=metadata, float_layers=tuple(kept),
                        calibration_images=len(inputs), seconds=time.perf_counter() - start, settings=settings,
                        unfolded_batchnorms=unfolded)


Build = tuple[Callable[[np.ndarray], Sequence[np.ndarray]], Callable[[ModelMetadata, Path], None]]


def _build_onnx(proto: Any, precision: str, inputs: Sequence[np.ndarray], kept: Sequence[str],
                settings: dict[str, Any]) -> Build:
    from litepose.io import atomic_write_bytes
    from litepose.runtime.sessions import ort_session

    if precision == "int8":
        import onnxruntime

        from litepose.export.quantize import quantize_onnx

        proto = quantize_onnx(proto, inputs, exclude=kept, input_name=INPUT_NAME)
        settings["int8"] = {"tool": f"onnxruntime {onnxruntime.__version__} quantize_static",
                            "format": "QDQ", "activations": "int8 (signed)", "weights": "int8 (signed), per channel",
                            "calibration": "min/max"}
        settings["precision_note"] = "QDQ int8 (S8S8, per-channel weights) for onnxruntime"
    else:
        settings["precision_note"] = "fp32 weights and arithmetic"
    session: Any = ort_session(proto.SerializeToString())

    def run(batch: np.ndarray) -> Sequence[np.ndarray]:
        return session.run(None, {INPUT_NAME: batch})

    def write(metadata: ModelMetadata, target: Path) -> None:
        embed_metadata(proto, metadata)
        atomic_write_bytes(target, proto.SerializeToString())

    return run, write


def _build_openvino(proto: Any, precision: str, inputs: Sequence[np.ndarray], kept: Sequence[str],
                    settings: dict[str, Any], *, progress: bool = False) -> Build:
    from litepose.export.openvino_ir import (
        INFERENCE_PRECISION,
        compile_ir,
        int8_inference_precision,
        save_ir,
        set_inference_precision,
        set_ir_metadata,
        to_openvino,
    )

    model = to_openvino(proto)
    hint = int8_inference_precision() if precision == "int8" else INFERENCE_PRECISION[precision]
    weights = "fp32"
    if precision == "int8":
        import nncf

        from litepose.export.quantize import quantize_openvino

        producers = {n.name: list(n.output) for n in proto.graph.node}
        kept_tensors = [t for name in kept for t in producers[name]]
        model = quantize_openvino(model, inputs, exclude_tensors=kept_tensors, progress=progress)
        settings["int8"] = {"tool": f"nncf {nncf.__version__} quantize", "preset": "performance",
                            "activations": "int8 (symmetric)", "weights": "int8 (symmetric), per channel"}
        note = f"NNCF int8, float parts at inference precision {hint}"
    elif precision == "fp16":
        from openvino._offline_transformations import compress_model_transformation

        compress_model_transformation(model)  # what save_model(compress_to_fp16=True) does, here before verifying
        weights = "fp16"
        note = f"fp16 weights, inference precision {hint} (the CPU decompresses the weights once at compile time)"
    else:
        note = f"{weights} weights, inference precision {hint}"
    set_inference_precision(model, hint)
    settings.update({"openvino_inference_precision": hint, "weights": weights, "precision_note": note})
    request = compile_ir(model).create_infer_request()

    def run(batch: np.ndarray) -> Sequence[np.ndarray]:
        request.infer({0: batch})
        return [request.get_output_tensor(i).data.copy() for i in range(len(OUTPUT_NAMES))]

    def write(metadata: ModelMetadata, target: Path) -> None:
        set_ir_metadata(model, metadata)
        save_ir(model, target)

    return run, write


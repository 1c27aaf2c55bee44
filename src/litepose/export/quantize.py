"""INT8 post-training quantization: calibration images, the layers kept in float, NNCF and onnxruntime.

Calibration inputs are the network inputs the predictor would build (:func:`calibration_inputs`):
each image read with :func:`~litepose.inference.preprocess.load_image`, resized by the official test
resize at the export's input size (:func:`~litepose.inference.preprocess.warp_to_input`, scale 1,
padded to a multiple of 32) and normalised; then placed on a black canvas of the export's input shape
(cropped at the right/bottom if larger), so that every sample has one shape.

Two quantizers, one per backend:

* OpenVINO: ``nncf.quantize`` (performance preset: symmetric int8 weights and activations, per-channel
  weights, fast bias correction), :func:`quantize_openvino`;
* onnxruntime: ``quantize_static`` in the QDQ format, signed int8 activations and weights (S8S8),
  per-channel weights, min/max calibration, :func:`quantize_onnx`.

Heatmaps (values in [0, 1]) and tags (unbounded, spread over tens of units) share the stride-4 output
tensor, so one int8 scale for that output would spend its 256 levels on the tags and leave the
heatmaps a handful. :func:`float_layers` names the layers kept in float: ``"head"`` is the network's
output layers (the 1x1 prediction convs feeding each output and the sums that produce the outputs),
``"stem"`` the first conv (it sees the raw normalised image). They are found from the graph's
structure (walking back from the outputs and forward from the input), not by layer names, so any
network with this output contract works.

What holds accuracy, measured on the 500 synthetic validation images with a LitePose trained 30 minutes
(fp32 AP 0.5772; 300 calibration images from its training set): OpenVINO int8 with nothing kept in float
0.5712 (-0.60 points), with the head kept 0.5790 (+0.18), head and stem 0.5772; onnxruntime int8 0.5752,
0.5756 and 0.5742. The head is what matters (for OpenVINO), the stem adds nothing, so ``litepose export``
keeps the head (:data:`~litepose.export.exporter.DEFAULT_FLOAT_LAYERS`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx
    import openvino as ov

__all__ = ["DEFAULT_CALIBRATION_IMAGES", "FLOAT_LAYER_GROUPS", "IMAGE_SUFFIXES", "calibration_images",
           "calibration_inputs", "float_layers", "openvino_node_names", "quantize_onnx", "quantize_openvino"]

DEFAULT_CALIBRATION_IMAGES = 300
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pbm", ".pgm", ".ppm")
FLOAT_LAYER_GROUPS = ("head", "stem")


def calibration_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files (by suffix) in ``folder`` and its subfolders, sorted by path.

    Raises:
        ValueError: ``folder`` is not a folder, or holds no file with an image suffix.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"--calib {root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"--calib {root}: no image files (by suffix: {', '.join(IMAGE_SUFFIXES)})")
    return files


def calibration_inputs(files: Sequence[Path], input_hw: tuple[int, int], *, count: int = DEFAULT_CALIBRATION_IMAGES,
                       progress: bool = False, source: str = "--calib") -> list[np.ndarray]:
    """Up to ``count`` network inputs ``(1, 3, H, W)`` float32 from the readable images among ``files``.

    Unreadable files are skipped; images are taken in the order given (evenly spread over ``files``
    when there are more than ``count``, so a sorted folder contributes from its whole range).

    Raises:
        ValueError: none of the files could be read as an image (the message names the first failure).
    """
    from litepose.inference.preprocess import load_image, normalize_image, warp_to_input

    if count < 1:
        raise ValueError(f"the calibration image count must be >= 1, got {count}")
    h, w = input_hw
    picks = list(files)
    if len(picks) > count:
        step = len(picks) / count
        # Every file is a candidate in spread order, so unreadable ones are replaced by their neighbours.
        first = [picks[int(i * step)] for i in range(count)]
        chosen = set(first)
        picks = first + [p for p in picks if p not in chosen]
    inputs: list[np.ndarray] = []
    failures: list[str] = []
    bar = _progress(count, "calibration images", progress)
    for path in picks:
        if len(inputs) >= count:
            break
        try:
            image = load_image(path)
        except (OSError, ValueError) as err:
            failures.append(str(err))
            continue
        warped, _ = warp_to_input(image, min(h, w), pad_to=32)
        canvas = np.zeros((h, w, 3), dtype=np.uint8)  # black, as the predictor pads
        ch, cw = min(h, warped.shape[0]), min(w, warped.shape[1])
        canvas[:ch, :cw] = warped[:ch, :cw]
        inputs.append(normalize_image(canvas)[None])
        bar.update(1)
    bar.close()
    if not inputs:
        reason = failures[0] if failures else "no files"
        raise ValueError(f"{source}: none of the {len(files)} image files could be read ({reason})")
    return inputs


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=not enabled, leave=False,
                dynamic_ncols=True)


def float_layers(proto: onnx.ModelProto, groups: Sequence[str]) -> list[str]:
    """Names of the ONNX nodes of ``groups`` (``"head"``, ``"stem"``; see the module docstring).

    OpenVINO renames some nodes on conversion; its quantizer finds them by their output tensors
    (:func:`openvino_node_names`).
    """
    unknown = [g for g in groups if g not in FLOAT_LAYER_GROUPS]
    if unknown:
        raise ValueError(f"unknown float layer group {unknown[0]!r}; choose from {', '.join(FLOAT_LAYER_GROUPS)}")
    producer = {out: node for node in proto.graph.node for out in node.output}
    names: list[str] = []
    if "head" in groups:
        for output in proto.graph.output:
            node = producer.get(output.name)
            if node is None:
                continue
            names.append(node.name)
            if node.op_type in ("Add", "Sum"):  # fusion head: the sum of two prediction convs
                names += [producer[i].name for i in node.input if i in producer and producer[i].op_type == "Conv"]
    if "stem" in groups:
        graph_inputs = {i.name for i in proto.graph.input}
        names += [n.name for n in proto.graph.node if n.op_type == "Conv" and graph_inputs & set(n.input)]
    return list(dict.fromkeys(names))


def quantize_onnx(proto: onnx.ModelProto, inputs: Sequence[np.ndarray], *, exclude: Sequence[str] = (),
                  input_name: str = "image") -> onnx.ModelProto:
    """Static QDQ quantization with onnxruntime: S8S8, per-channel weights, min/max calibration on ``inputs``.

    ``exclude`` names nodes kept in float. ``proto`` is not modified.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._items = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self._items, None)
            return None if item is None else {input_name: item}

    with tempfile.TemporaryDirectory(prefix="litepose-quant-") as tmp:
        # quantize_static reads and writes files (and rewrites a ModelProto passed to it in place).
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(proto, src)
        with _quiet_onnxruntime(), _quiet_logging():
            quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=list(exclude),
                            calibrate_method=CalibrationMethod.MinMax)
        quantized = onnx.load(dst)
    quantized.producer_name = proto.producer_name
    _drop_unused_initializers(quantized)
    return quantized


def _drop_unused_initializers(proto: onnx.ModelProto) -> None:
    """The quantizer folds each clip into its quantization range and leaves the clip bounds behind
    (onnxruntime would warn about every one of them when loading the model)."""
    used = {name for node in proto.graph.node for name in node.input} | {o.name for o in proto.graph.output}
    kept = [t for t in proto.graph.initializer if t.name in used]
    if len(kept) != len(proto.graph.initializer):
        del proto.graph.initializer[:]
        proto.graph.initializer.extend(kept)


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """The quantizer logs through the root logger, advising pre-processing that a folded, shape-complete
    graph does not need; keep such warnings out of the command's output meanwhile."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class _quiet_onnxruntime:
    """Calibration sessions warn about every unused initializer; show errors only meanwhile."""

    def __enter__(self) -> None:
        import onnxruntime as ort

        ort.set_default_logger_severity(3)

    def __exit__(self, *_: object) -> None:
        import onnxruntime as ort

        ort.set_default_logger_severity(2)


def openvino_node_names(model: ov.Model, tensors: Sequence[str]) -> list[str]:
    """The OpenVINO operations that compute the ONNX tensors ``tensors`` (the outputs of the ONNX nodes to
    keep in float), found by tensor name: OpenVINO renames nodes (a graph output's node takes the output's
    name; a conv with a bias becomes ``NAME/WithoutBiases`` and the bias ``Add`` ``NAME``) but keeps the
    tensor names. Returns the friendly names of the producing operations and of their ``NAME/...`` parts.

    Raises:
        ValueError: a tensor is computed by no operation of ``model``.
    """
    ops = list(model.get_ops())
    names = [op.get_friendly_name() for op in ops]
    found: list[str] = []
    for tensor in tensors:
        producers = [op.get_friendly_name() for op in ops for out in op.outputs() if tensor in out.get_names()]
        if not producers:
            raise ValueError(f"the layer computing {tensor!r}, to keep in float, is not in the OpenVINO model")
        for producer in producers:
            found += [n for n in names if n == producer or n.startswith(producer + "/")]
    return list(dict.fromkeys(found))


def quantize_openvino(model: ov.Model, inputs: Sequence[np.ndarray], *, exclude_tensors: Sequence[str] = (),
                      progress: bool = False) -> ov.Model:
    """``nncf.quantize`` (performance preset, CPU target) calibrated on ``inputs``; the operations computing
    ``exclude_tensors`` (ONNX tensor names, see :func:`openvino_node_names`) stay in float. NNCF's own
    progress bars go to stderr with ``progress``, nowhere otherwise. Returns a new model."""
    import nncf

    ignored = nncf.IgnoredScope(names=openvino_node_names(model, exclude_tensors)) if exclude_tensors else None
    nncf_logger = logging.getLogger("nncf")
    level = nncf_logger.level
    nncf_logger.setLevel(logging.ERROR)  # NNCF logs each stage at INFO
    # NNCF draws its bars with rich on sys.stdout, which is the command's report.
    sink = sys.stderr if progress else open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        with contextlib.redirect_stdout(sink):
            return nncf.quantize(model, nncf.Dataset(list(inputs)), preset=nncf.QuantizationPreset.PERFORMANCE,
                                 target_device=nncf.TargetDevice.CPU, subset_size=len(inputs),
                                 ignored_scope=ignored)
    finally:
        nncf_logger.setLevel(level)
        if sink is not sys.stderr:
            sink.close()

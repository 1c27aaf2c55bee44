"""export_model: every zoo entry exports with parity; metadata round-trips; OpenVINO precisions; one-line
refusals; a failed export leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import openvino as ov
import pytest
import torch

import litepose
from litepose.export import exporter as exporter_module
from litepose.export import openvino_ir
from litepose.export.exporter import check_export_options, export_model
from litepose.export.onnx import read_metadata
from litepose.export.openvino_ir import compile_ir, inference_precision, read_ir_metadata
from litepose.models.litepose import LitePose
from litepose.runtime.backends import open_backend
from litepose.runtime.metadata import METADATA_KEY, OPENVINO_RT_PATH, ModelMetadata
from litepose.runtime.sessions import openvino_core
from litepose.skeleton import get_skeleton


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def coco_model(tiny_model: LitePose) -> LitePose:
    """The tiny network with 17 joints (a built-in skeleton exists for it) and BatchNorm statistics
    away from the identity, so that folding is exercised."""
    model = LitePose(tiny_model.spec, num_keypoints=17)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=generator))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=generator))
    return model.eval()


def run_onnx(path: Path, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})


def torch_outputs(model: torch.nn.Module, x: np.ndarray) -> list[np.ndarray]:
    with torch.inference_mode():
        return [t.numpy() for t in model.eval()(torch.from_numpy(x))]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("name", litepose.list_models())
def test_every_zoo_entry_exports_with_parity(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = litepose.create_model(name, 17).eval()
    report = export_model(model, tmp_path / "m.onnx", input_size=64)
    assert report.files == (tmp_path / "m.onnx",) and report.precision == "fp32" and report.opset >= 17
    assert 0 <= report.verification.worst <= 1e-4 and set(report.verification.errors) == {"stride4", "stride2"}
    graph = onnx.load(tmp_path / "m.onnx")
    assert not any(n.op_type == "BatchNormalization" for n in graph.graph.node)
    assert graph.opset_import[0].version >= 17
    # independent check on a batch of two: the batch axis is dynamic
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64), dtype=np.float32)
    for got, expected in zip(run_onnx(tmp_path / "m.onnx", x), torch_outputs(model, x), strict=True):
        assert got.shape == expected.shape and rel(got, expected) <= 1e-4
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta.family == getattr(model, "family", "litepose") and meta.num_keypoints == 17
    assert meta.input_size == (64, 64) and meta.test_size == model.spec.input_size
    assert meta.arch == model.spec.to_dict()


def test_onnx_metadata_round_trips(coco_model: LitePose, tmp_path: Path) -> None:
    report = export_model(coco_model, tmp_path / "m.onnx", input_size=64, dynamic=True)
    proto = onnx.load(tmp_path / "m.onnx")
    raw = {p.key: p.value for p in proto.metadata_props}[METADATA_KEY]
    meta = ModelMetadata.from_json(raw)
    assert meta == report.metadata and meta.to_dict() == json.loads(raw)
    coco = get_skeleton("coco")
    assert meta.skeleton == coco and meta.skeleton.flip_index == coco.flip_index
    assert meta.skeleton.oks_sigmas == coco.oks_sigmas
    assert meta.input_size == (None, None) and meta.dynamic and meta.precision == "fp32"
    assert meta.mean == (0.485, 0.456, 0.406) and meta.std == (0.229, 0.224, 0.225)
    assert meta.extra["opset"] == 17 and meta.extra["batchnorm_folded"] is True
    assert meta.extra["max_rel_error"]["stride4"] <= 1e-4 and meta.extra["litepose_version"] == litepose.__version__
    backend = open_backend(tmp_path / "m.onnx")  # the torch-free runtime reads the same document
    assert backend.metadata == meta and backend.input_size == (None, None)


@pytest.mark.parametrize(("precision", "hint", "bound"), [("fp32", "f32", 1e-4), ("fp16", "f32", 1e-2),
                                                          ("bf16", "bf16", 0.3)])
def test_openvino_precisions(coco_model: LitePose, tmp_path: Path, precision: str, hint: str, bound: float) -> None:
    if precision == "bf16" and "BF16" not in openvino_ir.cpu_capabilities():
        pytest.skip("this CPU has no bf16")
    xml = tmp_path / "m.xml"
    report = export_model(coco_model, xml, format="openvino", precision=precision, input_size=64)
    assert report.files == (xml, xml.with_suffix(".bin")) and all(f.is_file() for f in report.files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.xml"]  # no temporary left
    assert report.verification.bound == bound and report.verification.worst <= bound
    model = openvino_core().read_model(xml)
    meta = read_ir_metadata(model)
    assert meta == report.metadata and meta.precision == precision
    assert meta.extra["openvino_inference_precision"] == hint and inference_precision(model) == hint
    raw = model.get_rt_info(list(OPENVINO_RT_PATH)).astype(str)
    assert ModelMetadata.from_json(raw) == meta
    compiled = compile_ir(xml)
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) == {"f32": "<Type: 'float32'>",
                                                                      "bf16": "<Type: 'bfloat16'>"}[hint]
    x = np.random.default_rng(2).standard_normal((2, 3, 64, 64), dtype=np.float32)
    result = compiled({"image": x})
    for name, expected in zip(("stride4", "stride2"), torch_outputs(coco_model, x), strict=True):
        assert rel(result[name], expected) <= bound
    if precision == "fp16":
        fp32 = export_model(coco_model, tmp_path / "f32" / "m.xml", format="openvino", input_size=64)
        ratio = xml.with_suffix(".bin").stat().st_size / fp32.files[1].stat().st_size
        assert 0.45 <= ratio <= 0.6  # fp16 weights: about half the bytes


@pytest.mark.parametrize("format", ["onnx", "openvino"])
def test_dynamic_height_and_width(coco_model: LitePose, tmp_path: Path, format: str) -> None:
    path = tmp_path / ("m.onnx" if format == "onnx" else "m.xml")
    report = export_model(coco_model, path, format=format, input_size=64, dynamic=True)
    assert report.metadata.input_size == (None, None) and "96x128" in report.verification.inputs
    backend = open_backend(path)
    x = np.random.default_rng(3).standard_normal((3, 3, 96, 160), dtype=np.float32)
    for got, expected in zip(backend.run(x), torch_outputs(coco_model, x), strict=True):
        assert got.shape == expected.shape and rel(got, expected) <= 1e-4


def test_a_fixed_size_export_refuses_another_size(coco_model: LitePose, tmp_path: Path) -> None:
    import onnxruntime as ort

    export_model(coco_model, tmp_path / "m.onnx", input_size=64)
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument):
        run_onnx(tmp_path / "m.onnx", np.zeros((1, 3, 96, 96), np.float32))


def test_a_model_in_train_mode_is_exported_in_eval_mode_and_left_as_it_was(coco_model: LitePose,
                                                                           tmp_path: Path) -> None:
    before = {k: v.clone() for k, v in coco_model.state_dict().items()}
    coco_model.train()
    report = export_model(coco_model, tmp_path / "m.onnx", input_size=64)
    assert coco_model.training and report.verification.worst <= 1e-4
    assert all(torch.equal(before[k], v) for k, v in coco_model.state_dict().items())


# -- refusals: one line, nothing written ------------------------------------------------------------------


@pytest.mark.parametrize(("format", "precision", "calib", "message"), [
    ("onnx", "fp16", False, "--precision fp16 is not supported with --format onnx: .*use --format openvino"),
    ("onnx", "bf16", False, "--precision bf16 is not supported with --format onnx: .*use --format openvino "
                            "--precision bf16"),
    ("onnx", "int8", False, "--precision int8 needs calibration images: --calib DIR"),
    ("openvino", "fp32", True, "--calib is used by --precision int8 only"),
    ("tflite", "fp32", False, "--format must be one of onnx, openvino"),
    ("onnx", "int4", False, "--precision must be one of fp32, fp16, bf16, int8"),
])
def test_unsupported_combinations_are_one_line(format: str, precision: str, calib: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        check_export_options(format, precision, calib=calib)
    assert "\n" not in str(err.value)


def test_bf16_is_refused_on_a_cpu_without_bf16(monkeypatch: pytest.MonkeyPatch, coco_model: LitePose,
                                              tmp_path: Path) -> None:
    monkeypatch.setattr(openvino_ir, "cpu_capabilities", lambda: ("FP32", "INT8", "BIN"))
    with pytest.raises(ValueError, match=r"this CPU has no bf16 support .*FP32, INT8, BIN.*use --precision fp32"):
        export_model(coco_model, tmp_path / "m.xml", format="openvino", precision="bf16", input_size=64)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("format", "name"), [("onnx", "m.xml"), ("openvino", "m.onnx")])
def test_the_output_suffix_must_fit_the_format(coco_model: LitePose, tmp_path: Path, format: str, name: str) -> None:
    with pytest.raises(ValueError, match=f"export is written to a .{'onnx' if format == 'onnx' else 'xml'} file"):
        export_model(coco_model, tmp_path / name, format=format, input_size=64)


def test_calibration_folder_without_readable_images(coco_model: LitePose, tmp_path: Path) -> None:
    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "a.jpg").write_bytes(b"not a jpeg")
    (calib / "b.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"--calib: none of the 2 image files could be read \(.*a.jpg"):
        export_model(coco_model, tmp_path / "m.onnx", precision="int8", calib=calib, input_size=64)
    (calib / "a.jpg").unlink()
    (calib / "b.png").unlink()
    (calib / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"--calib .*calib: no image files"):
        export_model(coco_model, tmp_path / "m.onnx", precision="int8", calib=calib, input_size=64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib"]


@pytest.mark.parametrize("format", ["onnx", "openvino"])
def test_a_failed_verification_writes_nothing_and_keeps_the_previous_files(
        coco_model: LitePose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, format: str) -> None:
    files = [tmp_path / "m.onnx"] if format == "onnx" else [tmp_path / "m.xml", tmp_path / "m.bin"]
    for f in files:
        f.write_bytes(b"previous " + f.name.encode())
    monkeypatch.setitem(exporter_module.ERROR_BOUNDS, "fp32", 0.0)  # any float rounding now fails
    with pytest.raises(ValueError, match=r"export refused, .* too far from PyTorch: .*bound 0e\+00") as err:
        export_model(coco_model, files[0], format=format, input_size=64)
    assert "\n" not in str(err.value)
    assert [f.read_bytes() for f in files] == [b"previous " + f.name.encode() for f in files]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in files)


def test_an_interrupted_openvino_save_leaves_no_partial_file(coco_model: LitePose, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_save(model: object, path: object, compress_to_fp16: bool = False) -> None:
        Path(str(path)).with_suffix(".bin").write_bytes(b"half")  # the weights, then a crash
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(ov, "save_model", broken_save)
    with pytest.raises(OSError, match="No space left"):
        export_model(coco_model, tmp_path / "m.xml", format="openvino", input_size=64)
    assert list(tmp_path.iterdir()) == []


class InputNormalized(LitePose):
    """A network with a BatchNorm no convolution feeds (on the input): fold_batchnorm cannot fold it."""

    def __init__(self, spec: object, num_keypoints: int) -> None:
        super().__init__(spec, num_keypoints)  # type: ignore[arg-type]
        self.input_bn = torch.nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> object:
        return super().forward(self.input_bn(x))


def test_a_batchnorm_that_cannot_be_folded_is_reported(coco_model: LitePose, tmp_path: Path) -> None:
    model = InputNormalized(coco_model.spec, 17).eval()
    report = export_model(model, tmp_path / "m.onnx", input_size=64)
    assert report.unfolded_batchnorms == 1 and report.metadata.extra["batchnorm_folded"] is False
    assert "1 BatchNorm layers left in the graph" in "\n".join(report.describe())
    assert report.verification.worst <= 1e-4  # still exact: the BN runs in the graph
    folded = export_model(coco_model, tmp_path / "f.onnx", input_size=64)
    assert folded.unfolded_batchnorms == 0 and "BatchNorm folded" in "\n".join(folded.describe())


@pytest.mark.parametrize(("format", "precision"), [(f, p) for f, ps in exporter_module.SUPPORTED.items() for p in ps])
def test_every_supported_precision_exports_dynamic_shapes(coco_model: LitePose, tmp_path: Path, format: str,
                                                          precision: str) -> None:
    if precision == "bf16" and "BF16" not in openvino_ir.cpu_capabilities():
        pytest.skip("this CPU has no bf16")
    calib = [np.random.default_rng(i).standard_normal((1, 3, 64, 64), dtype=np.float32) for i in range(4)]
    path = tmp_path / ("m.onnx" if format == "onnx" else "m.xml")
    report = export_model(coco_model, path, format=format, precision=precision, input_size=64, dynamic=True,
                          calib=calib if precision == "int8" else None)
    assert report.metadata.input_size == (None, None) and report.metadata.precision == precision
    stride4, stride2 = open_backend(path).run(np.zeros((2, 3, 96, 128), np.float32))
    assert stride4.shape == (2, 34, 24, 32) and stride2.shape == (2, 17, 48, 64)

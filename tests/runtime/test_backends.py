"""Runtime backends: every backend finds the same people as PyTorch on a trained model; fixed-size and
batch-1 files; the precision a file asks for; bad files are one line naming the file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from runtime_helpers import SIZE, padded

from litepose.export.openvino_ir import cpu_capabilities
from litepose.inference.predictor import PoseResult, Predictor
from litepose.runtime.backends import (
    OnnxRuntimeBackend,
    OpenVinoBackend,
    TorchBackend,
    open_backend,
    openvino_precision_hint,
)

# Same people: the same count of people, and every person who scores at least CONFIDENT has the same joint
# positions within 1e-3 px and the same confidences and score within 1e-5 (measured: positions identical,
# confidences within 6e-7: the backends' convolutions and the NumPy maps differ from PyTorch's in the last
# float32 bits only). Below CONFIDENT, on the images padded with black (which the over-fitted model never
# saw), the grouping also assembles dozens of "people" from noise peaks of nearly equal heights; there a
# difference in the last bit may pick the other of two peaks 1e-7 apart, as it may between two PyTorch
# builds (see litepose.decoding.maps_numpy).
POSITION_TOL = 1e-3
SCORE_TOL = 1e-5
CONFIDENT = 0.1

CONFIGS = {
    "single": {"flip_test": False},
    "flip": {"flip_test": True},
    # 1.25 x 64 = 80 px: not a multiple of 32, so that scale's input is padded (valid_size extent path)
    "flip-multiscale": {"flip_test": True, "scales": (1.0, 1.25)},
}


def assert_same_people(expected: PoseResult, got: PoseResult, where: str) -> None:
    assert len(got) == len(expected), f"{where}: {len(got)} people, PyTorch found {len(expected)}"
    keep = expected.scores >= CONFIDENT
    assert np.array_equal(got.scores >= CONFIDENT, keep), where
    np.testing.assert_allclose(got.keypoints[keep, :, :2], expected.keypoints[keep, :, :2], atol=POSITION_TOL,
                               rtol=0, err_msg=where)
    np.testing.assert_allclose(got.keypoints[keep, :, 2], expected.keypoints[keep, :, 2], atol=SCORE_TOL, rtol=0,
                               err_msg=where)
    np.testing.assert_allclose(got.scores, expected.scores, atol=SCORE_TOL, rtol=0, err_msg=where)


def test_the_model_is_trained(trained: SimpleNamespace) -> None:
    # what makes the parity below meaningful: each training image's two people stand out, with or without
    # the flip test (the model learnt the mirrored images too)
    for flip in (False, True):
        predictor = Predictor(trained.model, flip_test=flip)
        for image in trained.images:
            result = predictor(image)
            assert (result.scores >= 0.6).sum() == 2, result.scores
            assert (result.scores[2:] < 0.2).all(), result.scores


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_backend_finds_the_same_people_as_torch(trained: SimpleNamespace, exported: SimpleNamespace,
                                                      config: str) -> None:
    options = CONFIGS[config]
    reference = Predictor(trained.model, **options)
    assert isinstance(reference.backend, TorchBackend)
    predictors = {
        "onnx file on onnxruntime": Predictor(exported.onnx, **options),
        "IR file on openvino": Predictor(exported.xml, **options),
    }
    if config != "flip-multiscale":  # the same runtimes; only the way the model gets there differs
        predictors.update({
            "onnx file on openvino": Predictor(exported.onnx, backend="openvino", **options),
            "module on onnxruntime": Predictor(trained.model, backend="onnxruntime", **options),
            "module on openvino": Predictor(trained.model, backend="openvino", threads=1, **options),
        })
        kinds = {name: type(p.backend) for name, p in predictors.items()}
        assert kinds == {"onnx file on onnxruntime": OnnxRuntimeBackend, "IR file on openvino": OpenVinoBackend,
                         "onnx file on openvino": OpenVinoBackend, "module on onnxruntime": OnnxRuntimeBackend,
                         "module on openvino": OpenVinoBackend}
    # the training images, and two of them on wider / taller canvases (other input shapes)
    images = [*trained.images, padded(trained.images[0], 96, SIZE), padded(trained.images[1], SIZE, 128)]
    for i, image in enumerate(images):
        expected = reference(image)
        assert len(expected) >= 2
        for name, predictor in predictors.items():
            assert_same_people(expected, predictor(image), f"{name}, image {i}, {config}")


def test_exported_file_gives_skeleton_and_size(exported: SimpleNamespace) -> None:
    predictor = Predictor(exported.onnx)
    assert predictor.skeleton.name == "coco" and predictor.num_joints == 17
    assert predictor.input_size == SIZE and predictor.model is None and predictor.device == "cpu"
    assert predictor.backend.input_size == (None, None) and predictor.backend.max_batch is None
    assert "backend='onnxruntime'" in repr(predictor)
    assert Predictor(exported.onnx, input_size=96).input_size == 96


@pytest.mark.parametrize("file", ["static_onnx", "static_xml"])
def test_fixed_size_files_letterbox(trained: SimpleNamespace, exported: SimpleNamespace, file: str) -> None:
    predictor = Predictor(getattr(exported, file), flip_test=True)
    assert predictor.backend.input_size == (SIZE, SIZE)
    # the ONNX copy takes one image per call: its flip test runs as two calls
    assert predictor.backend.max_batch == (1 if file == "static_onnx" else None)
    reference = Predictor(trained.model, flip_test=True)
    for image in trained.images:  # 64x64: the fixed input as it is
        assert_same_people(reference(image), predictor(image), f"{file}, square image")
    # 96x64 cannot keep its aspect ratio in 64x64: padded black to 96x96, then resized to 64x64 -- the
    # same network input as PyTorch's on that padded image, and the same positions (padding is right/bottom)
    wide = padded(trained.images[2], 96, SIZE)
    assert_same_people(reference(padded(wide, 96, 96)), predictor(wide), f"{file}, letterboxed image")


def test_fixed_size_refuses_scales_it_cannot_hold(exported: SimpleNamespace) -> None:
    with pytest.raises(ValueError, match=r"fixed 64x64 input, too small for test scales \[2\.0, 1\.0\]"):
        Predictor(exported.static_xml, scales=(1.0, 2.0))


def test_threads_are_pinned_and_restored(trained: SimpleNamespace, exported: SimpleNamespace) -> None:
    import torch

    session = Predictor(exported.onnx, threads=1).backend._session  # type: ignore[attr-defined]
    assert session.get_session_options().intra_op_num_threads == 1
    before = torch.get_num_threads()
    predictor = Predictor(trained.model, threads=1, flip_test=False)
    predictor(trained.images[0])
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        Predictor(exported.onnx, threads=0)


def test_openvino_runs_the_precision_the_file_names(trained: SimpleNamespace, exported: SimpleNamespace,
                                                    tmp_path: Path) -> None:
    from litepose.export import export_model

    backend = open_backend(exported.static_xml)
    assert isinstance(backend, OpenVinoBackend) and backend.inference_precision == "f32"
    backend.run(np.zeros((1, 3, SIZE, SIZE), np.float32))
    compiled = next(iter(backend._compiled.values()))  # type: ignore[attr-defined]
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    # fp32 files run in f32 even on CPUs where the plugin's default is bf16; bf16 where the CPU has it
    assert openvino_precision_hint("fp32", ["FP32", "BF16", "INT8"]) == ("f32", None)
    assert openvino_precision_hint("int8", ["FP32", "BF16", "INT8"]) == ("f32", None)
    assert openvino_precision_hint("bf16", ["FP32", "BF16"]) == ("bf16", None)
    hint, warning = openvino_precision_hint("bf16", ["FP32", "FP16"])  # e.g. a bf16 file on an ARM board
    assert hint == "f32" and warning is not None and "float32" in warning
    assert openvino_precision_hint("fp16", ["FP32", "FP16"]) == ("f32", None)  # fp16 weights, f32 arithmetic
    assert openvino_precision_hint("fp16", ["FP32", "FP16"], recorded="f16") == ("f16", None)
    if "BF16" in cpu_capabilities():
        path = tmp_path / "bf16.xml"
        export_model(trained.model, path, format="openvino", precision="bf16", input_size=SIZE)
        predictor = Predictor(path, flip_test=False)
        assert predictor.backend.inference_precision == "bf16"  # type: ignore[attr-defined]
        result = predictor(trained.images[0])
        assert (result.scores >= 0.5).sum() >= 2


def test_dynamic_openvino_compiles_once_per_shape(trained: SimpleNamespace, exported: SimpleNamespace) -> None:
    predictor = Predictor(exported.xml, flip_test=True)
    backend = predictor.backend
    for image in (trained.images[0], trained.images[1], padded(trained.images[0], 96, SIZE)):
        predictor(image)
    assert sorted(backend._compiled) == [(2, 3, 64, 64), (2, 3, 64, 128)]  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------- bad files
def _one_line_error(excinfo: pytest.ExceptionInfo[BaseException], path: Path, fragment: str) -> None:
    text = str(excinfo.value)
    assert "\n" not in text and text.startswith(str(path)), text
    assert fragment in text, text


def test_corrupt_and_wrong_kind_files_are_one_line(exported: SimpleNamespace, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01not an onnx model" * 10)
    with pytest.raises(ValueError) as info:
        Predictor(garbage)
    _one_line_error(info, garbage, "not a readable ONNX model")

    checkpoint = tmp_path / "weights.onnx"  # a PyTorch checkpoint under the wrong name
    import torch

    torch.save({"state_dict": {"w": torch.zeros(3)}}, checkpoint)
    with pytest.raises(ValueError) as info:
        Predictor(checkpoint)
    _one_line_error(info, checkpoint, "not a readable ONNX model")

    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ValueError) as info:
        open_backend(empty)
    _one_line_error(info, empty, "not a readable ONNX model")

    bad_xml = tmp_path / "bad.xml"  # an IR cut short
    bad_xml.write_text(exported.xml.read_text()[:300])
    bad_xml.with_suffix(".bin").write_bytes(exported.xml.with_suffix(".bin").read_bytes())
    with pytest.raises(ValueError) as info:
        Predictor(bad_xml)
    _one_line_error(info, bad_xml, "not a readable OpenVINO IR (")

    for name, data in [("onnx", exported.onnx.read_bytes()), ("html", b"<!DOCTYPE html><html></html>"),
                       ("checkpoint", checkpoint.read_bytes())]:
        as_xml = tmp_path / f"{name}.xml"  # other files named .xml
        as_xml.write_bytes(data)
        as_xml.with_suffix(".bin").write_bytes(b"")
        with pytest.raises(ValueError) as info:
            Predictor(as_xml)
        _one_line_error(info, as_xml, "not an OpenVINO IR (no <net> element")

    lonely = tmp_path / "lonely.xml"  # an IR without its weights
    lonely.write_text(exported.xml.read_text())
    with pytest.raises(ValueError) as info:
        Predictor(lonely)
    _one_line_error(info, lonely, "its weights file")
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx: no such file"):
        Predictor(tmp_path / "missing.onnx")


def test_files_without_or_with_broken_metadata_are_one_line(exported: SimpleNamespace, tmp_path: Path) -> None:
    import json

    import onnx

    from litepose.runtime.metadata import METADATA_KEY

    proto = onnx.load(exported.onnx)
    del proto.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    onnx.save(proto, plain)
    with pytest.raises(ValueError) as info:
        Predictor(plain)
    _one_line_error(info, plain, "without litepose metadata")
    with pytest.raises(ValueError) as info:
        Predictor(plain, backend="openvino")
    _one_line_error(info, plain, "without litepose metadata")

    original = {p.key: p.value for p in onnx.load(exported.onnx).metadata_props}[METADATA_KEY]
    for name, edit, fragment in [
        ("truncated", lambda text: text[:40], "not valid JSON"),
        ("joints", lambda text: json.dumps({**json.loads(text), "num_keypoints": 14}), "num_keypoints 14"),
        ("outputs", lambda text: json.dumps({**json.loads(text), "outputs": ["a", "b"]}), "metadata names ['a', 'b']"),
    ]:
        proto = onnx.load(exported.onnx)
        next(p for p in proto.metadata_props if p.key == METADATA_KEY).value = edit(original)
        path = tmp_path / f"{name}.onnx"
        onnx.save(proto, path)
        with pytest.raises(ValueError) as info:
            Predictor(path)
        _one_line_error(info, path, fragment)


def test_backend_and_option_mismatches_are_one_line(exported: SimpleNamespace) -> None:
    with pytest.raises(ValueError) as info:
        Predictor(exported.xml, backend="onnxruntime")
    _one_line_error(info, exported.xml, "runs on openvino, not onnxruntime")
    with pytest.raises(ValueError) as info:
        Predictor(exported.onnx, backend="torch")
    _one_line_error(info, exported.onnx, "runs on onnxruntime or openvino, not torch")
    with pytest.raises(ValueError, match="backend 'tvm': choose one of torch, onnxruntime, openvino"):
        Predictor(exported.onnx, backend="tvm")
    with pytest.raises(ValueError, match="exported models run on the CPU"):
        Predictor(exported.onnx, device="cuda")
    with pytest.raises(ValueError) as info:
        Predictor(exported.onnx, skeleton=14)
    _one_line_error(info, exported.onnx, "predicts 17 keypoints, the skeleton 'crowdpose' has 14")
    with pytest.raises(ValueError, match=r"not an exported model file \(expected \.onnx or \.xml\)"):
        open_backend("model.pt")


def test_a_model_the_tracer_cannot_export_is_one_line() -> None:
    import torch
    from torch import nn

    class Untraceable(nn.Module):
        num_keypoints = 17
        spec = SimpleNamespace(input_size=64)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if torch.jit.is_tracing():
                raise RuntimeError("data-dependent control flow\nsecond line")
            b, _, h, w = x.shape
            return torch.zeros(b, 34, h // 4, w // 4), torch.zeros(b, 17, h // 2, w // 2)

    with pytest.raises(ValueError) as info:
        Predictor(Untraceable(), backend="onnxruntime")
    text = str(info.value)
    assert text == ("the model converted for onnxruntime: cannot trace it to ONNX (RuntimeError: "
                    "data-dependent control flow)")
    assert Predictor(Untraceable(), flip_test=False)(np.zeros((64, 64, 3), np.uint8)).keypoints.shape[1] == 17


def test_evaluate_model_takes_an_exported_file(trained: SimpleNamespace, exported: SimpleNamespace) -> None:
    from litepose.evaluation import evaluate_model

    ann, images = trained.root / "annotations.json", trained.paths[0].parent
    expected = evaluate_model(trained.model, ann, images)
    for path in (exported.onnx, exported.xml):
        got = evaluate_model(path, ann, images, threads=1)
        assert got.metrics == pytest.approx(expected.metrics, abs=1e-6) and len(got.results) == len(expected.results)


def test_reused_map_buffers_change_nothing(trained: SimpleNamespace, exported: SimpleNamespace) -> None:
    # predict_keypoints writes the maps into arrays the predictor keeps; predict_maps hands out its own
    predictor = Predictor(exported.onnx, flip_test=True)
    first, second = trained.images[0], padded(trained.images[1], 96, SIZE)
    heatmaps, tags, _ = predictor.predict_maps(first)
    kept = heatmaps.copy(), tags.copy()
    expected = Predictor(exported.onnx, flip_test=True)(first)
    for image in (first, second, first):  # another shape in between replaces the buffers
        result = predictor(image)
    assert_same_people(expected, result, "the same image after another one")
    np.testing.assert_array_equal(result.keypoints, expected.keypoints)
    np.testing.assert_array_equal(heatmaps, kept[0])
    np.testing.assert_array_equal(tags, kept[1])

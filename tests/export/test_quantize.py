"""INT8: calibration inputs are the predictor's inputs; the output layers stay in float; an int8 export of a
trained tiny model runs on both backends and keeps its AP on a tiny synthetic set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import openvino as ov
import pytest
import torch

from litepose.evaluation.model import evaluate_model
from litepose.export.exporter import export_model
from litepose.export.onnx import onnx_graph
from litepose.export.quantize import calibration_images, calibration_inputs, float_layers
from litepose.inference.predictor import Predictor
from litepose.inference.preprocess import load_image, preprocess_numpy
from litepose.models.litepose import LitePose
from litepose.models.spec import ArchSpec, BlockSpec, StageSpec
from litepose.runtime.sessions import openvino_core
from litepose.skeleton import get_skeleton

SIZE = 64
TINY = ArchSpec(16, tuple(StageSpec(c, s, (BlockSpec(2, 3), BlockSpec(2, 3))) for c, s in
                          ((16, 2), (24, 2), (32, 2), (48, 1))), (24, 24, 24), SIZE, name="tiny")
#: How far the int8 AP may fall below the fp32 AP of the same network on the tiny set (AP in [0, 1]).
INT8_AP_BOUND = 0.05


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[LitePose, Path]:
    """A tiny LitePose fitted to 4 synthetic 64x64 images (1-2 people each) for 300 steps (~15 s on 2 cores):
    it finds the people (AP ~0.15 on those images) while a random network finds none, so a quantization that
    breaks heatmaps or tags shows as lost AP."""
    from litepose.data.dataset import KeypointDataset
    from litepose.data.synthetic import generate_dataset
    from litepose.training.losses import LitePoseLoss

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("int8-tiny")
    ann = generate_dataset(root, 4, "coco", seed=3, image_size=(SIZE, SIZE), min_people=1, max_people=2,
                           min_height=0.6 * SIZE, max_height=0.9 * SIZE, crowd_prob=0.0)
    items = [*KeypointDataset(ann, root / "images", input_size=SIZE, train=False, max_people=4)]
    images = torch.stack([it["image"] for it in items])
    targets = [[torch.stack([it[key][s] for it in items]) for s in range(2)] for key in ("heatmaps", "masks", "joints")]
    torch.manual_seed(0)
    model = LitePose(TINY, 17).train()
    loss_fn = LitePoseLoss(17, ae_factors=((1e-2, 1e-2), None))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = loss_fn(model(images), *targets).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.skeleton = get_skeleton("coco")
    return model.eval(), ann


def ap_of(model_or_file: object, ann: Path) -> float:
    predictor = Predictor(model_or_file, input_size=SIZE, detection_threshold=0.1, threads=1)
    result = evaluate_model(predictor, ann, ann.parent / "images")
    assert result.metrics is not None
    return float(result.metrics["AP"])


@pytest.mark.parametrize("format", ["onnx", "openvino"])
def test_int8_of_a_trained_tiny_model_keeps_its_ap(trained: tuple[LitePose, Path], tmp_path: Path,
                                                   format: str) -> None:
    model, ann = trained
    fp32 = ap_of(model, ann)
    assert fp32 >= 0.1  # the network finds the people: AP can be lost
    path = tmp_path / ("m.onnx" if format == "onnx" else "m.xml")
    report = export_model(model, path, format=format, precision="int8", calib=ann.parent / "images")
    assert report.calibration_images == 4 and report.metadata.precision == "int8"
    assert report.metadata.extra["int8"]["float_layers"] == list(report.float_layers)
    assert report.verification.worst <= report.verification.bound == 0.5
    int8 = ap_of(path, ann)
    assert int8 >= fp32 - INT8_AP_BOUND, (int8, fp32)


def test_float_layers_are_found_from_the_graph(trained: tuple[LitePose, Path]) -> None:
    proto = onnx_graph(trained[0], SIZE)
    head = float_layers(proto, ["head"])
    by_name = {n.name: n for n in proto.graph.node}
    outputs = {o.name for o in proto.graph.output}
    sums = [by_name[n] for n in head if by_name[n].op_type == "Add"]
    assert {s.output[0] for s in sums} == outputs == {"stride4", "stride2"}
    convs = [by_name[n] for n in head if by_name[n].op_type == "Conv"]
    assert len(convs) == 4 and len(head) == 6  # the two 1x1 prediction convs feeding each output sum
    assert {init.name for init in proto.graph.initializer} >= {c.input[1] for c in convs}
    assert sorted(by_name[c.input[1]].name if c.input[1] in by_name else c.input[1] for c in convs) == sorted(
        f"final_{branch}.{i}.conv.3.weight" for branch in ("refined", "raw") for i in range(2))
    stem = float_layers(proto, ["stem"])
    assert len(stem) == 1 and by_name[stem[0]].input[0] == "image"
    assert float_layers(proto, []) == []
    with pytest.raises(ValueError, match="unknown float layer group 'tail'"):
        float_layers(proto, ["tail"])


def test_kept_layers_are_float_in_both_int8_files(trained: tuple[LitePose, Path], tmp_path: Path) -> None:
    model, ann = trained
    calib = ann.parent / "images"
    # onnxruntime QDQ: a quantized conv reads its weight through DequantizeLinear; a kept one reads the float tensor
    export_model(model, tmp_path / "q.onnx", precision="int8", calib=calib)
    graph = onnx.load(tmp_path / "q.onnx").graph
    producer = {out: n for n in graph.node for out in n.output}
    inits = {t.name: t for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    float_convs = [n for n in convs if n.input[1] in inits and inits[n.input[1]].data_type == onnx.TensorProto.FLOAT]
    quantized = [n for n in convs if n.input[1] in producer and producer[n.input[1]].op_type == "DequantizeLinear"]
    assert sorted(n.name for n in float_convs) == sorted(n for n in float_layers(onnx_graph(model, SIZE), ["head"])
                                                          if "Conv" in n)
    assert len(quantized) == len(convs) - 4
    # OpenVINO (NNCF): quantized weights are int8 constants; the kept prediction convs' weights stay f32, and so
    # do the stem's (a conv with a bias is two OpenVINO operations, NAME/WithoutBiases and the bias Add NAME)
    export_model(model, tmp_path / "q.xml", format="openvino", precision="int8", calib=calib,
                 float_layers=("head", "stem"))
    ov_model = openvino_core().read_model(tmp_path / "q.xml")
    fq = [op for op in ov_model.get_ops() if op.get_type_name() == "FakeQuantize"]
    int8_weights = [op for op in ov_model.get_ops() if op.get_type_name() == "Constant"
                    and op.get_element_type() == ov.Type.i8]
    ov_convs = {op.get_friendly_name(): op for op in ov_model.get_ops() if op.get_type_name() == "Convolution"}
    names = float_layers(onnx_graph(model, SIZE), ["head", "stem"])
    kept = [op for name, op in ov_convs.items() if name in names or name.rsplit("/", 1)[0] in names]
    assert fq and len(int8_weights) >= len(ov_convs) - 5 - 6  # ConvTranspose weights are quantized too
    assert len(kept) == 5 and any(op.get_friendly_name().endswith("/WithoutBiases") for op in kept)
    for conv in kept:
        weight = conv.input_value(1).get_node()
        assert weight.get_type_name() == "Constant" and weight.get_element_type() == ov.Type.f32


def test_calibration_inputs_are_the_predictors_inputs(tmp_path: Path) -> None:
    import cv2

    rng = np.random.default_rng(0)
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "a.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "sub" / "b.jpg"), rng.integers(0, 255, (40, 100, 3), dtype=np.uint8))
    (tmp_path / "c.jpg").write_bytes(b"broken")
    (tmp_path / "notes.txt").write_text("skip me")
    files = calibration_images(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.png", "c.jpg", "sub/b.jpg"]
    inputs = calibration_inputs(files, (64, 64))
    assert len(inputs) == 2 and all(x.shape == (1, 3, 64, 64) and x.dtype == np.float32 for x in inputs)
    np.testing.assert_array_equal(inputs[0], preprocess_numpy(load_image(files[0]), 64, pad_to=32)[0])
    # a 100x40 image: short side to 64, long side 160 padded to 192; calibration keeps the left 64 columns
    wide = preprocess_numpy(load_image(files[2]), 64, pad_to=32)[0]
    assert wide.shape == (1, 3, 64, 192)
    np.testing.assert_array_equal(inputs[1], wide[..., :64])
    assert len(calibration_inputs(files, (64, 64), count=1)) == 1
    with pytest.raises(ValueError, match=r"none of the 1 image files could be read \(.*c.jpg"):
        calibration_inputs([files[1]], (64, 64))


def test_int8_float_layers_run_in_bf16_only_where_the_cpu_has_it() -> None:
    from litepose.export.openvino_ir import int8_inference_precision

    assert int8_inference_precision(("FP32", "BF16", "INT8")) == "bf16"
    assert int8_inference_precision(("FP32", "INT8", "BIN")) == "f32"


def test_int8_openvino_records_the_hint_it_was_verified_with(trained: tuple[LitePose, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from litepose.export import openvino_ir
    from litepose.export.openvino_ir import inference_precision

    model, ann = trained
    monkeypatch.setattr(openvino_ir, "cpu_capabilities", lambda: ("FP32", "INT8"))  # a CPU without bf16
    report = export_model(model, tmp_path / "q.xml", format="openvino", precision="int8", calib=ann.parent / "images")
    assert report.metadata.extra["openvino_inference_precision"] == "f32"
    assert inference_precision(openvino_core().read_model(tmp_path / "q.xml")) == "f32"

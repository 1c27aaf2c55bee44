"""benchmarks/bench_end_to_end.py: the quick run goes through run_all, with an edge model found through
$LITEPOSE_EDGE_MODELS (a stand-in ONNX graph with YOLO-pose's end-to-end output), and its edge-model
post-processing maps detections back to image pixels."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import bench_end_to_end  # noqa: E402
import run_all  # noqa: E402

onnx = pytest.importorskip("onnx")


def _edge_stand_in(path: Path, side: int = 64) -> None:
    """``images [1, 3, side, side]`` -> ``output0 [1, 300, 57]``: fixed detections (two above the score
    threshold) plus 0 x the image mean, so the output depends on the input as a network's does."""
    from onnx import TensorProto, helper, numpy_helper

    rows = np.zeros((1, 300, 57), np.float32)
    rows[0, :2, :4] = [[8, 8, 24, 40], [30, 10, 50, 60]]
    rows[0, :2, 4] = [0.9, 0.6]
    rows[0, 2:, 4] = 0.1
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),  # [1]
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["detections", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "edge", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 300, 57])],
        initializer=[numpy_helper.from_array(rows, "detections"),
                     numpy_helper.from_array(np.zeros(1, np.float32), "zero")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_quick_run_with_an_edge_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capfd: pytest.CaptureFixture[str]) -> None:
    edge = tmp_path / "edge-pose.onnx"
    _edge_stand_in(edge)
    monkeypatch.setenv("LITEPOSE_EDGE_MODELS", f"{tmp_path / 'missing.onnx'}:{edge}")  # missing files are skipped
    assert run_all.main(["--quick", "end_to_end"]) == 0
    out = capfd.readouterr().out  # the benchmark prints from its own process
    for variant in ("litepose-xs torch fp32", "litepose-xs onnxruntime fp32", "litepose-xs openvino fp32",
                    "edge-pose onnxruntime fp32", "edge-pose openvino fp32"):
        assert f"\n{variant} " in out, variant
    assert "faster than edge-pose at its fastest here (edge-pose " in out and "GMAC/s" in out
    table = out.split("=== summary (quick runs)\n")[1].splitlines()
    assert table[2].startswith("bench_end_to_end") and "ok in" in table[2]
    assert [row.split()[-1] for row in table[3:]] == ["ms", "ms", "x", "GMAC/s"]


def test_edge_post_processing_maps_back_to_the_image() -> None:
    # a 640x480 image letterboxed into 256x256: gain 0.4, 32 px of padding above and below
    model = object.__new__(bench_end_to_end.EdgeModel)
    model.height = model.width = 256
    image = np.zeros((480, 640, 3), np.uint8)
    batch, gain, left, top = model.preprocess(image)
    assert batch.shape == (1, 3, 256, 256) and (gain, left, top) == (0.4, 0.0, 32.0)
    assert batch[0, :, 0, 0] == pytest.approx(114 / 255) and batch[0, :, 128, 128] == pytest.approx(0.0)
    out = np.zeros((1, 300, 57), np.float32)
    out[0, 0, :6] = [40, 72, 80, 112, 0.8, 0]
    out[0, 0, 6:9] = [60, 92, 0.9]  # the first keypoint
    out[0, 1, 4] = 0.2  # below the score threshold
    boxes, keypoints = model.postprocess(out, gain, left, top)
    np.testing.assert_allclose(boxes, [[100, 100, 200, 200]])
    assert keypoints.shape == (1, 17, 3)
    np.testing.assert_allclose(keypoints[0, 0], [150, 150, 0.9], rtol=1e-6)


def test_gather_elements_rewrite_for_openvino_gathers_the_same(tmp_path: Path) -> None:
    # YOLO26's head: top-k rows picked by GatherElements with indices expanded along the channels
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMax", ["x", "axes2"], ["score"], keepdims=0),  # [1, 10]
        helper.make_node("TopK", ["score", "k"], ["top", "index"], axis=1),  # index [1, 4]
        helper.make_node("Unsqueeze", ["index", "axes2"], ["index3"]),  # [1, 4, 1]
        helper.make_node("Expand", ["index3", "shape"], ["wide"]),  # [1, 4, 5]
        helper.make_node("GatherElements", ["x", "wide"], ["y"], axis=1),
    ]
    inits = [numpy_helper.from_array(np.array([2], np.int64), "axes2"),
             numpy_helper.from_array(np.array([4], np.int64), "k"),
             numpy_helper.from_array(np.array([1, 4, 5], np.int64), "shape")]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5])], initializer=inits)
    path = tmp_path / "head.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    rewritten = bench_end_to_end.openvino_compatible(path)
    assert [n.op_type for n in rewritten.graph.node].count("GatherElements") == 0
    x = np.random.default_rng(0).standard_normal((1, 10, 5)).astype(np.float32)
    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    after = ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"]).run(None,
                                                                                                      {"x": x})[0]
    np.testing.assert_array_equal(after, before)
    np.testing.assert_array_equal(before[0], x[0][np.argsort(-x[0].max(axis=1))[:4]])

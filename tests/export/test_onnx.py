"""ONNX export: onnxruntime reproduces PyTorch, at a fixed or a dynamic size; files appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from litepose.export import onnx as onnx_export
from litepose.export.onnx import check_onnx, export_onnx, onnx_bytes
from litepose.models.litepose import LitePose


def test_export_matches_torch(tiny_model: LitePose, tmp_path: Path) -> None:
    out = export_onnx(tiny_model, tmp_path / "tiny.onnx", input_size=64)
    assert out.path.is_file() and out.opset == 17 and out.input_size == (64, 64) and not out.dynamic
    assert 0 <= out.max_rel_error <= 1e-4
    session = ort.InferenceSession(str(out.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["stride4", "stride2"]
    x = torch.randn(1, 3, 64, 64)
    stride4, stride2 = session.run(None, {"image": x.numpy()})
    with torch.inference_mode():
        expected = tiny_model(x)
    assert stride4.shape == (1, 10, 16, 16) and stride2.shape == (1, 5, 32, 32)
    np.testing.assert_allclose(stride4, expected.stride4.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stride2, expected.stride2.numpy(), rtol=1e-4, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.onnx"]  # no temporary file left


def test_dynamic_export_runs_at_other_sizes(tiny_model: LitePose, tmp_path: Path) -> None:
    out = export_onnx(tiny_model, tmp_path / "dyn.onnx", input_size=(64, 96), dynamic=True)
    session = ort.InferenceSession(str(out.path), providers=["CPUExecutionProvider"])
    stride4, stride2 = session.run(None, {"image": np.zeros((1, 3, 128, 160), np.float32)})
    assert stride4.shape == (1, 10, 32, 40) and stride2.shape == (1, 5, 64, 80)


def test_export_does_not_change_the_model_mode(tiny_model: LitePose, tmp_path: Path) -> None:
    tiny_model.train()
    export_onnx(tiny_model, tmp_path / "m.onnx", input_size=64)
    assert tiny_model.training


def test_a_failed_check_writes_nothing_and_keeps_the_previous_file(tiny_model: LitePose, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")

    def mismatch(*_: object, **__: object) -> float:
        raise ValueError("output 0 differs")

    monkeypatch.setattr(onnx_export, "check_onnx", mismatch)
    with pytest.raises(ValueError, match="differs"):
        export_onnx(tiny_model, target, input_size=64)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_bad_input_size_is_refused(tiny_model: LitePose, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        export_onnx(tiny_model, tmp_path / "m.onnx", input_size=70)


def test_check_reports_a_wrong_graph(tiny_model: LitePose) -> None:
    x = torch.randn(1, 3, 64, 64)
    other = LitePose(tiny_model.spec, num_keypoints=5).eval()  # other random weights
    with pytest.raises(ValueError, match="differs from PyTorch"):
        check_onnx(onnx_bytes(other, (x,)), tiny_model, (x,))

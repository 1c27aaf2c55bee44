"""``--backend`` and ``--threads`` on ``litepose predict``, ``eval`` and ``bench``: a checkpoint on every
backend gives torch's results; exported files; bad combinations and bad files are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from litepose.cli import main


@pytest.fixture(scope="module")
def checkpoint(trained: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from litepose.models.checkpoint import save
    from litepose.skeleton import COCO

    return save(trained.model, tmp_path_factory.mktemp("ckpt") / "tiny.pt", skeleton=COCO)


def _predictions(capsys: pytest.CaptureFixture[str], *args: str | Path) -> list[dict]:
    assert main(["predict", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_predict_a_checkpoint_on_every_backend(trained: SimpleNamespace, checkpoint: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    images = trained.paths[0].parent
    expected = _predictions(capsys, images, "--model", checkpoint)
    assert len(expected) >= 4  # two people in each of the two images
    for backend in ("torch", "onnxruntime", "openvino"):
        got = _predictions(capsys, images, "--model", checkpoint, "--backend", backend, "--threads", "1")
        assert [(p["file_name"], p["image_id"]) for p in got] == [(p["file_name"], p["image_id"]) for p in expected]
        for a, b in zip(got, expected, strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)
            np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=1e-3)


def test_eval_an_exported_file_and_a_converted_checkpoint(trained: SimpleNamespace, exported: SimpleNamespace,
                                                          checkpoint: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    ann, images = trained.root / "annotations.json", trained.paths[0].parent

    def metrics(*model: str | Path) -> dict[str, float]:
        assert main(["eval", "--ann", str(ann), "--images", str(images), "--json", *map(str, model)]) == 0
        return json.loads(capsys.readouterr().out)

    expected = metrics("--model", checkpoint)
    assert expected["AP"] > 0.5  # the training images
    for model in (("--model", exported.onnx), ("--model", exported.xml),
                  ("--model", checkpoint, "--backend", "openvino")):
        assert metrics(*model) == pytest.approx(expected, abs=1e-6)


def test_bench_exported_files_and_openvino(exported: SimpleNamespace, checkpoint: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(exported.onnx), str(exported.static_xml), str(checkpoint), "--backend", "openvino",
                 "--repeats", "2", "--warmup", "1", "--threads", "1", "--people", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["results"]
    assert [row["backend"] for row in rows] == ["openvino"] * 3  # the .onnx file read by OpenVINO
    assert [row["input_size"] for row in rows] == [[64, 64]] * 3 and {row["num_keypoints"] for row in rows} == {17}
    assert all(row["end_to_end"]["p50_ms"] > 0 for row in rows) and report["settings"]["threads"] == 1
    assert main(["bench", str(exported.onnx), "--repeats", "2", "--warmup", "1", "--input-size", "96"]) == 0
    out = capsys.readouterr().out
    assert "128x128" in out and "on onnxruntime" in out  # the official resize: short side ceil64(96) = 128


def _error(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    assert main([*map(str, args)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_bad_backend_options_are_one_line(trained: SimpleNamespace, exported: SimpleNamespace, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    image = trained.paths[0]
    assert _error(capsys, "predict", image, "--model", exported.xml, "--backend", "onnxruntime") == (
        f"litepose predict: error: --backend onnxruntime: {exported.xml} runs on openvino")
    assert "exported models run on the CPU" in _error(capsys, "predict", image, "--model", exported.onnx,
                                                      "--device", "cuda")
    assert "--threads must be >= 1, got 0" in _error(capsys, "predict", image, "--model", exported.onnx,
                                                     "--threads", "0")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    assert _error(capsys, "predict", image, "--model", garbage).startswith(
        f"litepose predict: error: {garbage}: not a readable ONNX model (")
    assert _error(capsys, "eval", "--ann", trained.root / "annotations.json", "--images", image.parent,
                  "--model", garbage).startswith(f"litepose eval: error: {garbage}: not a readable ONNX model (")
    assert _error(capsys, "bench", garbage).startswith(f"litepose bench: error: {garbage}: not a readable ONNX model")
    assert "runs on openvino" in _error(capsys, "bench", exported.xml, "--backend", "onnxruntime")
    assert "a latency table is measured on one backend at a time" in _error(
        capsys, "bench", "--latency-table", tmp_path / "t.json", "--backend", "onnxruntime,openvino")

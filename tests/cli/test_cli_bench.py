"""``litepose bench``: the JSON report and its schema, tables, the plot, exported files as MODEL, cells that
cannot run (one line, or skipped with a note), one-line option errors before any work, and latency tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import pytest

from litepose.cli import main
from litepose.export.bench import SCHEMA, SCHEMA_VERSION, STAGES, check_report
from litepose.export.latency_table import LatencyTable
from litepose.models.space import SUPERNET_ARCH, SearchSpace

FAST = ["--repeats", "2", "--warmup", "1", "--threads", "1", "--people", "0,3"]


def _error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    code = main(["bench", *args])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("litepose bench: error: "), lines
    return lines[0]


@pytest.fixture
def no_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measuring or exporting anything fails the test: options, cells and outputs must be checked first."""
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("measured before the options and outputs were checked")

    monkeypatch.setattr("litepose.export.latency.measure_latency", refuse)
    monkeypatch.setattr("litepose.export.bench.measure_cell", refuse)
    monkeypatch.setattr("litepose.export.bench.export_for_backend", refuse)
    monkeypatch.setattr("litepose.models.checkpoint.read_checkpoint", refuse)
    monkeypatch.setattr(LatencyTable, "build", refuse)


@pytest.fixture(scope="module")
def arch_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LitePose of the smallest sub-network of a quarter-width 64 px space: milliseconds per forward."""
    space = SearchSpace("quarter", (64,), (0.25,), SUPERNET_ARCH)
    path = tmp_path_factory.mktemp("arch") / "small.json"
    path.write_text(json.dumps(space.min_arch().to_dict()))
    return path


@pytest.mark.parametrize(("args", "words"), [
    ([], "nothing to measure"),
    (["litepose-xs", "--latency-table", "t.json"], "not both"),
    (["litepose-xs", "--threads", "0"], "--threads"),
    (["litepose-xs", "--repeats", "0"], "--repeats"),
    (["litepose-xs", "--warmup", "-1"], "--warmup"),
    (["litepose-xs", "--input-size", "100"], "--input-size"),
    (["litepose-xs", "--backends", "torch,cuda"], "--backends torch,cuda"),
    (["litepose-xs", "--precision", "fp8"], "--precision fp8"),
    (["litepose-xs", "--people", "0,-5"], "--people"),
    (["litepose-xs", "--image-size", "640"], "--image-size"),
    (["litepose-xs", "--plot", "out.txt"], "--plot out.txt: the plot is a PNG"),
    (["litepose-xs", "--calib", "no-such-folder"], "--calib no-such-folder: not a folder"),
    (["--latency-table", "t.json", "--precision", "bf16"], "--precision applies to MODEL"),
    (["--latency-table", "t.json", "--backend", "torch,onnxruntime"], "one backend at a time"),
    (["--latency-table", "t.json", "--space", "nowhere"], "--space nowhere"),
    # one cell requested and it cannot run: one line naming it
    (["litepose-xs", "--precision", "int8"], "torch runs fp32 only"),
    (["litepose-xs", "--backends", "onnxruntime", "--precision", "bf16"], "onnxruntime bf16: "),
])
def test_bad_options_are_one_line(args: list[str], words: str, no_measuring: None, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert words in _error_line(capsys, args)


def test_outputs_are_checked_before_measuring(tmp_path: Path, no_measuring: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["--latency-table", str(tmp_path)])
    assert f"--latency-table {tmp_path}" in line and "folder" in line
    inside = tmp_path / "file.txt"
    inside.write_text("x")
    assert "--latency-table" in _error_line(capsys, ["--latency-table", str(inside / "t.json")])
    assert f"--plot {inside / 'p.png'}" in _error_line(capsys, ["litepose-xs", "--plot", str(inside / "p.png")])
    folder = tmp_path / "plot.png"
    folder.mkdir()
    assert "is a folder" in _error_line(capsys, ["litepose-xs", "--plot", str(folder)])


def test_bad_space_file_and_unknown_model_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "space.json"
    bad.write_text('{"name": "x"}')
    assert "missing field 'resolutions'" in _error_line(capsys, ["--latency-table", str(tmp_path / "t.json"),
                                                                 "--space", str(bad)])
    assert "unknown model" in _error_line(capsys, ["litepose-xxl"])
    assert "does not exist" in _error_line(capsys, ["missing.json"])
    assert "missing.onnx: no such file" in _error_line(capsys, ["missing.onnx"])
    not_a_checkpoint = tmp_path / "m.pt"
    not_a_checkpoint.write_bytes(b"garbage")
    assert str(not_a_checkpoint) in _error_line(capsys, [str(not_a_checkpoint)])


def test_json_report_follows_the_schema(arch_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from litepose.models.profile import profile_model
    from litepose.models.zoo import create_model

    args = ["bench", str(arch_file), "--backends", "torch,onnxruntime", "--precision", "fp32,bf16", "--joints", "17",
            *FAST, "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    check_report(report)
    assert report["schema"] == SCHEMA and report["version"] == SCHEMA_VERSION == 1
    assert report["settings"]["repeats"] == 2 and report["settings"]["warmup"] == 1
    assert report["settings"]["threads"] == 1 and report["settings"]["people"] == [0, 3]
    cells = {(c["backend"], c["precision"]): c for c in report["results"]}
    assert list(cells) == [("torch", "fp32"), ("torch", "bf16"), ("onnxruntime", "fp32"), ("onnxruntime", "bf16")]
    assert cells["torch", "bf16"]["status"] == cells["onnxruntime", "bf16"]["status"] == "skipped"
    assert "fp32 only" in cells["torch", "bf16"]["note"] and "no bf16" in cells["onnxruntime", "bf16"]["note"]
    expected = profile_model(create_model(str(arch_file), 17), 64)
    for key in ("torch", "fp32"), ("onnxruntime", "fp32"):
        cell = cells[key]
        assert cell["status"] == "ok" and cell["kind"] == "arch" and cell["num_keypoints"] == 17
        assert cell["input_size"] == [64, 64] and cell["maps_size"] == [64, 64] and cell["tag_dim"] == 1
        assert (cell["params"], cell["macs"], cell["macs_paper"]) == (expected.params, expected.macs,
                                                                       expected.macs_paper)
        assert set(cell["stages"]) == set(STAGES) and cell["stages"]["network"]["p50_ms"] > 0
        # the stages add up to the whole call (the medians of parts need not add up to the median of the sum)
        assert sum(s["p50_ms"] for s in cell["stages"].values()) <= 2 * cell["end_to_end"]["p90_ms"]
        assert 0 < cell["end_to_end"]["p50_ms"] <= cell["end_to_end"]["p90_ms"]
        assert cell["throughput_fps"] == pytest.approx(1e3 / cell["end_to_end"]["mean_ms"], rel=0.01)
        assert [row["people"] for row in cell["people"]] == [0, 3]
        fixed = sum(cell["stages"][s]["p50_ms"] for s in ("preprocess", "network", "maps"))
        for row in cell["people"]:
            assert row["end_to_end_p50_ms"] == pytest.approx(fixed + row["decode"]["p50_ms"], abs=1e-3)
    assert cells["onnxruntime", "fp32"]["note"].startswith("exported by litepose.export.export_model")
    # a document that breaks the schema is refused, naming the field
    del report["results"][0]["stages"]["maps"]
    with pytest.raises(ValueError, match=r"results\[0\]\.stages"):
        check_report(report)
    with pytest.raises(ValueError, match="version"):
        check_report({**report, "version": 2})


def test_tables_and_plot(arch_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "out" / "bench.png"
    (tmp_path / "out").mkdir()
    assert main(["bench", str(arch_file), "--backends", "torch,openvino", "--precision", "fp32", "--flip",
                 "--image-size", "96x80", *FAST, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 cells measured: 1 thread, 1 warm-up + 2 timed runs each" in out and "flip test on" in out
    for label in ("small.json on torch fp32", "small.json on openvino fp32"):
        assert sum(line.startswith(label) for line in out.splitlines()) == 2  # the stage and the people tables
    assert "N=0" in out and "N=3" in out and f"wrote {plot}" in out
    assert plot.read_bytes().startswith(b"\x89PNG")
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[1] > 1000 and image.std() > 10  # drawn, not blank
    assert [p.name for p in plot.parent.iterdir()] == ["bench.png"]  # written atomically: no temporary left


def test_exported_file_as_model(arch_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from litepose.export import export_model
    from litepose.models.profile import count_params
    from litepose.models.zoo import create_model

    model = create_model(str(arch_file), 17)
    path = tmp_path / "small.onnx"
    export_model(model, path, format="onnx", input_size=64)
    assert main(["bench", str(path), "--backends", "onnxruntime,openvino", *FAST, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    check_report(report)
    cells = report["results"]
    assert [(c["backend"], c["precision"], c["kind"], c["status"]) for c in cells] == [
        ("onnxruntime", "fp32", "exported", "ok"), ("openvino", "fp32", "exported", "ok")]
    assert all(c["params"] == count_params(model) and c["input_size"] == [64, 64] for c in cells)
    assert all(c["arch"] == model.spec.name and c["num_keypoints"] == 17 for c in cells)
    # what the file is decides: an fp32 file is not an int8 cell, and a 64x64 file takes no other size
    assert "small.onnx is a fp32 file" in _error_line(capsys, [str(path), "--precision", "int8"])
    assert "takes a fixed 64x64 input" in _error_line(capsys, [str(path), "--input-size", "96"])
    assert "runs on onnxruntime or openvino, not torch" in _error_line(capsys, [str(path), "--backends", "torch"])


def test_build_a_table_from_a_space_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = SearchSpace("quarter", (64,), (0.25,), SUPERNET_ARCH)  # one width per gene: 14 pieces
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(space.to_dict()))
    out = tmp_path / "tables" / "t.json"
    assert main(["bench", "--latency-table", str(out), "--space", str(space_file), "--threads", "1",
                 "--people", "0", "--joints", "17"]) == 0
    assert f"wrote {out}: 14 entries for the quarter space, 17 joints" in capsys.readouterr().out
    table = LatencyTable.load(out, backend="torch", space=space, num_keypoints=17)
    assert table.threads == 1 and sorted(table.decode[64]) == [0]
    assert table.predict_ms(space.max_arch(), 17) > 0


def test_bench_a_project_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from litepose.models.checkpoint import save
    from litepose.models.litepose import LitePose

    space = SearchSpace("quarter", (64,), (0.25,), SUPERNET_ARCH)
    path = save(LitePose(space.min_arch(), 17), tmp_path / "small.pt")
    assert main(["bench", str(path), *FAST, "--people", ""]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^small\.pt on torch fp32 +64x64 ", out, re.M) and "N=" not in out  # no people table
    assert "predicts 17 keypoints" in _error_line(capsys, [str(path), "--joints", "14"])

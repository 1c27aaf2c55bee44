"""``litepose bench``: model latency lines and JSON, a latency table from a space file, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from litepose.cli import main
from litepose.export.latency_table import LatencyTable
from litepose.models.space import SUPERNET_ARCH, SearchSpace


def _error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    code = main(["bench", *args])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("litepose bench: error: "), lines
    return lines[0]


@pytest.fixture
def no_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Measuring anything fails the test: options and outputs must be checked first."""
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("measured before the options and outputs were checked")

    monkeypatch.setattr("litepose.export.latency.measure_latency", refuse)
    monkeypatch.setattr(LatencyTable, "build", refuse)


@pytest.mark.parametrize(("args", "words"), [
    ([], "nothing to measure"),
    (["litepose-xs", "--latency-table", "t.json"], "not both"),
    (["litepose-xs", "--threads", "0"], "--threads"),
    (["litepose-xs", "--repeats", "0"], "--repeats"),
    (["litepose-xs", "--warmup", "-1"], "--warmup"),
    (["litepose-xs", "--input-size", "100"], "--input-size"),
    (["--latency-table", "t.json", "--space", "nowhere"], "--space nowhere"),
])
def test_bad_options_are_one_line(args: list[str], words: str, no_measuring: None, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert words in _error_line(capsys, args)


def test_table_output_is_checked_before_measuring(tmp_path: Path, no_measuring: None,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["--latency-table", str(tmp_path)])
    assert f"--latency-table {tmp_path}" in line and "folder" in line
    inside = tmp_path / "file.txt"
    inside.write_text("x")
    assert "--latency-table" in _error_line(capsys, ["--latency-table", str(inside / "t.json")])


def test_bad_space_file_and_unknown_model_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "space.json"
    bad.write_text('{"name": "x"}')
    assert "missing field 'resolutions'" in _error_line(capsys, ["--latency-table", str(tmp_path / "t.json"),
                                                                 "--space", str(bad)])
    assert "unknown model" in _error_line(capsys, ["litepose-xxl"])
    assert "does not exist" in _error_line(capsys, ["missing.json"])
    not_a_checkpoint = tmp_path / "m.pt"
    not_a_checkpoint.write_bytes(b"garbage")
    assert str(not_a_checkpoint) in _error_line(capsys, [str(not_a_checkpoint)])


def test_bench_a_zoo_model(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "litepose-xs", "--input-size", "64", "--repeats", "2", "--warmup", "0", "--threads", "1"]
    assert main([*args, "--people", "0,3", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["model"] == "litepose-xs" and row["input_size"] == 64 and row["num_keypoints"] == 14
    assert row["latency"]["backend"] == "torch" and row["latency"]["threads"] == 1 and row["latency"]["median_ms"] > 0
    assert set(row["decode_ms"]) == {"0", "3"}
    assert main([*args, "--backend", "onnxruntime", "--joints", "17"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("litepose-xs  64x64  17 joints  median ") and "onnxruntime, 1 thread" in out


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
    assert main(["bench", str(path), "--repeats", "2", "--warmup", "0", "--threads", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"{path}  64x64  17 joints  median ")
    assert "predicts 17 keypoints" in _error_line(capsys, [str(path), "--joints", "14"])

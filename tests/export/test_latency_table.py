"""The latency lookup table: build on a tiny space, additive predictions, files, and mismatches named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from litepose.export.latency import LatencyModel, make_latency_model
from litepose.export.latency_table import LatencyTable, TableLatency
from litepose.export.pieces import network_pieces, space_pieces
from litepose.export.timing import LatencyResult, host_id
from litepose.models.space import SearchSpace

FAST = {"warmup": 0, "repeats": 2, "budget_s": 0.0, "calibration": 2, "decode_people": (0, 4)}


@pytest.fixture(scope="module")
def table(make_space: Callable[..., SearchSpace]) -> LatencyTable:
    return LatencyTable.build(make_space(), "torch", 5, threads=1, progress=False, **FAST)


def test_build_covers_the_space(table: LatencyTable) -> None:
    assert table.backend == "torch" and table.num_keypoints == 5 and table.threads == 1 and table.host == host_id()
    assert set(table.entries) == {p.key for p in space_pieces(table.space, 5)}
    assert all(e["ms"] > 0 and e["repeats"] == 2 for e in table.entries.values())
    assert len(table.calibration) == 2 and {c["arch"].split("-")[0] for c in table.calibration} == {"r64", "r96"}
    assert table.overhead_ms == pytest.approx(float(np.median(
        [c["measured_ms"] - c["pieces_ms"] for c in table.calibration])))
    assert sorted(table.decode) == [64, 96] and all(sorted(row) == [0, 4] for row in table.decode.values())
    assert table.settings == {"memory_format": "channels_last"} and table.versions["torch"]
    assert table.build_seconds > 0 and table.created
    assert table.load_average is None or len(table.load_average) == 2


def test_each_entry_keeps_its_fastest_round(table: LatencyTable, monkeypatch: pytest.MonkeyPatch) -> None:
    from litepose.export import latency_table as module

    calls: list[float] = []

    def fake(model: object, *_: object, **__: object) -> LatencyResult:
        calls.append(1.0)
        median = [5.0, 3.0, 4.0][(len(calls) - 1) // len(table.entries)]  # round 2 of 3 is the quietest
        return LatencyResult(median, 0.1, median, median, 5, 0, "torch", 1, ((1, 3, 64, 64),),
                             cpu_wait=0.5 if median == 5.0 else 0.0)  # only the slowest round was contended

    monkeypatch.setattr(module, "measure_latency", fake)
    one = module.LatencyTable.build(table.space, "torch", 5, rounds=3, calibration=0, decode_people=(),
                                    progress=False)
    assert len(calls) == 3 * len(table.entries)
    assert {e["ms"] for e in one.entries.values()} == {3.0}
    assert one.contended_entries == []
    with pytest.raises(ValueError, match="rounds"):
        module.LatencyTable.build(table.space, rounds=0)


def test_predictions_add_up_the_pieces(table: LatencyTable) -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        spec = table.space.sample(rng)
        pieces = sum(table.entries[p.key]["ms"] for p in network_pieces(spec, 5))
        assert table.pieces_ms(spec, 5) == pytest.approx(pieces)
        assert table.predict_ms(spec, 5) == pytest.approx(pieces + table.overhead_ms)
        assert sum(table.breakdown(spec, 5).values()) == pytest.approx(pieces)
        assert table.pieces_ms(spec, 5) > 0
    assert isinstance(table, LatencyModel)


def test_predict_refuses_other_joints_and_archs_outside_the_space(table: LatencyTable) -> None:
    spec = table.space.min_arch()
    with pytest.raises(ValueError, match="'num_keypoints'"):
        table.predict_ms(spec, 17)
    with pytest.raises(ValueError, match="img_size 128"):
        table.predict_ms(spec.with_input_size(128), 5)


def test_decode_time_is_interpolated_between_measured_counts(table: LatencyTable) -> None:
    row = table.decode[64]
    assert table.decode_ms(64, 0) == row[0] and table.decode_ms(64, 4) == row[4]
    assert table.decode_ms(64, 1) == pytest.approx(row[0] + (row[4] - row[0]) / 4)
    with pytest.raises(ValueError, match=r"not 5 .*'decode'"):
        table.decode_ms(64, 5)
    with pytest.raises(ValueError, match="resolution 128"):
        table.decode_ms(128, 0)
    spec = table.space.min_arch()
    assert TableLatency(table, people=2).predict_ms(spec, 5) == pytest.approx(
        table.predict_ms(spec, 5) + table.decode_ms(64, 2))
    assert TableLatency(table).predict_ms(spec, 5) == table.predict_ms(spec, 5)
    with pytest.raises(ValueError, match="cannot predict 30"):
        TableLatency(table, people=30)


def test_save_load_round_trip(table: LatencyTable, tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    table.save(path)
    loaded = LatencyTable.load(path, backend="torch", space=table.space, num_keypoints=5)
    assert loaded.to_dict() == table.to_dict()
    assert loaded.source == f"latency table {path}"
    spec = table.space.max_arch()
    assert loaded.predict_ms(spec, 5) == table.predict_ms(spec, 5)
    model = make_latency_model("torch", table=path, people=4)
    assert isinstance(model, TableLatency) and model.predict_ms(spec, 5) == pytest.approx(
        table.predict_ms(spec, 5) + table.decode_ms(96, 4))


@pytest.mark.parametrize(("asked", "field"), [
    ({"backend": "onnxruntime"}, "'backend'"),
    ({"space": "official"}, "'space'"),
    ({"num_keypoints": 17}, "'num_keypoints'"),
    ({"threads": 2}, "'threads'"),
])
def test_loading_a_table_made_for_something_else_names_file_and_field(table: LatencyTable, tmp_path: Path,
                                                                      asked: dict[str, object], field: str) -> None:
    path = tmp_path / "table.json"
    table.save(path)
    with pytest.raises(ValueError) as err:
        LatencyTable.load(path, **asked)
    assert str(path) in str(err.value) and field in str(err.value)
    assert "\n" not in str(err.value)


def test_loading_another_version_of_the_space_is_refused(table: LatencyTable, tmp_path: Path,
                                                        make_space: Callable[..., SearchSpace]) -> None:
    path = tmp_path / "table.json"
    table.save(path)
    with pytest.raises(ValueError, match=r"another version of search space 'tiny'.*'space'"):
        LatencyTable.load(path, space=make_space(resolutions=(64,)))
    with pytest.raises(ValueError, match=r"latency table .*backend 'torch', not 'onnxruntime'"):
        make_latency_model("onnxruntime", table=path)


def test_not_a_table(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"{bad}.*'format'"):
        LatencyTable.load(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        LatencyTable.load(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LatencyTable.load(tmp_path / "missing.json")
    raw = {"format": "litepose-latency-table", "version": 1, "backend": "torch"}
    bad.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="missing field"):
        LatencyTable.load(bad)


def test_onnxruntime_table_on_one_resolution(make_space: Callable[..., SearchSpace]) -> None:
    space = make_space(resolutions=(64,))
    table = LatencyTable.build(space, "onnxruntime", 5, threads=1, progress=False,
                               **{**FAST, "calibration": 1, "decode_people": ()})
    assert table.backend == "onnxruntime" and table.settings["opset"] == 17
    assert table.settings["shapes"] == "dynamic"  # each piece exported once, run at every resolution
    assert set(table.entries) == {p.key for p in space_pieces(space, 5)}
    assert table.decode == {} and len(table.calibration) == 1
    assert table.predict_ms(space.max_arch(), 5) == pytest.approx(
        table.pieces_ms(space.max_arch(), 5) + table.overhead_ms)
    with pytest.raises(ValueError, match="'decode'"):
        TableLatency(table, people=0)


"""Latency measurement: structure (never timing values), pinned and restored threads, the cache, decode time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from litepose.export import latency as latency_mod
from litepose.export.latency import (
    LatencyCache,
    LatencyModel,
    MeasuredLatency,
    make_latency_model,
    measure_decode_ms,
    measure_latency,
)
from litepose.export.timing import LatencyResult, host_id, time_calls
from litepose.models.litepose import LitePose
from litepose.models.space import SearchSpace


@pytest.fixture
def one_thread() -> object:
    """Run with PyTorch at 1 thread, whatever the measurement pins; restore the count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "openvino"])
def test_measure_latency_result_and_restored_threads(tiny_model: LitePose, backend: str, one_thread: object) -> None:
    result = measure_latency(tiny_model, 64, backend=backend, threads=2, warmup=1, repeats=4)
    assert torch.get_num_threads() == 1  # pinned to 2 while measuring, restored after
    assert result.backend == backend and result.threads == 2 and result.repeats == 4 and result.warmup == 1
    assert result.input_shapes == ((1, 3, 64, 64),)
    assert 0 < result.min_ms <= result.median_ms <= result.p90_ms and result.spread_ms >= 0
    assert result.host == host_id()
    assert result.cpu_wait is None or 0 <= result.cpu_wait <= 1
    assert result.settings == {
        "torch": {"memory_format": "channels_last"},
        "onnxruntime": {"opset": 17, "graph_optimization": "all", "shapes": "static"},
        "openvino": {"opset": 17, "precision": "fp32", "shapes": "static"}}[backend]
    assert LatencyResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert backend in result.describe()


def test_measure_latency_defaults_and_model_untouched(tiny_model: LitePose) -> None:
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    result = measure_latency(tiny_model, warmup=0, repeats=2)  # input size from the spec
    assert result.input_shapes == ((1, 3, 64, 64),)
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    assert all(p.is_contiguous() for p in tiny_model.parameters())  # channels-last was applied to a copy
    with pytest.raises(ValueError, match="unknown backend"):
        measure_latency(tiny_model, 64, backend="tvm", repeats=1)
    with pytest.raises(ValueError, match="threads"):
        measure_latency(tiny_model, 64, threads=0, repeats=1)


def test_multi_input_module_and_contiguous_format() -> None:
    class Add(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return a + b

    result = measure_latency(Add(), input_shapes=[[1, 4, 8, 8], [1, 4, 8, 8]], warmup=0, repeats=2,
                             memory_format="contiguous")
    assert result.input_shapes == ((1, 4, 8, 8), (1, 4, 8, 8)) and result.settings["memory_format"] == "contiguous"


def test_openvino_runs_a_dynamic_graph_at_fixed_shapes_in_the_precision_asked(tiny_model: LitePose) -> None:
    from litepose.export.openvino_ir import cpu_capabilities
    from litepose.export.runners import open_runner, reusable_options

    options = reusable_options(tiny_model, [[1, 3, 64, 64]], backend="openvino")
    assert isinstance(options["onnx_model"], bytes)
    for side in (64, 96):  # one export, two resolutions
        with open_runner(tiny_model, [[1, 3, side, side]], backend="openvino", threads=1, **options) as (run, settings):
            heatmaps = run()[0]
        assert heatmaps.shape[-2:] == (side // 4, side // 4) and settings["shapes"] == "dynamic"
    with pytest.raises(ValueError, match="precision must be one of"):
        measure_latency(tiny_model, 64, backend="openvino", repeats=1, precision="int8")
    if "BF16" in cpu_capabilities():
        result = measure_latency(tiny_model, 64, backend="openvino", threads=1, warmup=0, repeats=2, precision="bf16")
        assert result.settings["precision"] == "bf16"
    else:
        with pytest.raises(ValueError, match="no bf16 support"):
            measure_latency(tiny_model, 64, backend="openvino", repeats=1, precision="bf16")


def test_time_calls_budget_and_floor() -> None:
    calls = []
    times = time_calls(lambda: calls.append(1), warmup=2, repeats=50, budget_s=0.0)
    assert len(times) == 5 and len(calls) == 7  # the budget stops at the floor of 5 after 2 warm-up calls
    assert len(time_calls(lambda: None, warmup=0, repeats=3, budget_s=0.0)) == 3
    with pytest.raises(ValueError, match="repeats"):
        time_calls(lambda: None, warmup=0, repeats=0)


def test_measure_decode_ms_is_positive() -> None:
    assert measure_decode_ms(64, 3, 14, warmup=0, repeats=2) > 0
    assert measure_decode_ms((64, 96), 0, 17, tag_dim=1, crowds=1, warmup=0, repeats=1) > 0
    with pytest.raises(ValueError, match="num_people"):
        measure_decode_ms(64, -1, 14)
    with pytest.raises(ValueError, match="crowds"):
        measure_decode_ms(64, 1, 14, crowds=0)


def test_cache_hit_returns_the_stored_value_without_measuring(space: SearchSpace, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    spec = space.min_arch()
    cache = LatencyCache(tmp_path / "cache.json")
    model = MeasuredLatency("onnxruntime", threads=1, cache=cache)
    key = LatencyCache.network_key(spec, 5, backend="onnxruntime", threads=1, host=host_id())
    cache.put(key, {"ms": 12.5})

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("measured although the cache holds the value")

    monkeypatch.setattr(latency_mod, "measure_latency", refuse)
    assert model.predict_ms(spec, 5) == 12.5
    # the same arch under another name is the same key; another input size is not
    assert model.predict_ms(spec.with_input_size(64), 5) == 12.5
    with pytest.raises(AssertionError, match="measured"):
        model.predict_ms(spec.with_input_size(96), 5)


def test_measurements_are_stored_under_backend_threads_and_host(space: SearchSpace, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A contended measurement is (rightly) never cached; this test is about the keys, so the machine's load
    # must not decide it: every measurement counts as uncontended here.
    monkeypatch.setattr(LatencyResult, "contended", property(lambda self: False))
    spec = space.min_arch()
    cache = LatencyCache(tmp_path / "cache.json")
    model = MeasuredLatency("torch", threads=1, cache=cache, warmup=0, repeats=2)
    assert isinstance(model, LatencyModel)
    ms = model.predict_ms(spec, 5)
    assert ms > 0 and len(cache) == 1
    (key,) = json.loads((tmp_path / "cache.json").read_text())["entries"]
    fields = json.loads(key)
    assert fields["backend"] == "torch" and fields["threads"] == 1 and fields["host"] == host_id()
    assert fields["num_keypoints"] == 5 and fields["arch"]["img_size"] == 64
    assert fields["arch"]["input_channel"] == spec.stem_channels
    others = [LatencyCache.network_key(spec, 5, backend="onnxruntime", threads=1, host=host_id()),
              LatencyCache.network_key(spec, 5, backend="torch", threads=2, host=host_id()),
              LatencyCache.network_key(spec, 5, backend="torch", threads=1, host="other machine"),
              LatencyCache.network_key(spec, 14, backend="torch", threads=1, host=host_id())]
    assert key not in others and len(set(others)) == 4
    assert LatencyCache(tmp_path / "cache.json").get(key)["ms"] == ms  # persisted


def test_people_add_cached_decode_time(space: SearchSpace, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = space.min_arch()
    cache = LatencyCache()
    cache.put(LatencyCache.network_key(spec, 5, backend="torch", threads=1, host=host_id()), {"ms": 10.0})
    calls = []
    monkeypatch.setattr(latency_mod, "measure_decode_ms", lambda size, n, j, **_: calls.append((size, n, j)) or 2.5)
    model = MeasuredLatency("torch", threads=1, cache=cache, people=7)
    assert model.predict_ms(spec, 5) == 12.5
    assert model.predict_ms(spec, 5) == 12.5
    assert calls == [(64, 7, 5)]  # measured once, then cached
    assert MeasuredLatency("torch", threads=1, cache=cache).predict_ms(spec, 5) == 10.0
    with pytest.raises(ValueError, match="people"):
        MeasuredLatency(people=-1)


def test_cache_file_merges_writers_and_survives_corruption(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.json"
    first, second = LatencyCache(path), LatencyCache(path)
    first.put("a", {"ms": 1.0})
    second.put("b", {"ms": 2.0})  # re-reads before writing: keeps "a"
    assert {k: v["ms"] for k, v in json.loads(path.read_text())["entries"].items()} == {"a": 1.0, "b": 2.0}
    path.write_text("{not json")
    with pytest.warns(UserWarning, match="ignored"):
        cache = LatencyCache(path)
    assert len(cache) == 0
    with pytest.raises(ValueError, match="ms"):
        cache.put("c", {"median": 1.0})


def test_default_cache_path_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITEPOSE_CACHE_DIR", str(tmp_path))
    assert LatencyCache.default_path() == tmp_path / "latency.json"
    monkeypatch.delenv("LITEPOSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert LatencyCache.default_path() == tmp_path / "xdg" / "litepose" / "latency.json"


def test_make_latency_model_measures_without_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_latency_model("onnxruntime", people=3, threads=1, cache=LatencyCache(tmp_path / "c.json"))
    assert isinstance(model, MeasuredLatency) and model.backend == "onnxruntime" and model.people == 3
    monkeypatch.setenv("LITEPOSE_CACHE_DIR", str(tmp_path / "default"))
    default = make_latency_model()
    assert isinstance(default, MeasuredLatency) and default.cache.path == tmp_path / "default" / "latency.json"
    assert make_latency_model("openvino", threads=1, cache=LatencyCache(tmp_path / "c.json")).backend == "openvino"
    with pytest.raises(ValueError, match="unknown backend"):
        make_latency_model("tvm")


def _result(median: float, cpu_wait: float | None) -> LatencyResult:
    return LatencyResult(median, 0.1, median, median, 5, 0, "torch", 1, ((1, 3, 64, 64),), cpu_wait=cpu_wait)


def test_cpu_wait_share_from_the_pressure_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    from litepose.export import timing

    totals = iter([1_000_000, 1_000_000 + 10**7])  # 10 s of waiting over a much shorter block: capped at 1
    monkeypatch.setattr(timing, "cpu_wait_total_us", lambda: next(totals))
    with timing.CpuWait.measure() as wait:
        pass
    assert wait.share == 1.0
    monkeypatch.setattr(timing, "cpu_wait_total_us", lambda: None)
    with timing.CpuWait.measure() as wait:
        pass
    assert wait.share is None
    assert _result(10.0, 0.5).contended and "CONTENDED" in _result(10.0, 0.5).describe()
    assert not _result(10.0, 0.01).contended and not _result(10.0, None).contended


def test_contended_measurements_are_retried_and_never_cached(space: SearchSpace,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    spec = space.min_arch()
    queue = [_result(90.0, 0.6), _result(10.0, 0.02)]
    monkeypatch.setattr(latency_mod, "measure_latency", lambda *_, **__: queue.pop(0))
    model = MeasuredLatency("torch", threads=1, retries=2)
    assert model.predict_ms(spec, 5) == 10.0 and not queue and len(model.cache) == 1  # the quiet retry is kept

    queue[:] = [_result(90.0, 0.6), _result(70.0, 0.5), _result(80.0, 0.4)]
    other = MeasuredLatency("torch", threads=1, retries=2)
    with pytest.warns(UserWarning, match="competed for the CPU during all 3 measurements"):
        assert other.predict_ms(spec, 5) == 70.0
    assert len(other.cache) == 0  # measured again next time


def test_keep_freed_memory_sets_glibc_malloc_or_says_it_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes
    import platform
    import subprocess
    import sys

    # in a child: the setting holds for the rest of the process, and this one goes on running tests
    probe = "from litepose.export.timing import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert out.returncode == 0 and out.stdout.strip() == expected, out.stderr[-2000:]

    class NoMallopt:  # a C library without mallopt (macOS, musl)
        def __init__(self, _name: object) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    from litepose.export.timing import keep_freed_memory

    assert keep_freed_memory() is False

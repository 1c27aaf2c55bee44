"""Latency on this machine: networks and decoding, measured, cached, and served to the search.

* :func:`measure_latency` times a module on a backend (``torch``, ``onnxruntime`` or ``openvino``) with a pinned
  thread count: warm-up calls, then the median of many timed calls (:mod:`~litepose.export.timing`).
* :func:`measure_decode_ms` times :func:`litepose.decode` as the Predictor calls it (adjust and
  refine on, official thresholds, two tag channels as under flip test) on synthetic maps of a crowd
  at the network's input size: the bottom-up model's real cost grows with resolution and people.
* :class:`LatencyCache` keeps measurements in a JSON file keyed by what determines them (the
  architecture — its official JSON, input size included —, the joint count, backend, threads,
  backend settings and :func:`~litepose.export.timing.host_id`), so a search never measures the
  same sub-network twice, across runs too.
* :class:`LatencyModel` is what a latency-constrained search calls: ``predict_ms(spec, num_keypoints)``.
  :class:`MeasuredLatency` measures here (through the cache);
  :class:`~litepose.export.latency_table.TableLatency` predicts from a lookup table measured on
  another device. Both add decode time for a given number of people when asked.
"""

from __future__ import annotations

import json
import os
import statistics
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from torch import nn

from litepose.export.runners import check_backend, open_runner
from litepose.export.timing import CpuWait, LatencyResult, default_threads, host_id, time_calls
from litepose.io import atomic_write_json
from litepose.models.spec import ArchSpec

__all__ = [
    "DECODE_TAG_DIM",
    "LatencyCache",
    "LatencyModel",
    "MeasuredLatency",
    "make_latency_model",
    "measure_decode_ms",
    "measure_latency",
]

DECODE_TAG_DIM = 2  # tag channels per joint under flip test (the Predictor's default)


def _image_shape(input_size: int | Sequence[int]) -> list[int]:
    if isinstance(input_size, int):
        h = w = input_size
    else:
        h, w = (int(v) for v in input_size)
    if h <= 0 or w <= 0:
        raise ValueError(f"input_size must be positive, got {h}x{w}")
    return [1, 3, h, w]


def measure_latency(model: nn.Module, input_size: int | Sequence[int] | None = None, *,
                    input_shapes: Sequence[Sequence[int]] | None = None, backend: str = "torch",
                    threads: int | None = None, warmup: int = 5, repeats: int = 30, budget_s: float | None = None,
                    seed: int = 0, **options: Any) -> LatencyResult:
    """Median latency of one forward pass of ``model`` (batch 1) on ``backend``.

    Args:
        model: a LitePose, or any module (give ``input_shapes`` for other inputs).
        input_size: the image side or ``(H, W)``; default ``model.spec.input_size``.
        input_shapes: full input shapes instead of ``input_size`` (several for multi-input modules).
        backend: ``torch``, ``onnxruntime`` or ``openvino``.
        threads: intra-op threads to pin the backend to (default: the cores this process may use).
            PyTorch's global thread count is restored afterwards.
        warmup: untimed calls first.
        repeats: timed calls (at most, with ``budget_s``).
        budget_s: stop timing early once this many seconds are spent (at least 5 calls).
        seed: seed of the random inputs.
        options: backend options (``memory_format`` for torch, ``opset`` for onnxruntime).

    The result's ``cpu_wait`` and ``contended`` tell whether other processes competed for the CPU
    meanwhile (then the times say little about the network).
    """
    if input_shapes is None:
        if input_size is None:
            spec = getattr(model, "spec", None)
            if spec is None:
                raise ValueError("input_size is required for a module without .spec")
            input_size = spec.input_size
        input_shapes = [_image_shape(input_size)]
    shapes = tuple(tuple(int(d) for d in s) for s in input_shapes)
    threads = default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    runner = open_runner(model, shapes, backend=backend, threads=threads, seed=seed, **options)
    with runner as (run, settings), CpuWait.measure() as wait:
        times = time_calls(run, warmup=warmup, repeats=repeats, budget_s=budget_s)
    return LatencyResult.from_times(times, warmup=warmup, backend=backend, threads=threads, input_shapes=shapes,
                                    settings=settings, host=host_id(), cpu_wait=wait.share)


def measure_decode_ms(input_size: int | Sequence[int], num_people: int, num_keypoints: int, *,
                      tag_dim: int = DECODE_TAG_DIM, crowds: int = 5, warmup: int = 1, repeats: int = 15,
                      budget_s: float | None = 1.0, seed: int = 0) -> float:
    """Milliseconds :func:`litepose.decode` takes on maps of ``num_people`` at ``input_size``.

    The maps are :func:`~litepose.export.crowd_maps.synthetic_crowd_maps` (Gaussian joints, per-person
    tags, spurious blobs, background noise) at the input resolution, where the Predictor decodes
    (its maps are projected to the resized input); decode runs with its defaults, which are the
    Predictor's: official thresholds, at most 30 people, adjust and refine on. Decode time depends on
    where the people stand (refine searches whole maps for missing joints: 30 people at 448x448 took
    46 to 88 ms depending on the crowd), so the result is the mean over ``crowds`` different crowds
    (seeds ``seed``, ``seed + 1``, ...) of the median time of each; ``budget_s`` is shared between them.
    """
    from litepose.decoding.grouping import decode
    from litepose.export.crowd_maps import synthetic_crowd_maps

    _, _, h, w = _image_shape(input_size)
    if num_people < 0:
        raise ValueError(f"num_people must be >= 0, got {num_people}")
    if crowds < 1:
        raise ValueError(f"crowds must be >= 1, got {crowds}")
    medians = []
    for i in range(crowds):
        heatmaps, tags, _ = synthetic_crowd_maps(num_people, h, w, num_joints=num_keypoints, tag_dim=tag_dim,
                                                 seed=seed + i)
        times = time_calls(lambda hm=heatmaps, tg=tags: decode(hm, tg), warmup=warmup, repeats=repeats,
                           budget_s=None if budget_s is None else budget_s / crowds)
        medians.append(statistics.median(times))
    return statistics.fmean(medians) * 1e3


def _arch_key(spec: ArchSpec) -> dict[str, Any]:
    """The official JSON of ``spec`` (input size included) plus the switches it does not carry."""
    return {**spec.to_official(), "fusion": spec.fusion, "head_kernel": spec.head_kernel}


def _key(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


class LatencyCache:
    """Measured latencies by key, in memory and (with a path) in a JSON file written atomically.

    Each :meth:`put` re-reads the file and merges before writing, so processes sharing a cache file
    (ranks of a distributed search) lose none of each other's entries. An unreadable file is
    ignored with a warning and replaced at the next write: a cache never stops a run.
    """

    FORMAT = "litepose-latency-cache"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._entries: dict[str, dict[str, Any]] = self._read()

    @staticmethod
    def default_path() -> Path:
        """``$LITEPOSE_CACHE_DIR/latency.json``, else ``$XDG_CACHE_HOME/litepose/latency.json``
        (``~/.cache/litepose/latency.json``)."""
        root = os.environ.get("LITEPOSE_CACHE_DIR")
        if root:
            return Path(root) / "latency.json"
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(xdg) / "litepose" / "latency.json"

    @staticmethod
    def network_key(spec: ArchSpec, num_keypoints: int, *, backend: str, threads: int, host: str,
                    settings: Mapping[str, Any] | None = None) -> str:
        """The key of a whole-network measurement."""
        return _key({"kind": "network", "arch": _arch_key(spec), "num_keypoints": int(num_keypoints),
                     "backend": backend, "threads": int(threads), "settings": dict(settings or {}), "host": host})

    @staticmethod
    def decode_key(input_size: int, num_people: int, num_keypoints: int, *, tag_dim: int, host: str) -> str:
        """The key of a decode-time measurement."""
        return _key({"kind": "decode", "input_size": int(input_size), "people": int(num_people),
                     "num_keypoints": int(num_keypoints), "tag_dim": int(tag_dim), "host": host})

    def _read(self) -> dict[str, dict[str, Any]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            raw = json.loads(self.path.read_text())
            if not (isinstance(raw, dict) and raw.get("format") == self.FORMAT
                    and isinstance(raw.get("entries"), dict)):
                raise ValueError("not a litepose latency cache")
            return dict(raw["entries"])
        except (OSError, ValueError) as err:
            warnings.warn(f"latency cache {self.path}: ignored ({err}); it will be rewritten", stacklevel=3)
            return {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record (``{"ms": ..., ...}``) or ``None``."""
        return self._entries.get(key)

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` (it must hold ``ms``) under ``key``, and write the file if there is one."""
        if "ms" not in record:
            raise ValueError("a latency cache record needs an 'ms' field")
        if self.path is not None:
            self._entries = {**self._read(), **self._entries}
        self._entries[key] = dict(record)
        if self.path is not None:
            atomic_write_json(self.path, {"format": self.FORMAT, "version": 1, "entries": self._entries}, indent=1)


@runtime_checkable
class LatencyModel(Protocol):
    """Predicts the latency of a sub-network, in milliseconds: what a latency-constrained search calls."""

    def predict_ms(self, spec: ArchSpec, num_keypoints: int) -> float:
        """Milliseconds for ``spec`` (at ``spec.input_size``) with ``num_keypoints`` joints."""
        ...


class MeasuredLatency:
    """A :class:`LatencyModel` that measures each network on this machine, once (see :class:`LatencyCache`).

    Args:
        backend: ``torch``, ``onnxruntime`` or ``openvino``.
        threads: intra-op threads (default: the cores this process may use).
        cache: where measurements are kept (default: in memory only; pass
            ``LatencyCache(LatencyCache.default_path())`` to keep them across runs).
        people: add the decode time of this many people (``None``: network only).
        tag_dim: tag channels the decoder sees (2 under flip test).
        warmup, repeats: as in :func:`measure_latency`.
        retries: measure again, up to this many times, while other processes compete for the CPU
            (:attr:`~litepose.export.timing.LatencyResult.contended`); the lowest median is used. A
            result still contended is returned with a warning but not cached, so that a later call
            measures again.
    """

    def __init__(self, backend: str = "torch", *, threads: int | None = None, cache: LatencyCache | None = None,
                 people: int | None = None, tag_dim: int = DECODE_TAG_DIM, warmup: int = 5,
                 repeats: int = 30, retries: int = 2) -> None:
        self.backend = check_backend(backend)
        self.threads = default_threads() if threads is None else int(threads)
        self.cache = cache if cache is not None else LatencyCache()
        if people is not None and people < 0:
            raise ValueError(f"people must be >= 0, got {people}")
        self.people = people
        self.tag_dim = tag_dim
        self.warmup = warmup
        self.repeats = repeats
        self.retries = retries
        self.host = host_id()

    def network_ms(self, spec: ArchSpec, num_keypoints: int) -> float:
        """The network's median latency, from the cache or measured now (and cached)."""
        from litepose.models.litepose import LitePose

        key = LatencyCache.network_key(spec, num_keypoints, backend=self.backend, threads=self.threads,
                                       host=self.host)
        hit = self.cache.get(key)
        if hit is not None:
            return float(hit["ms"])
        model = LitePose(spec, num_keypoints)
        results: list[LatencyResult] = []
        while len(results) <= self.retries and (not results or results[-1].contended):
            results.append(measure_latency(model, spec.input_size, backend=self.backend, threads=self.threads,
                                           warmup=self.warmup, repeats=self.repeats))
        if not results[-1].contended:
            result = results[-1]
            self.cache.put(key, {"ms": result.median_ms, "arch": spec.name, "result": result.to_dict()})
        else:
            result = min(results, key=lambda r: r.median_ms)
            warnings.warn(f"latency of {spec.name}: other processes competed for the CPU during all "
                          f"{len(results)} measurements (tasks waited {result.cpu_wait:.0%} of the time); "
                          f"{result.median_ms:.1f} ms is probably too high and is not cached", stacklevel=2)
        return result.median_ms

    def decode_ms(self, input_size: int, num_keypoints: int) -> float:
        """Decode time of ``people`` at ``input_size`` (0 when ``people`` is ``None``), cached."""
        if self.people is None:
            return 0.0
        key = LatencyCache.decode_key(input_size, self.people, num_keypoints, tag_dim=self.tag_dim, host=self.host)
        hit = self.cache.get(key)
        if hit is not None:
            return float(hit["ms"])
        ms = measure_decode_ms(input_size, self.people, num_keypoints, tag_dim=self.tag_dim)
        self.cache.put(key, {"ms": ms})
        return ms

    def predict_ms(self, spec: ArchSpec, num_keypoints: int) -> float:
        """Network plus (with ``people``) decode milliseconds."""
        return self.network_ms(spec, num_keypoints) + self.decode_ms(spec.input_size, num_keypoints)


def make_latency_model(backend: str = "torch", *, table: str | os.PathLike[str] | None = None,
                       people: int | None = None, threads: int | None = None,
                       cache: LatencyCache | None = None) -> LatencyModel:
    """The latency model a search uses.

    With ``table``: predictions from a :class:`~litepose.export.latency_table.LatencyTable` measured on
    the target device (it must have been measured on ``backend``; ``threads`` and ``cache`` do not
    apply). Without: networks measured here with ``threads`` threads and kept in ``cache`` (default:
    the persistent :meth:`LatencyCache.default_path`, so a resumed or repeated search measures nothing
    twice). ``people`` adds decode time for that many people.
    """
    check_backend(backend)
    if table is not None:
        from litepose.export.latency_table import LatencyTable, TableLatency

        return TableLatency(LatencyTable.load(table, backend=backend), people=people)
    if cache is None:
        cache = LatencyCache(LatencyCache.default_path())
    return MeasuredLatency(backend, threads=threads, cache=cache, people=people)

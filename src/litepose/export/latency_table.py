"""A per-piece latency lookup table: measured once on a device, it predicts whole-network latency there.

A latency-constrained search needs the latency of thousands of sub-networks on the device the model
will run on, which is often not the machine the search runs on. ``litepose bench --latency-table``
runs :meth:`LatencyTable.build` on that device: it times every distinct piece (stem, first block of
each stage, the run of identical blocks after it, deconv pairs with their BN-ReLU, final SepConv
pairs; see :mod:`~litepose.export.pieces`) that the search space's sub-networks can contain, at
every resolution of the space, plus:

* a constant **overhead**: whole-network time minus the sum of its pieces, the median over a few
  calibration sub-networks measured whole (Python glue and tensor hand-offs between pieces in
  PyTorch, graph-level fusion and per-run overhead in onnxruntime; measured here: +3.0 ms in PyTorch
  and +2.8 ms in onnxruntime, one thread);
* **decode** time (:func:`~litepose.export.latency.measure_decode_ms`) at every resolution for a few
  people counts, interpolated linearly in between: a bottom-up model's cost grows with the crowd.

Copied back, :meth:`LatencyTable.load` checks it was built for the backend, search space and joint
count asked for (a mismatch is one ``ValueError`` naming the file and the field), and
:meth:`LatencyTable.predict_ms` adds up a sub-network's pieces: no network is built or run.

Robustness: every piece is timed in ``rounds`` (2) passes over the whole table and keeps its lowest
median: load from other processes only ever adds time, and on a shared machine a burst during one
entry inflated it 2-8x in a single pass (sub-network predictions off by up to 38 %).

Cost and accuracy (this project's 2-core CPU, official space: 1479 pieces of 280 distinct modules
over 5 resolutions; adaptive repeats: up to 15 timed calls per piece, at least 5, stopping after
0.1 s; ``benchmarks/bench_latency_table.py`` compares the table with 20 random sub-networks measured
whole, each the lower median of 2 rounds):

=======  ===========  ==========  =====================  ====================
threads  backend      build (s)   mean abs. error        max abs. error
=======  ===========  ==========  =====================  ====================
1        torch        158         3.0 %                  11.0 %
1        onnxruntime  167         2.9 %                  10.7 %
2        torch        137         6.2 %                  28.4 %
2        onnxruntime  182         6.5 %                  22.3 %
=======  ===========  ==========  =====================  ====================

All four ran while other engineers' jobs came and went on the same two cores (the two-thread
onnxruntime table had 133 contended entries); re-measuring the two worst networks a few minutes
later in a quiet moment gave whole-network times 16-28 % above the benchmark's, i.e. the machine's
own speed drifts by that much, which bounds what any table can reach here.
"""

from __future__ import annotations

import bisect
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from litepose.export.latency import DECODE_TAG_DIM, measure_decode_ms, measure_latency
from litepose.export.pieces import Piece, network_pieces, piece_module, space_pieces
from litepose.export.runners import check_backend, reusable_options
from litepose.export.timing import CONTENDED, LatencyResult, default_threads, host_id, package_versions
from litepose.io import atomic_write_json
from litepose.models.litepose import LitePose
from litepose.models.space import SearchSpace, get_search_space
from litepose.models.spec import ArchSpec

__all__ = ["DECODE_PEOPLE", "LatencyTable", "TableLatency"]

FORMAT = "litepose-latency-table"
VERSION = 1
DECODE_PEOPLE = (0, 5, 10, 20, 30)


@dataclass
class LatencyTable:
    """Latencies of the pieces of a search space's sub-networks on one device and backend.

    Attributes:
        space: the search space the table covers.
        backend: ``torch``, ``onnxruntime`` or ``openvino``.
        num_keypoints: joint count of the networks (the final layers depend on it).
        threads: intra-op threads used.
        host: :func:`~litepose.export.timing.host_id` of the measuring device.
        entries: piece key -> ``{"ms", "spread_ms", "repeats", "cpu_wait"}`` (the round with the lowest
            median; ``cpu_wait`` as in :class:`~litepose.export.timing.LatencyResult`).
        overhead_ms: whole-network minus sum-of-pieces (median over ``calibration``).
        decode: resolution -> people -> decode milliseconds.
        decode_tag_dim: tag channels of the decode measurements.
        calibration: the calibration networks (``arch``, ``measured_ms``, ``pieces_ms``).
        settings: backend settings of the measurements; versions: package versions; build_seconds,
            created: how long the build took and when.
        load_average: the machine's 1-minute load average when the build started and ended (the build's own
            work included at the end): other processes running during a build inflate its entries.
        source: where the table was loaded from (for messages).
    """

    space: SearchSpace
    backend: str
    num_keypoints: int
    threads: int
    host: str
    entries: dict[str, dict[str, float]]
    overhead_ms: float = 0.0
    decode: dict[int, dict[int, float]] = field(default_factory=dict)
    decode_tag_dim: int = DECODE_TAG_DIM
    calibration: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    build_seconds: float = 0.0
    load_average: tuple[float, float] | None = None
    created: str = ""
    source: str = "latency table"

    # -- building -----------------------------------------------------------------------------------
    @classmethod
    def build(cls, space: SearchSpace, backend: str = "torch", num_keypoints: int = 14, *,
              threads: int | None = None, warmup: int = 2, repeats: int = 15, budget_s: float = 0.1,
              rounds: int = 2, calibration: int = 5, decode_people: Sequence[int] = DECODE_PEOPLE,
              tag_dim: int = DECODE_TAG_DIM, seed: int = 0, progress: bool = True) -> LatencyTable:
        """Measure the table on this machine.

        Args:
            space: the search space whose sub-networks the table must cover.
            backend: ``torch``, ``onnxruntime`` or ``openvino`` (each piece is exported once to its own small ONNX
                model with dynamic height and width, and run at every resolution).
            num_keypoints: joint count (14 CrowdPose, 17 COCO).
            threads: intra-op threads (default: the cores this process may use).
            warmup: untimed calls per piece.
            repeats: at most this many timed calls per piece ...
            budget_s: ... stopping once this many seconds are spent (at least 5 calls): adaptive repeats.
            rounds: passes over every piece (and calibration network); each keeps the lowest median of
                its passes. Other processes only ever add time, and a burst of load during one pass
                would otherwise inflate that entry (on a shared 2-core machine, by 2-8x).
            calibration: sub-networks measured whole to calibrate the constant overhead (0: none); they
                cycle through the resolutions.
            decode_people: people counts whose decode time is measured at every resolution (empty: none).
            tag_dim: tag channels for the decode measurements (2 under flip test).
            seed: seed of the calibration networks and of the random inputs.
            progress: show a progress bar (stderr).
        """
        check_backend(backend)
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        threads = default_threads() if threads is None else int(threads)
        start, load_before = time.perf_counter(), _load_average()
        pieces = space_pieces(space, num_keypoints)
        by_module: dict[str, list[Piece]] = {}
        for piece in sorted(pieces, key=lambda p: (p.module_key, p.resolution)):
            by_module.setdefault(piece.module_key, []).append(piece)
        rng = np.random.default_rng((seed, 0xCA1))
        calib_specs = [space.decode(replace(space.sample_genes(rng), resolution=i % len(space.resolutions)))
                       for i in range(calibration)]
        people = sorted({int(p) for p in decode_people})
        total = rounds * (len(pieces) + len(calib_specs)) + len(people) * len(space.resolutions)
        timing = {"backend": backend, "threads": threads, "warmup": warmup, "repeats": repeats, "budget_s": budget_s,
                  "seed": seed}
        table = cls(space=space, backend=backend, num_keypoints=num_keypoints, threads=threads, host=host_id(),
                    entries={}, decode_tag_dim=tag_dim, versions=package_versions())
        whole: dict[str, float] = {}
        with tqdm(total=total, desc=f"latency table ({space.name}, {backend})", unit="entry",
                  disable=not progress, dynamic_ncols=True) as bar:
            for _ in range(rounds):
                for group in by_module.values():
                    module = piece_module(group[0], LitePose(pieces[group[0]], num_keypoints).eval())
                    options = reusable_options(module, group[0].input_shapes(), backend=backend)
                    for piece in group:
                        result = measure_latency(module, input_shapes=piece.input_shapes(), **timing, **options)
                        table._keep_faster(piece.key, result)
                        bar.update()
                for spec in calib_specs:
                    result = measure_latency(LitePose(spec, num_keypoints), spec.input_size,
                                             **{**timing, "budget_s": max(budget_s, 1.0)})
                    whole[spec.name] = min(whole.get(spec.name, np.inf), result.median_ms)
                    bar.update()
            table.calibration = [{"arch": spec.name, "measured_ms": whole[spec.name],
                                  "pieces_ms": table.pieces_ms(spec, num_keypoints)} for spec in calib_specs]
            if table.calibration:
                table.overhead_ms = float(np.median([c["measured_ms"] - c["pieces_ms"] for c in table.calibration]))
            for resolution in space.resolutions:
                for n in people:
                    table.decode.setdefault(resolution, {})[n] = measure_decode_ms(
                        resolution, n, num_keypoints, tag_dim=tag_dim, budget_s=max(budget_s, 0.5))
                    bar.update()
        table.build_seconds = time.perf_counter() - start
        if load_before is not None and (load_after := _load_average()) is not None:
            table.load_average = (load_before, load_after)
        table.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return table

    def _keep_faster(self, key: str, result: LatencyResult) -> None:
        """Record ``result`` for ``key`` unless an earlier round measured a lower median."""
        old = self.entries.get(key)
        if old is None or result.median_ms < old["ms"]:
            self.entries[key] = {"ms": result.median_ms, "spread_ms": result.spread_ms, "repeats": result.repeats,
                                 "cpu_wait": result.cpu_wait}
        self.settings = dict(result.settings)

    @property
    def contended_entries(self) -> list[str]:
        """Entries whose kept measurement was taken while other processes competed for the CPU."""
        return [key for key, e in self.entries.items() if (e.get("cpu_wait") or 0.0) > CONTENDED]

    # -- predicting ---------------------------------------------------------------------------------
    def _check_arch(self, spec: ArchSpec, num_keypoints: int) -> None:
        if num_keypoints != self.num_keypoints:
            raise ValueError(f"{self.source}: measured for {self.num_keypoints} joints, asked for {num_keypoints} "
                             "(field 'num_keypoints')")
        self.space.check(spec, source=spec.name)

    def pieces_ms(self, spec: ArchSpec, num_keypoints: int) -> float:
        """The sum of the table entries of ``spec``'s pieces (no overhead)."""
        return sum(self.breakdown(spec, num_keypoints).values())

    def breakdown(self, spec: ArchSpec, num_keypoints: int) -> dict[str, float]:
        """Milliseconds per piece kind (``stem``, ``block``, ``tail``, ``deconv``, ``final``) for ``spec``."""
        self._check_arch(spec, num_keypoints)
        parts: dict[str, float] = {}
        for piece in network_pieces(spec, num_keypoints):
            entry = self.entries.get(piece.key)
            if entry is None:
                raise ValueError(f"{self.source}: no entry for {piece.key} (the table does not cover {spec.name})")
            parts[piece.kind] = parts.get(piece.kind, 0.0) + float(entry["ms"])
        return parts

    def predict_ms(self, spec: ArchSpec, num_keypoints: int) -> float:
        """Predicted network latency of ``spec`` (at ``spec.input_size``): its pieces plus the overhead."""
        return self.pieces_ms(spec, num_keypoints) + self.overhead_ms

    def decode_ms(self, input_size: int, people: int) -> float:
        """Decode milliseconds at ``input_size`` for ``people``, interpolated between measured counts."""
        if input_size not in self.decode:
            measured = sorted(self.decode) or "none"
            raise ValueError(f"{self.source}: no decode time measured at resolution {input_size} "
                             f"(field 'decode'; measured: {measured})")
        row = self.decode[input_size]
        counts = sorted(row)
        if not counts[0] <= people <= counts[-1]:
            raise ValueError(f"{self.source}: decode time measured for {counts[0]}-{counts[-1]} people, "
                             f"not {people} (field 'decode')")
        i = bisect.bisect_left(counts, people)
        if counts[i] == people:
            return row[people]
        lo, hi = counts[i - 1], counts[i]
        return row[lo] + (row[hi] - row[lo]) * (people - lo) / (hi - lo)

    # -- files --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "backend": self.backend, "num_keypoints": self.num_keypoints,
            "threads": self.threads, "host": self.host, "space": self.space.to_dict(), "settings": self.settings,
            "versions": self.versions, "created": self.created, "build_seconds": round(self.build_seconds, 1),
            "load_average": list(self.load_average) if self.load_average else None,
            "overhead_ms": self.overhead_ms, "calibration": self.calibration,
            "decode": {"tag_dim": self.decode_tag_dim,
                       "ms": {str(r): {str(n): ms for n, ms in row.items()} for r, row in self.decode.items()}},
            "entries": self.entries,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the table as JSON (atomically)."""
        atomic_write_json(path, self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "latency table") -> LatencyTable:
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT:
            raise ValueError(f"{source}: not a litepose latency table (field 'format')")
        if raw.get("version") != VERSION:
            raise ValueError(f"{source}: table version {raw.get('version')!r}, this litepose reads {VERSION} "
                             "(field 'version'); rebuild it with `litepose bench --latency-table`")
        try:
            decode = raw.get("decode") or {}
            return cls(space=SearchSpace.from_dict(raw["space"], source=f"{source}: space"),
                       backend=str(raw["backend"]), num_keypoints=int(raw["num_keypoints"]),
                       threads=int(raw["threads"]), host=str(raw["host"]),
                       entries={str(k): dict(v) for k, v in raw["entries"].items()},
                       overhead_ms=float(raw.get("overhead_ms", 0.0)),
                       decode={int(r): {int(n): float(ms) for n, ms in row.items()}
                               for r, row in (decode.get("ms") or {}).items()},
                       decode_tag_dim=int(decode.get("tag_dim", DECODE_TAG_DIM)),
                       calibration=list(raw.get("calibration", [])), settings=dict(raw.get("settings", {})),
                       versions=dict(raw.get("versions", {})), build_seconds=float(raw.get("build_seconds", 0.0)),
                       created=str(raw.get("created", "")),
                       load_average=tuple(float(v) for v in raw["load_average"])  # type: ignore[arg-type]
                       if raw.get("load_average") else None,
                       source=source)
        except KeyError as err:
            raise ValueError(f"{source}: missing field {err.args[0]!r}") from None
        except (TypeError, AttributeError) as err:
            raise ValueError(f"{source}: malformed table ({err})") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backend: str | None = None,
             space: SearchSpace | str | None = None, num_keypoints: int | None = None,
             threads: int | None = None) -> LatencyTable:
        """Read a table and check it is the one asked for (each given argument is checked).

        Raises:
            FileNotFoundError: no such file.
            ValueError: not a table, or built for another ``backend``, ``space``, ``num_keypoints`` or
                ``threads`` than given (the message names the file and the field).
        """
        p = Path(path)
        source = f"latency table {p}"
        try:
            raw = json.loads(p.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{source} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{source}: not valid JSON ({err})") from None
        table = cls.from_dict(raw, source=source)
        if backend is not None and table.backend != backend:
            raise ValueError(f"{source}: measured on backend {table.backend!r}, not {backend!r} (field 'backend')")
        if space is not None:
            want = get_search_space(space) if isinstance(space, str) else space
            if table.space.name != want.name:
                raise ValueError(f"{source}: built for search space {table.space.name!r}, not {want.name!r} "
                                 "(field 'space')")
            if table.space.to_dict() != want.to_dict():
                raise ValueError(f"{source}: built for another version of search space {want.name!r} "
                                 "(field 'space': resolutions, width multipliers or maximum differ)")
        if num_keypoints is not None and table.num_keypoints != num_keypoints:
            raise ValueError(f"{source}: measured for {table.num_keypoints} joints, not {num_keypoints} "
                             "(field 'num_keypoints')")
        if threads is not None and table.threads != threads:
            raise ValueError(f"{source}: measured with {table.threads} threads, not {threads} (field 'threads')")
        return table


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this platform
        return None


class TableLatency:
    """A :class:`~litepose.export.latency.LatencyModel` that predicts from a :class:`LatencyTable`.

    Args:
        table: the table (measured on the target device).
        people: add the table's decode time for this many people (``None``: network only).
    """

    def __init__(self, table: LatencyTable, people: int | None = None) -> None:
        if people is not None:
            measured = sorted({n for row in table.decode.values() for n in row})
            if not measured or not measured[0] <= people <= measured[-1]:
                raise ValueError(f"{table.source}: decode time measured for people {measured or 'none'}, "
                                 f"cannot predict {people} (field 'decode')")
        self.table = table
        self.people = people

    def predict_ms(self, spec: ArchSpec, num_keypoints: int) -> float:
        ms = self.table.predict_ms(spec, num_keypoints)
        if self.people is not None:
            ms += self.table.decode_ms(spec.input_size, self.people)
        return ms

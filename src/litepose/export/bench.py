"""Image-to-people latency of a pose model on a backend, split by stage: what ``litepose bench`` measures.

One **cell** is a model on a backend in a precision, run by a :class:`~litepose.Predictor` exactly as a
user runs it (``predict_keypoints``: an RGB image in, people in original image pixels out). For each
cell :func:`measure_cell` records

* the latency of the whole call and of its :data:`~litepose.inference.predictor.STAGES` (preprocess,
  network, maps, decode), median (p50) and 90th percentile (p90) over ``repeats`` calls after ``warmup``
  untimed ones, with the backend pinned to ``threads`` threads (OpenCV too, for the duration);
* throughput: timed calls per second of their summed time (one image at a time);
* the decode time as a function of the number of people, and the image-to-people time it implies.

**Which images.** The network, the preprocessing and the maps run on fixed shapes, so their cost does
not depend on what the image shows: they are timed on one image drawn by ``litepose synth``'s renderer
(:func:`synthetic_image`: a square of twice the input size by default, so the network input is exactly
the input size, for fixed-size files and dynamic ones alike). The decoder's cost grows with the people
in the maps, and a network's maps show people only if it was trained on them (bench times random-weight
zoo models too): so decode is timed on :func:`~litepose.export.crowd_maps.synthetic_crowd_maps` with
0, 5, 10, 30... people, at the size and tag channels of the maps the cell's predictor produces (one tag
channel without flip test, two with), over ``crowds`` different crowds. The image-to-people time at N
people is then estimated as preprocess + network + maps + decode(N) (sums of medians).

**Report** (:func:`make_report`; ``litepose bench --json`` prints it), schema :data:`SCHEMA` version
:data:`SCHEMA_VERSION`. Times are milliseconds; a later version only adds fields::

    {"schema": "litepose-bench", "version": 1,
     "host": {"id", "cpu", "cores", "versions": {package: version}},
     "settings": {"threads", "warmup", "repeats", "flip_test", "image_size": [W, H], "image_people",
                  "people": [N...], "crowds", "image", "decode_maps"},
     "results": [{
        "model", "kind" ("zoo" | "arch" | "checkpoint" | "exported"), "backend", "precision",
        "status" ("ok" | "skipped"), "note" (why skipped, or a remark; null),
        -- the rest only when "ok" --
        "arch", "family", "num_keypoints", "input_size": [H, W],
        "params", "macs", "macs_paper" (true and paper MACs at input_size; null where unknown),
        "stages": {stage: {"p50_ms", "p90_ms"}} for preprocess, network, maps, decode,
        "end_to_end": {"p50_ms", "p90_ms", "mean_ms"}, "throughput_fps", "people_found",
        "maps_size": [H, W], "tag_dim",
        "people": [{"people", "decode": {"p50_ms", "p90_ms"}, "end_to_end_p50_ms"}],
        "cpu_wait" (share of the time some task waited for a CPU; null where unknown), "contended"}]}

:func:`check_report` checks a document against this schema; :func:`format_report` prints it as tables
and :func:`plot_report` draws it (the stage split per cell, and image-to-people time against people).
Nothing here imports torch except :func:`torch_complexity` and :func:`export_for_backend` (torch models).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from litepose.export.timing import CONTENDED, CpuWait, cpu_model, host_id
from litepose.inference.predictor import STAGES

if TYPE_CHECKING:
    from torch import nn

    from litepose.inference.predictor import Predictor
    from litepose.runtime.metadata import ModelMetadata
    from litepose.skeleton import Skeleton

__all__ = [
    "DEFAULT_PEOPLE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STAGES",
    "BenchSettings",
    "cell_label",
    "check_report",
    "export_for_backend",
    "format_report",
    "make_report",
    "measure_cell",
    "metadata_complexity",
    "plot_report",
    "skipped_cell",
    "synthetic_image",
    "torch_complexity",
]

SCHEMA = "litepose-bench"
SCHEMA_VERSION = 1
DEFAULT_PEOPLE = (0, 5, 10, 30)
KINDS = ("zoo", "arch", "checkpoint", "exported")
_IMAGE_NOTE = "litepose synth renderer (litepose.data.synthetic.render_image), seed 0"
_MAPS_NOTE = "litepose.export.crowd_maps.synthetic_crowd_maps at the cell's map size and tag channels"


@dataclass(frozen=True)
class BenchSettings:
    """How every cell is measured.

    Attributes:
        threads: intra-op threads of the backend (and OpenCV's while measuring).
        warmup: untimed calls first.
        repeats: timed calls (image to people); decode is timed ``repeats`` times per people count too.
        flip_test: run the flipped image as well (the Predictor's default; off is the fast path).
        image_size: ``(W, H)`` of the synthetic image; ``None``: twice each cell's input size, square.
        image_people: people drawn in the synthetic image.
        people: people counts the decoder is timed at.
        crowds: different synthetic crowds per people count (decode time depends on where people stand).
    """

    threads: int
    warmup: int = 5
    repeats: int = 30
    flip_test: bool = False
    image_size: tuple[int, int] | None = None
    image_people: int = 5
    people: tuple[int, ...] = DEFAULT_PEOPLE
    crowds: int = 3

    def __post_init__(self) -> None:
        if self.threads < 1 or self.repeats < 1 or self.warmup < 0 or self.crowds < 1 or self.image_people < 0:
            raise ValueError(f"bench settings: threads, repeats and crowds must be >= 1, warmup and image_people "
                             f">= 0; got {self}")
        if any(n < 0 for n in self.people):
            raise ValueError(f"bench settings: people counts must be >= 0, got {list(self.people)}")

    def to_dict(self) -> dict[str, Any]:
        return {"threads": self.threads, "warmup": self.warmup, "repeats": self.repeats, "flip_test": self.flip_test,
                "image_size": None if self.image_size is None else list(self.image_size),
                "image_people": self.image_people, "people": list(self.people), "crowds": self.crowds,
                "image": _IMAGE_NOTE, "decode_maps": _MAPS_NOTE}


def _spread(times_s: Sequence[float]) -> dict[str, float]:
    """p50 and p90 in milliseconds (inclusive quantiles, as :class:`~litepose.export.timing.LatencyResult`)."""
    ms = sorted(t * 1e3 for t in times_s)
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[8] if len(ms) >= 2 else ms[0]
    return {"p50_ms": round(statistics.median(ms), 4), "p90_ms": round(p90, 4)}


def synthetic_image(width: int, height: int, skeleton: Skeleton, *, people: int = 5, seed: int = 0) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 RGB image of ``people`` people drawn by ``litepose synth``'s renderer."""
    import cv2

    from litepose.data.synthetic import SynthConfig, render_image

    config = SynthConfig(image_size=(int(width), int(height)), min_people=people, max_people=people,
                         min_height=min(30.0, float(height)), max_height=max(min(30.0, float(height)), 0.8 * height),
                         crowd_prob=0.0)
    return cv2.cvtColor(render_image(config, skeleton, seed, 0).image, cv2.COLOR_BGR2RGB)


@contextlib.contextmanager
def _opencv_threads(threads: int) -> Iterator[None]:
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(int(threads))
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _time_image(predictor: Predictor, image: np.ndarray, settings: BenchSettings) -> dict[str, Any]:
    """Stage split and end-to-end spread of ``predict_keypoints`` on ``image``."""
    for _ in range(settings.warmup):
        predictor.predict_keypoints(image)
    totals: list[float] = []
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    found = 0
    with CpuWait.measure() as wait:
        for _ in range(settings.repeats):
            times: dict[str, float] = {}
            start = time.perf_counter()
            keypoints, _ = predictor.predict_keypoints(image, stage_times=times)
            totals.append(time.perf_counter() - start)
            for stage in STAGES:
                stages[stage].append(times.get(stage, 0.0))
            found = int(keypoints.shape[0])
    end_to_end = {**_spread(totals), "mean_ms": round(statistics.fmean(totals) * 1e3, 4)}
    return {"stages": {stage: _spread(values) for stage, values in stages.items()}, "end_to_end": end_to_end,
            "throughput_fps": round(len(totals) / sum(totals), 2), "people_found": found, "cpu_wait": wait.share}


def _time_decode(predictor: Predictor, maps_shape: tuple[int, int, int, int],
                 settings: BenchSettings) -> list[dict[str, Any]]:
    """Decode spread on synthetic crowds of each people count, with the predictor's decoding options."""
    from litepose.decoding import decode
    from litepose.export.crowd_maps import synthetic_crowd_maps

    joints, height, width, tag_dim = maps_shape
    options = {"detection_threshold": predictor.detection_threshold, "tag_threshold": predictor.tag_threshold,
               "max_people": predictor.max_people, "adjust": predictor.adjust, "refine": predictor.refine,
               "joint_order": predictor.joint_order}
    crowds = min(settings.crowds, settings.repeats)
    rows = []
    for people in settings.people:
        times: list[float] = []
        for seed in range(crowds):
            heatmaps, tags, _ = synthetic_crowd_maps(people, height, width, num_joints=joints, tag_dim=tag_dim,
                                                     seed=seed)
            for _ in range(max(1, settings.warmup // crowds) if settings.warmup else 0):
                decode(heatmaps, tags, **options)
            for _ in range(max(1, settings.repeats // crowds)):
                start = time.perf_counter()
                decode(heatmaps, tags, **options)
                times.append(time.perf_counter() - start)
        rows.append({"people": int(people), "decode": _spread(times)})
    return rows


def measure_cell(predictor: Predictor, settings: BenchSettings, *, image: np.ndarray | None = None) -> dict[str, Any]:
    """Measure one cell: the fields of a ``"ok"`` result from ``"arch"`` on (see the module docstring),
    without the model's own fields (``model``, ``kind``, ``backend``, ``precision``, params and MACs).

    Args:
        predictor: the model on its backend (``flip_test`` as in ``settings``).
        settings: what to measure.
        image: the RGB image to time (default: :func:`synthetic_image` of ``settings.image_size``, else
            twice the predictor's input size).
    """
    if image is None:
        width, height = settings.image_size or (2 * predictor.input_size, 2 * predictor.input_size)
        image = synthetic_image(width, height, predictor.skeleton, people=settings.image_people)
    image_size = (int(image.shape[1]), int(image.shape[0]))
    with _opencv_threads(settings.threads):
        heatmaps, tags, _ = predictor.predict_maps(image)
        maps_shape = (int(heatmaps.shape[0]), int(heatmaps.shape[1]), int(heatmaps.shape[2]), int(tags.shape[3]))
        del heatmaps, tags
        timed = _time_image(predictor, image, settings)
        people = _time_decode(predictor, maps_shape, settings)
    fixed = sum(timed["stages"][stage]["p50_ms"] for stage in ("preprocess", "network", "maps"))
    for row in people:
        row["end_to_end_p50_ms"] = round(fixed + row["decode"]["p50_ms"], 4)
    meta = predictor.backend.metadata
    arch = (meta.arch or {}).get("name") if isinstance(meta.arch, Mapping) else None
    wait = timed.pop("cpu_wait")
    return {"arch": arch or meta.family, "family": meta.family, "num_keypoints": predictor.num_joints,
            "input_size": _network_input(predictor, image_size),
            **timed, "maps_size": [maps_shape[1], maps_shape[2]], "tag_dim": maps_shape[3], "people": people,
            "cpu_wait": wait, "contended": wait is not None and wait > CONTENDED}


def _network_input(predictor: Predictor, image_size: tuple[int, int]) -> list[int]:
    """``[H, W]`` the network takes for an image of ``image_size`` (the official resize, or the fixed input)."""
    from litepose.geometry import ceil_to_multiple, test_resize_meta

    fixed = predictor.backend.input_size
    meta = test_resize_meta(image_size[0], image_size[1], predictor.input_size, 1.0, 1.0)
    height = fixed[0] or ceil_to_multiple(meta.resized_h, 32)
    width = fixed[1] or ceil_to_multiple(meta.resized_w, 32)
    return [int(height), int(width)]


def skipped_cell(model: str, kind: str, backend: str, precision: str, note: str) -> dict[str, Any]:
    """The result of a cell that was not measured, with why."""
    return {"model": model, "kind": kind, "backend": backend, "precision": precision, "status": "skipped",
            "note": note}


def torch_complexity(model: nn.Module, input_hw: Sequence[int]) -> dict[str, int]:
    """Params, true and paper MACs of a torch pose network at ``input_hw`` (:mod:`litepose.models.profile`)."""
    from litepose.models.profile import profile_model

    result = profile_model(model, (int(input_hw[0]), int(input_hw[1])))
    return {"params": int(result.params), "macs": int(result.macs), "macs_paper": int(result.macs_paper)}


def metadata_complexity(meta: ModelMetadata, input_hw: Sequence[int]) -> dict[str, int | None]:
    """:func:`torch_complexity` of the network an exported file describes (its ``arch``), or nulls where
    torch is not installed or the file records no architecture (MACs are counted on the torch module)."""
    empty: dict[str, int | None] = {"params": None, "macs": None, "macs_paper": None}
    if meta.arch is None:
        return empty
    try:
        import torch  # noqa: F401  (the runtime extra has no torch: then there is nothing to count with)

        from litepose.models.families import build_network, spec_from_dict

        network = build_network(spec_from_dict(meta.arch, meta.family), meta.num_keypoints)
    except (ImportError, ValueError, KeyError, TypeError):
        return empty
    return dict(torch_complexity(network, input_hw))


def export_for_backend(model: nn.Module, backend: str, precision: str, input_size: int, folder: str | os.PathLike[str],
                       *, skeleton: Skeleton | None = None, calib: Sequence[np.ndarray] | None = None) -> Path:
    """``model`` exported by :func:`~litepose.export.exporter.export_model` for ``backend`` (``onnxruntime``:
    ONNX, ``openvino``: IR) in ``precision``, at a fixed ``input_size`` x ``input_size``, into ``folder``.

    ``int8`` needs ``calib`` (network inputs ``(1, 3, N, N)``). Returns the file's path.
    """
    from litepose.export.exporter import SUFFIXES, export_model

    fmt = {"onnxruntime": "onnx", "openvino": "openvino"}[backend]
    path = Path(folder) / f"{backend}-{precision}{SUFFIXES[fmt]}"
    export_model(model, path, format=fmt, precision=precision, input_size=int(input_size), dynamic=False,
                 calib=list(calib) if precision == "int8" else None, skeleton=skeleton)
    return path


def _host() -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for name in ("litepose", "numpy", "opencv-python-headless", "torch", "onnxruntime", "openvino", "numba"):
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = None
    return {"id": host_id(), "cpu": cpu_model(), "cores": os.cpu_count() or 1, "versions": versions}


def make_report(results: Sequence[Mapping[str, Any]], settings: BenchSettings) -> dict[str, Any]:
    """The JSON document of a bench run (see the module docstring)."""
    return {"schema": SCHEMA, "version": SCHEMA_VERSION, "host": _host(), "settings": settings.to_dict(),
            "results": [dict(r) for r in results]}


_STAGE_FIELDS = ("p50_ms", "p90_ms")
_OK_FIELDS = ("arch", "family", "num_keypoints", "input_size", "params", "macs", "macs_paper", "stages", "end_to_end",
              "throughput_fps", "people_found", "maps_size", "tag_dim", "people", "cpu_wait", "contended")


def check_report(raw: Any) -> None:
    """Check a bench document against the schema; a ``ValueError`` naming the first field that is wrong."""
    def need(cond: bool, where: str) -> None:
        if not cond:
            raise ValueError(f"bench report: {where}")

    need(isinstance(raw, Mapping), "not a JSON object")
    need(raw.get("schema") == SCHEMA, f"schema must be {SCHEMA!r}")
    need(raw.get("version") == SCHEMA_VERSION, f"version must be {SCHEMA_VERSION}")
    for key in ("host", "settings", "results"):
        need(key in raw, f"missing {key!r}")
    need(all(k in raw["host"] for k in ("id", "cpu", "cores", "versions")), "host needs id, cpu, cores, versions")
    settings = raw["settings"]
    for key in ("threads", "warmup", "repeats", "flip_test", "image_size", "image_people", "people", "crowds"):
        need(key in settings, f"settings lacks {key!r}")
    need(isinstance(raw["results"], list), "results must be a list")
    for i, cell in enumerate(raw["results"]):
        where = f"results[{i}]"
        for key in ("model", "kind", "backend", "precision", "status", "note"):
            need(key in cell, f"{where} lacks {key!r}")
        need(cell["kind"] in KINDS, f"{where}.kind must be one of {KINDS}")
        need(cell["status"] in ("ok", "skipped"), f"{where}.status must be ok or skipped")
        if cell["status"] == "skipped":
            need(isinstance(cell["note"], str) and bool(cell["note"]), f"{where}: a skipped cell says why in note")
            continue
        for key in _OK_FIELDS:
            need(key in cell, f"{where} lacks {key!r}")
        need(set(cell["stages"]) == set(STAGES), f"{where}.stages must be {list(STAGES)}")
        for name, spread in [*cell["stages"].items(), ("end_to_end", cell["end_to_end"])]:
            need(all(isinstance(spread.get(k), int | float) and spread[k] >= 0 for k in _STAGE_FIELDS),
                 f"{where}.{name} needs p50_ms and p90_ms >= 0")
            need(spread["p90_ms"] >= spread["p50_ms"], f"{where}.{name}: p90 below p50")
        need([row.get("people") for row in cell["people"]] == list(settings["people"]),
             f"{where}.people must follow settings.people")
        for row in cell["people"]:
            need("decode" in row and "end_to_end_p50_ms" in row, f"{where}.people rows need decode and "
                                                                  "end_to_end_p50_ms")


def _count(value: int | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value}{unit}"


def cell_label(cell: Mapping[str, Any]) -> str:
    """``MODEL on BACKEND PRECISION``: how tables and plots name a cell."""
    return f"{Path(str(cell['model'])).name} on {cell['backend']} {cell['precision']}"


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    def line(row: list[str]) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    lines = [line(row) for row in rows]
    return [lines[0], "-" * max(len(line) for line in lines), *lines[1:]]


def format_report(report: Mapping[str, Any]) -> list[str]:
    """The report as lines for people: the settings, a stage table (p50 ms), the people table and notes."""
    settings = report["settings"]
    cells = report["results"]
    ok = [c for c in cells if c["status"] == "ok"]
    size = settings["image_size"]
    image = "twice the input size" if size is None else f"{size[0]}x{size[1]}"
    lines = [f"{len(ok)} of {len(cells)} cells measured: {settings['threads']} thread"
             f"{'s' if settings['threads'] != 1 else ''}, {settings['warmup']} warm-up + {settings['repeats']} timed "
             f"runs each, synthetic image ({image}, {settings['image_people']} people), flip test "
             f"{'on' if settings['flip_test'] else 'off'}; times in ms, p50 unless marked"]
    if ok:
        header = ["model on backend precision", "input", "params", "MACs true/paper", *STAGES, "image->people p50/p90",
                  "img/s"]
        rows = [header]
        for c in ok:
            h, w = c["input_size"]
            macs = f"{_count(c['macs'])}/{_count(c['macs_paper'])}"
            rows.append([cell_label(c), f"{w}x{h}", _count(c["params"]), macs,
                         *(f"{c['stages'][s]['p50_ms']:.2f}" for s in STAGES),
                         f"{c['end_to_end']['p50_ms']:.2f} / {c['end_to_end']['p90_ms']:.2f}",
                         f"{c['throughput_fps']:.1f}"])
        lines += ["", *_table(rows, right=set(range(2, len(header))))]
        people = settings["people"]
        if people:
            rows = [["decode | image->people at N people", *(f"N={n}" for n in people)]]
            for c in ok:
                rows.append([cell_label(c), *(f"{r['decode']['p50_ms']:.2f} | {r['end_to_end_p50_ms']:.2f}"
                                              for r in c["people"])])
            lines += ["", *_table(rows, right=set(range(1, len(people) + 1)))]
    for c in cells:
        if c["status"] == "skipped":
            lines.append(f"skipped {cell_label(c)}: {c['note']}")
        elif c.get("note"):
            lines.append(f"note on {cell_label(c)}: {c['note']}")
    busy = [c for c in ok if c.get("contended")]
    if busy:
        worst = max(c["cpu_wait"] for c in busy)
        lines.append(f"CONTENDED: tasks waited for a CPU during {len(busy)} of {len(ok)} cells (up to {worst:.0%} of "
                     "the time: other processes, or more runnable threads than cores): those times may be inflated")
    lines.append(f"host: {report['host']['id']}")
    return lines


def plot_report(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Draw the measured cells to a PNG: the stage split (p50, stacked) per cell, and the estimated
    image-to-people time against the number of people. Written atomically; Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from litepose.io import atomic_open

    ok = [c for c in report["results"] if c["status"] == "ok"]
    if not ok:
        raise ValueError("bench report: no measured cell to plot")
    labels = [cell_label(c) for c in ok]
    fig = Figure(figsize=(12, max(3.2, 1.0 + 0.45 * len(ok))), dpi=110)  # its own canvas: the global backend stays
    FigureCanvasAgg(fig)
    split, people = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
    colours = {"preprocess": "tab:gray", "network": "tab:blue", "maps": "tab:orange", "decode": "tab:green"}
    left = np.zeros(len(ok))
    ys = np.arange(len(ok))[::-1]
    for stage in STAGES:
        widths = np.array([c["stages"][stage]["p50_ms"] for c in ok])
        split.barh(ys, widths, left=left, color=colours[stage], label=stage, height=0.6)
        left += widths
    for y, c in zip(ys, ok, strict=True):
        split.text(c["end_to_end"]["p50_ms"], y, f" {c['end_to_end']['p50_ms']:.2f} ms", va="center", fontsize=8)
    split.set_yticks(ys, labels, fontsize=8)
    split.set_xlabel("image -> people, ms (p50 of each stage)")
    split.set_xlim(0, 1.25 * max(float(left.max()), max(c["end_to_end"]["p50_ms"] for c in ok)))
    split.legend(fontsize=8, loc="lower right")
    split.grid(axis="x", alpha=0.3)
    counts = report["settings"]["people"]
    if counts:
        for label, c in zip(labels, ok, strict=True):
            people.plot(counts, [r["end_to_end_p50_ms"] for r in c["people"]], "-o", ms=3, lw=1.2, label=label)
        people.set_xlabel("people in the maps (synthetic crowds)")
        people.set_ylabel("image -> people, ms (p50, estimated)")
        tops = [r["end_to_end_p50_ms"] for c in ok for r in c["people"]]
        if max(tops) > 10 * max(min(tops), 1e-3):  # eager PyTorch beside a runtime: one scale for both
            people.set_yscale("log")
        else:
            people.set_ylim(bottom=0)
        people.legend(fontsize=7, loc="best")
        people.grid(alpha=0.3)
    else:
        people.set_axis_off()
    settings = report["settings"]
    threads = f"{settings['threads']} thread{'s' if settings['threads'] != 1 else ''}"
    fig.suptitle(f"litepose bench: {threads}, flip {'on' if settings['flip_test'] else 'off'}, "
                 f"{report['host']['cpu']}", fontsize=9)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png")


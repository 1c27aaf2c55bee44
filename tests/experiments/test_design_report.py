"""Experiment definitions (the paper's variants and numbers) and the report (ordering, tables, figure)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from litepose.experiments.design import EXPERIMENTS, HALF_LITEPOSE, get_experiment
from litepose.experiments.report import ordering, summarise, write_report
from litepose.experiments.runner import RunResult
from litepose.models.families import build_network
from litepose.models.higherhrnet import HigherHRNetSpec
from litepose.models.profile import profile_model
from litepose.models.spec import ArchSpec


def test_every_experiment_and_its_variants() -> None:
    assert EXPERIMENTS == ("shrinking", "kernel", "fusion", "single-branch")
    shrink = get_experiment("shrinking")
    assert [v.key for v in shrink.variants] == ["c1", "c2", "c3", "c4"]
    assert all(isinstance(v.spec, HigherHRNetSpec) for v in shrink.variants)
    assert [v.spec.name for v in shrink.variants] == ["scaled-higherhrnet-w16", "scaled-higherhrnet-shrink1",
                                                       "scaled-higherhrnet-shrink2", "scaled-higherhrnet-shrink3"]
    assert shrink.paper_order == ("c4", "c3", "c2", "c1")  # Fig. 3: 53.0 > 51.8 > 51.0 > 50.4
    kernel = get_experiment("kernel")
    assert [v.key for v in kernel.variants] == ["k3", "k5", "k7", "k9"]
    for v, k in zip(kernel.variants, (3, 5, 7, 9), strict=True):
        assert isinstance(v.spec, ArchSpec) and {b.kernel_size for s in v.spec.stages for b in s.blocks} == {k}
    assert kernel.paper_order == ("k7", "k5", "k3")  # 9x9 has no number in the paper
    fusion = get_experiment("fusion")
    assert [v.spec.fusion for v in fusion.variants] == [True, False]
    single = get_experiment("single-branch")
    assert single.exported_latency and [v.spec.name for v in single.variants] == ["litepose-l",
                                                                                   "scaled-higherhrnet-w16"]


def test_half_litepose_is_the_papers_ablation_model() -> None:
    """Table 3's MACs: 0.5 LitePose with 3x3 / 5x5 / 7x7 kernels 3.8 / 4.1 / 4.7 G, 7x7 without fusion 4.1 G."""
    assert HALF_LITEPOSE.channels == (16, 16, 32, 48, 80) and HALF_LITEPOSE.deconv_channels == (32, 24, 16)
    kernel = {v.key: v for v in get_experiment("kernel").variants}
    fusion = {v.key: v for v in get_experiment("fusion").variants}
    for v in (kernel["k3"], kernel["k5"], kernel["k7"], fusion["fusion-off"]):
        macs = profile_model(build_network(v.spec, 14), 512).macs_paper / 1e9
        assert macs == pytest.approx(v.paper_gmacs, abs=0.05), v.key
    assert fusion["fusion-on"].spec == kernel["k7"].spec


def test_experiment_choices_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown experiment 'depth'"):
        get_experiment("depth")
    with pytest.raises(ValueError, match="--arch applies to the kernel and fusion experiments, not to shrinking"):
        get_experiment("shrinking", "litepose-xs")
    with pytest.raises(ValueError, match=r"unknown variants \['k4'\]"):
        get_experiment("kernel", only=["k3", "k4"])
    assert [v.key for v in get_experiment("kernel", "litepose-xs", only=["k7", "k3"]).variants] == ["k3", "k7"]
    assert get_experiment("fusion", "litepose-xs").variants[0].spec.stem_channels == 16


def _run(key: str, seed: int, ap: float | None) -> RunResult:
    metrics = None if ap is None else {"AP": ap, "AP50": min(1.0, ap + 0.2)}
    return RunResult(key, seed, metrics, 3, 30, 60.0, 5.0, "done" if ap is not None else "diverged: nan")


def _measured(key: str, gmacs: float, ms: float, exported: float | None = None) -> dict:
    latency = {"torch": {"median_ms": ms, "contended": False}}
    if exported is not None:
        latency["onnxruntime"] = {"median_ms": exported, "contended": False}
    return {"key": key, "params": 1_000_000, "macs_paper": gmacs * 1e9, "macs": gmacs * 0.9e9, "latency_size": 512,
            "latency": latency}


def test_ordering_reproduced_not_reproduced_ties_and_spread(tmp_path: Path) -> None:
    shrink = get_experiment("shrinking")
    measured = {k: _measured(k, g, 10.0) for k, g in zip(("c1", "c2", "c3", "c4"), (12.5, 10.1, 10.0, 9.1),
                                                           strict=True)}
    runs = {"c1": [_run("c1", 0, 0.40), _run("c1", 1, 0.42)], "c2": [_run("c2", 0, 0.45), _run("c2", 1, 0.47)],
            "c3": [_run("c3", 0, 0.50), _run("c3", 1, 0.52)], "c4": [_run("c4", 0, 0.60), _run("c4", 1, 0.62)]}
    rows = summarise(shrink, runs, measured)
    assert rows[0]["ap_mean"] == pytest.approx(0.41) and rows[0]["ap_spread"] == pytest.approx(0.01)
    assert rows[0]["ap50_mean"] == pytest.approx(0.61)
    order = ordering(shrink, rows)
    assert order["measured"] == ["c4", "c3", "c2", "c1"] and order["reproduced"] and not order["within_spread"]
    runs["c3"] = [_run("c3", 0, 0.43), _run("c3", 1, 0.48)]  # now c3 ~ c2 and below it on average
    order = ordering(shrink, summarise(shrink, runs, measured))
    assert order["measured"] == ["c4", "c2", "c3", "c1"] and not order["reproduced"]
    assert order["within_spread"] == [["c2", "c3"]]
    runs = {k: [_run(k, 0, 0.0)] for k in runs}  # all equal: an ordering is not reproduced by a tie
    assert not ordering(shrink, summarise(shrink, runs, measured))["reproduced"]
    write_report(shrink, runs, {k: m | {"key": k} for k, m in measured.items()}, tmp_path, settings={})
    assert "here C4 = C3 = C2 = C1 — **not reproduced**" in (tmp_path / "results.md").read_text()
    runs["c2"] = [_run("c2", 0, None)]  # diverged: no AP
    rows = summarise(shrink, runs, measured)
    assert rows[1]["ap_mean"] is None and rows[1]["diverged"] == 1
    assert not ordering(shrink, rows)["complete"]


def test_report_files(tmp_path: Path) -> None:
    single = get_experiment("single-branch")
    runs = {"litepose-l": [_run("litepose-l", 0, 0.5), _run("litepose-l", 1, 0.6)],
            "w16": [_run("w16", 0, 0.3), _run("w16", 1, None)]}
    measured = {"litepose-l": _measured("litepose-l", 13.7, 300.0, 200.0), "w16": _measured("w16", 12.5, 250.0, 100.0)}
    report = write_report(single, runs, measured, tmp_path, settings={"minutes": 5, "seeds": 2, "val_ann": "v.json",
                                                                      "latency_repeats": 10})
    md = (tmp_path / "results.md").read_text()
    assert "| LitePose-L (single branch) | 1.00M | 13.70 | 12.33 | 300.0 | 200.0 | 0.550 ± 0.050 | 0.750 | 2 |" in md
    assert "| 1 (1 diverged) |" in md
    assert "onnxruntime ms @512" in md and "**reproduced**" in md
    assert "1.10x the MACs of Scaled-HigherHRNet-W16 (multi-branch), 1.20x its latency on torch, 2.00x on " \
           "onnxruntime" in md
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [r["key"] for r in rows] == ["litepose-l", "w16"] and float(rows[0]["ap_mean"]) == pytest.approx(0.55)
    assert rows[1]["exported_backend"] == "onnxruntime" and float(rows[1]["exported_ms"]) == 100.0
    assert float(rows[1]["onnxruntime_ms"]) == 100.0 and float(rows[1]["torch_ms"]) == 250.0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["ordering"] == report["ordering"] and len(saved["runs"]["w16"]) == 2
    image = cv2.imread(str(tmp_path / "plot.png"))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 800
    assert "each variant in a fresh process." in md and "contended" not in md


def test_a_contended_latency_is_marked_and_explained(tmp_path: Path) -> None:
    fusion = get_experiment("fusion")
    keys = [v.key for v in fusion.variants]
    runs = {k: [_run(k, 0, 0.2)] for k in keys}
    measured = {k: _measured(k, 4.0, 40.0) for k in keys}
    measured[keys[1]]["latency"]["torch"]["contended"] = True
    md = write_report(fusion, runs, measured, tmp_path, settings={"seeds": 1, "latency_repeats": 10}) and \
        (tmp_path / "results.md").read_text()
    assert md.count("40.0 (contended)") == 1 and "(contended): other processes competed for the cores" in md

"""Experiments end to end on a tiny budget: training, scoring, timing, the report, resume, the CLI."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from litepose.cli import main
from litepose.experiments.design import Variant, get_experiment
from litepose.experiments.runner import ExperimentSettings, run_experiment
from litepose.models.families import build_network
from litepose.models.higherhrnet import HigherHRNetSpec
from litepose.models.profile import profile_model
from litepose.models.zoo import get_arch

TINY = ("data.input_size=64", "data.test_input_size=64", "optim.batch_size=4", "optim.epochs=1", "train.threads=1")
TINY_CLI = [a for o in TINY for a in ("--set", o)] + ["--latency-size", "64", "--latency-repeats", "1", "--threads",
                                                      "1", "--no-progress"]


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def test_single_branch_style_experiment_end_to_end(tmp_path: Path, tiny_data: Path) -> None:
    """Two tiny networks of both families, 2 seeds each, torch and exported latency, report files."""
    hrnet = HigherHRNetSpec(stem_planes=8, channels=(8, 16, 32, 64), blocks=((0, 1), (0, 0, 1), (0, 0, 0, 1)),
                            modules=(1, 1, 1), deconv_channels=16, name="tiny-hrnet")
    lite = replace(get_arch("litepose-xs").scaled(0.5), name="tiny-litepose")
    variants = (Variant("lite", "tiny LitePose", lite, 61.9), Variant("hr", "tiny HRNet", hrnet, 50.4))
    experiment = replace(get_experiment("single-branch"), variants=variants)
    settings = ExperimentSettings(minutes=None, epochs=1, seeds=2, data=tiny_data, overrides=TINY, latency_size=64,
                                  latency_repeats=1, latency_threads=1, progress=False)
    lines: list[str] = []
    report = run_experiment(experiment, tmp_path / "out", settings, log=lines.append)
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"experiment.json", "archs", "runs", "variants", "results.md",
                                               "results.csv", "results.json", "plot.png"}
    assert not (out / "data").exists()  # --data given: nothing drawn
    rows = {r["key"]: r for r in report["variants"]}
    for key, spec in (("lite", lite), ("hr", hrnet)):
        runs = report["runs"][key]
        assert [r["seed"] for r in runs] == [0, 1]
        assert all(0.0 <= r["metrics"]["AP"] <= 1.0 and r["status"] == "done" for r in runs)
        assert rows[key]["seeds"] == 2
        for seed in (0, 1):
            run = out / "runs" / key / f"seed{seed}"
            assert (run / "model.pt").is_file() and (run / "train" / "metrics.csv").is_file()
            assert not (run / "train" / "last.pt").exists()  # the optimizer state is not kept
        expected = profile_model(build_network(spec, 17), 64)
        assert rows[key]["params"] == expected.params
        assert rows[key]["gmacs_paper"] == pytest.approx(expected.macs_paper / 1e9)
        latency = report["measurements"][key]["latency"]
        exported = {b: latency[b]["median_ms"] for b in ("onnxruntime", "openvino")}
        assert latency["torch"]["median_ms"] > 0 and min(exported.values()) > 0
        assert latency["openvino"]["settings"]["bn_folded"]
        assert rows[key]["exported_ms"] == min(exported.values())
        assert rows[key]["exported_backend"] == min(exported, key=exported.__getitem__)
        # timed in a process of its own, malloc keeping freed memory, its log lines relayed here
        timing = report["measurements"][key]["timing_process"]
        assert timing["pid"] != os.getpid() and timing["malloc_keeps_freed_memory"] is True
        assert any(ln.startswith(f"{key}: median") and "on openvino" in ln for ln in lines)
    assert json.loads((out / "archs" / "hr.json").read_text())["family"] == "higherhrnet"
    md = (out / "results.md").read_text()
    assert "| tiny HRNet | " in md and "onnxruntime ms @64 | openvino ms @64 |" in md
    assert "Latency: tiny LitePose has" in md
    assert sum("training for 1 epochs" in ln for ln in lines) == 4
    assert all(r["epochs"] == 1 for rs in report["runs"].values() for r in rs)
    assert "each run trained 1 epochs" in md


def test_cli_kernel_experiment_resumes_and_refuses_other_settings(tmp_path: Path, tiny_data: Path, tiny_arch: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kernel"

    def args(seeds: int, minutes: str = "0.02") -> list[str]:
        return ["experiment", "kernel", "--arch", str(tiny_arch), "--variants", "k3,k7", "--data", str(tiny_data),
                "--minutes", minutes, "--seeds", str(seeds), "-o", str(out), *TINY_CLI]

    assert main(args(1)) == 0
    printed = capsys.readouterr().out
    assert "# Depthwise kernel size of tiny" in printed and "| 3x3 kernels |" in printed and "plot.png" in printed
    first = (out / "runs" / "k3" / "seed0" / "result.json").read_text()

    # a killed run (no result.json) is redone; a second seed is added; finished runs are kept
    (out / "runs" / "k7" / "seed0" / "result.json").unlink()
    assert main(args(2)) == 0
    log = capsys.readouterr().out
    assert "4 runs of 0.02 min; 1 done earlier, 3 to train" in log
    assert (out / "runs" / "k3" / "seed0" / "result.json").read_text() == first
    report = json.loads((out / "results.json").read_text())
    assert [len(report["runs"][k]) for k in ("k3", "k7")] == [2, 2]
    assert report["settings"]["seeds"] == 2

    # the same folder with another budget is refused before any training
    code = main(args(2, minutes="0.5"))
    err = capsys.readouterr().err
    assert code == 2 and "holds a kernel experiment with other settings (minutes differ)" in err


@pytest.mark.parametrize(("extra", "needle"), [
    (["--variants", "c9"], "unknown variants ['c9']"),
    (["--arch", "litepose-xs"], "--arch applies to the kernel and fusion experiments"),
    (["--minutes", "0"], "--minutes must be positive"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--set", "optim.lrr=1"], "unknown key 'optim.lrr'"),
    (["--latency-size", "100"], "--latency-size must be a positive multiple of 32"),
    (["--data", "nowhere"], "--data nowhere does not exist"),
    (["--config", "nowhere.yaml"], "--config nowhere.yaml does not exist"),
    (["--data", __file__], "expected a folder with train/ and val/"),
])
def test_cli_errors_are_one_line_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 extra: list[str], needle: str) -> None:
    out = tmp_path / "out"
    assert main(["experiment", "shrinking", "-o", str(out), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # nothing drawn, nothing trained


def test_cli_output_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["experiment", "fusion", "-o", str(target), "--no-progress"]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err

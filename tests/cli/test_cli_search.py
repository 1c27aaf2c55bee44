"""``litepose search``: options and outputs checked before any work (one line, exit 2), a proxy search end
to end, resume from the folder alone, a latency budget, and a 2-process torchrun search."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from litepose.cli import main
from litepose.models.spec import ArchSpec

TINY = """\
space: {resolutions: [64, 96], width_multipliers: [1.0, 0.5]}   # 73M to 537M paper MACs
evolution: {population: 6, generations: 2, mutate_prob: 0.3, parent_ratio: 0.5, seed: 1}
constraint: {kind: macs_paper, budget: 300M}
evaluator: proxy
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture
def no_evaluator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building an evaluator fails the test: every check must come before it."""
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("an evaluator was built before the options and outputs were checked")

    monkeypatch.setattr("litepose.search.sources.make_evaluator", refuse)


def error_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    code = main(["search", *args])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("litepose search: error: "), lines
    return lines[0]


@pytest.mark.parametrize(("options", "words"), [
    (["--set", "space.preset=foo"], "space.preset must be one of"),
    (["--budget-macs", "12X"], "--budget-macs '12X': unknown unit"),
    (["--budget-macs", "1M"], "--budget-macs '1M': below the smallest sub-network"),
    (["--budget-macs", "1G"], "--budget-macs '1G': the largest sub-network"),
    (["--budget-params", "100k"], "--budget-params '100k': below the smallest"),
    (["--budget-params", "10ms"], "latency unit"),
    (["--set", "constraint.budget=null"], "constraint.budget is required"),
    (["--evaluator", "supernet"], "--supernet CKPT is required"),
    (["--evaluator", "supernet", "--supernet", "missing.pt"], "--supernet missing.pt: no such file"),
    # measured on OpenVINO: a budget every sub-network meets constrains nothing
    (["--budget-ms", "1000", "--backend", "openvino"], "--budget-ms '1000': the largest sub-network"),
])
def test_bad_options_are_one_line_before_any_work(config: Path, tmp_path: Path, options: list[str], words: str,
                                                   no_evaluator: None, capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(capsys, [str(config), "--output", str(tmp_path / "out"), *options])
    assert words in line, line
    assert not (tmp_path / "out").exists()


def test_output_checks(config: Path, tmp_path: Path, no_evaluator: None, capsys: pytest.CaptureFixture[str]) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "x.txt").write_text("x")
    assert "exists and is not empty; continue that search with --resume" in \
        error_line(capsys, [str(config), "--output", str(used)])
    assert "no search_config.yaml there" in error_line(capsys, ["--resume", str(used)])
    assert "give a CONFIG.yaml" in error_line(capsys, [])
    assert "give one" in error_line(capsys, [str(config), "--output", "a", "--resume", "b"])


def test_proxy_search_then_resume_from_the_folder(config: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["search", str(config), "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert "proxy fitness (not AP)" in printed.out and "best: r" in printed.out
    rows = list(csv.DictReader((out / "candidates.csv").open()))
    assert max(int(r["generation"]) for r in rows) <= 2 and all(int(r["macs_paper"]) <= 300e6 for r in rows)
    ArchSpec.from_json(out / "best_arch.json")
    # continue it for two more generations from the folder alone
    assert main(["search", "--resume", str(out), "--set", "evolution.generations=4", "--no-progress"]) == 0
    assert "resuming from generation 2" in capsys.readouterr().err
    state = json.loads((out / "search_state.json").read_text())
    assert state["generation"] == 4 and state["metric"] == "proxy fitness (not AP)"
    # the same as a 4-generation search from scratch
    fresh = tmp_path / "fresh"
    assert main(["search", str(config), "--output", str(fresh), "--set", "evolution.generations=4",
                 "--no-progress"]) == 0
    assert (fresh / "candidates.csv").read_text() == (out / "candidates.csv").read_text()


def test_latency_budget_uses_the_export_latency_model(config: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[str, Any] = {}

    class FakeLatency:
        def predict_ms(self, spec: ArchSpec, num_keypoints: int) -> float:
            return spec.input_size / 10 + spec.stages[-1].channels / 40

    def make_latency_model(backend: str, **kwargs: Any) -> FakeLatency:
        made.update(backend=backend, **kwargs)
        return FakeLatency()

    monkeypatch.setattr("litepose.export.latency.make_latency_model", make_latency_model)
    out = tmp_path / "out"
    assert main(["search", str(config), "--output", str(out), "--budget-ms", "11", "--backend", "onnxruntime",
                 "--set", "constraint.include_decode=true", "--set", "constraint.num_people=5",
                 "--no-progress"]) == 0
    assert made == {"backend": "onnxruntime", "table": None, "people": 5}
    rows = list(csv.DictReader((out / "candidates.csv").open()))
    assert rows and all(0 < float(r["latency_ms"]) <= 11 for r in rows)


# Runs `litepose search` under torchrun and records which architectures each rank evaluated.
RANK_SCRIPT = """
import json, os, sys
from litepose.cli import main
from litepose.search.proxy import ProxyEvaluator

rank = os.environ["RANK"]
seen = []
original = ProxyEvaluator.__call__

def spy(self, archs):
    if os.environ.get("FAIL_RANK") == rank and archs:
        raise OSError("cannot read the calibration images")
    seen.extend(a.name for a in archs)
    return original(self, archs)

ProxyEvaluator.__call__ = spy
code = main(["search", *sys.argv[2:]])
json.dump(seen, open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w"))
sys.exit(code)
"""


def torchrun_search(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", str(script),
           str(tmp_path), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **env}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)


gloo = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                          reason="this PyTorch build has no gloo backend")


@gloo
def test_two_process_search_splits_evaluations_and_equals_one_process(config: Path, tmp_path: Path) -> None:
    out, single = tmp_path / "ddp", tmp_path / "single"
    res = torchrun_search(tmp_path, [str(config), "--output", str(out), "--no-progress"])
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert res.stdout.count("best: ") == 1  # rank 0 alone reports
    assert main(["search", str(config), "--output", str(single), "--no-progress"]) == 0
    assert (out / "candidates.csv").read_text() == (single / "candidates.csv").read_text()
    assert (out / "best_arch.json").read_text() == (single / "best_arch.json").read_text()
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    labels = [r["label"] for r in csv.DictReader((out / "candidates.csv").open())]
    assert rank0 and rank1 and not set(rank0) & set(rank1)
    assert sorted(rank0 + rank1) == sorted(labels)


@gloo
def test_an_evaluator_failing_on_one_process_stops_both_with_one_message(config: Path, tmp_path: Path) -> None:
    res = torchrun_search(tmp_path, [str(config), "--output", str(tmp_path / "ddp"), "--no-progress"], FAIL_RANK="1")
    assert res.returncode != 0
    errors = [line for line in res.stderr.splitlines() if line.startswith("litepose search: error:")]
    assert errors == ["litepose search: error: cannot read the calibration images"], res.stderr[-3000:]

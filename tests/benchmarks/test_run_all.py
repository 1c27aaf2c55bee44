"""benchmarks/run_all.py (``make bench``): every benchmark runs and lands in one summary table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import run_all  # noqa: E402


def test_every_benchmark_is_discovered_and_takes_quick_and_summary_options() -> None:
    scripts = run_all.discover([])
    assert [s.name for s in scripts] == sorted(p.name for p in BENCHMARKS.glob("bench_*.py"))
    assert {"bench_decode", "bench_synth", "bench_train"} <= {s.stem for s in scripts}
    for script in scripts:
        usage = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
        assert usage.returncode == 0, usage.stderr
        assert "--quick" in usage.stdout and "--summary-json" in usage.stdout, script.name


def test_quick_run_prints_the_headlines_in_one_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_all.main(["--quick", "synth"]) == 0
    table = capsys.readouterr().out.split("=== summary (quick runs)\n")[1].splitlines()
    assert table[0].split() == ["benchmark", "metric", "value", "unit"]
    assert table[2].startswith("bench_synth") and "ok in" in table[2]
    assert [row.split()[-1] for row in table[3:]] == ["img/s", "img/s"]


def test_a_failing_benchmark_is_reported_and_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bench_broken.py").write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    assert run_all.main([]) == 1
    assert "bench_broken  FAILED (exit 3)" in capsys.readouterr().out

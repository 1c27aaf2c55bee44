"""Run every benchmark in this folder (``bench_*.py``) and print one summary table.

Each benchmark runs in its own process (its thread settings and memory stay its own), prints its
full report as it goes, and hands its headline numbers back through ``--summary-json``::

    .venv/bin/python benchmarks/run_all.py            # full runs: about a minute on 2 cores
    .venv/bin/python benchmarks/run_all.py --quick    # smoke runs of each: about 15 seconds
    .venv/bin/python benchmarks/run_all.py decode     # only bench_decode.py

Exit status 1 if any benchmark failed (for bench_decode: if the fast decoder disagreed with the
reference).

``bench_end_to_end.py`` compares LitePose-XS with an edge model (a YOLO-pose ONNX file, made as its
docstring says) when ``$LITEPOSE_EDGE_MODELS`` names such files (``:``-separated); without it, that part
is skipped.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from summary import Headline, read_summary

HERE = Path(__file__).resolve().parent


@dataclass
class Outcome:
    """What one benchmark script gave."""

    name: str
    returncode: int
    seconds: float
    headlines: list[Headline] = field(default_factory=list)


def discover(only: list[str]) -> list[Path]:
    """The ``bench_*.py`` scripts, sorted; only those whose name contains one of ``only`` if given."""
    scripts = sorted(HERE.glob("bench_*.py"))
    return [s for s in scripts if not only or any(word in s.stem for word in only)]


def run_benchmark(script: Path, quick: bool, workdir: Path) -> Outcome:
    summary_path = workdir / f"{script.stem}.json"
    command = [sys.executable, str(script), "--summary-json", str(summary_path)] + (["--quick"] if quick else [])
    print(f"\n=== {script.name}{' --quick' if quick else ''}", flush=True)
    start = time.perf_counter()
    returncode = subprocess.run(command, check=False).returncode
    seconds = time.perf_counter() - start
    headlines = read_summary(summary_path) if summary_path.is_file() else []
    return Outcome(script.stem, returncode, seconds, headlines)


def format_table(outcomes: list[Outcome]) -> str:
    rows = [("benchmark", "metric", "value", "unit")]
    for o in outcomes:
        status = "ok" if o.returncode == 0 else f"FAILED (exit {o.returncode})"
        rows.append((o.name, f"{status} in {o.seconds:.0f} s", "", ""))
        rows += [("", h.metric, f"{h.value:,.2f}", h.unit) for h in o.headlines]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]

    def line(row: tuple[str, str, str, str]) -> str:
        name, metric, value, unit = row
        return f"{name:<{widths[0]}}  {metric:<{widths[1]}}  {value:>{widths[2]}}  {unit}".rstrip()

    lines = [line(row) for row in rows]
    return "\n".join([lines[0], "-" * max(map(len, lines)), *lines[1:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", metavar="NAME", help="run only the benchmarks whose name contains NAME")
    parser.add_argument("--quick", action="store_true", help="each benchmark's smoke run (--quick)")
    args = parser.parse_args(argv)
    scripts = discover(args.only)
    if not scripts:
        parser.error(f"no benchmark matches {args.only}")
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = [run_benchmark(script, args.quick, Path(tmp)) for script in scripts]
    print(f"\n=== summary{' (quick runs)' if args.quick else ''}")
    print(format_table(outcomes))
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

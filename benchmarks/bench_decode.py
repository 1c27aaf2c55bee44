"""Time the decoder's two backends (numba, NumPy) against the loop reference on realistic crowd maps.

All three decode the same deterministic maps (``synthetic_crowd_maps``: 30 people on 512×512, COCO's
17 joints, 2 tag channels as under flip test, adjust + refine); the script checks that they return
identical people, coordinates and scores, prints the times side by side with their ratios, and the
issue's targets as pass/fail lines (numba: a median of at most 10 ms, at least 150× the reference)::

    .venv/bin/python benchmarks/bench_decode.py            # 3 crowds at 512x512
    .venv/bin/python benchmarks/bench_decode.py --quick    # one small crowd, a few seconds

The reference (``reference_decode`` in tests/decoding/reference_parser.py, the tests' oracle) restates
the official ``HeatmapParser.parse`` with its loops, its per-person dense refine and the plain-Python
``munkres`` package, so its time is what the official algorithm costs on a CPU. Times are medians of
``--repeat`` runs (the reference runs once per crowd); ``cpu ms`` is the numba run's process time,
which other jobs sharing the cores inflate less than the wall time. Without numba (the ``fast`` extra)
only the NumPy path is timed. Exit status 1 if any backend disagrees with the reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy

from litepose.decoding.grouping import decode, numba_available

# The loop reference is a test oracle: it lives with the tests, not in the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "decoding"))
from reference_parser import reference_decode, synthetic_crowd_maps

from summary import Headline, add_summary_option, write_summary

TARGET_MS = 10.0  # the targets for the compiled decoder on these maps
TARGET_SPEEDUP = 150.0


def _timed(fn: Callable[[], tuple[np.ndarray, np.ndarray]], repeat: int
           ) -> tuple[list[float], list[float], tuple[np.ndarray, np.ndarray]]:
    """Wall and process seconds of ``repeat`` runs, and the last result."""
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu, result


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    return a[0].shape == b[0].shape and np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 256x256 crowd (a smoke run)")
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--size", type=int, default=512, help="map height and width")
    parser.add_argument("--joints", type=int, default=17)
    parser.add_argument("--tag-dim", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="number of different crowds")
    parser.add_argument("--repeat", type=int, default=21, help="numba runs per crowd (the median is kept)")
    parser.add_argument("--numpy-repeat", type=int, default=5, help="NumPy runs per crowd (the median is kept)")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.seeds, args.repeat, args.numpy_repeat = 256, 1, 5, 3

    has_numba = numba_available()
    numba_version = ""
    if has_numba:
        import numba

        numba_version = f"  numba {numba.__version__}"
    print(f"python {platform.python_version()}  numpy {np.__version__}  scipy {scipy.__version__}{numba_version}  "
          f"cpus {os.cpu_count()}  {platform.processor() or platform.machine()}")
    print(f"maps: {args.people} people, {args.joints} joints, {args.size}x{args.size}, L={args.tag_dim}; "
          f"medians of {args.repeat} numba / {args.numpy_repeat} NumPy runs")
    crowds = [synthetic_crowd_maps(args.people, args.size, args.size, num_joints=args.joints, tag_dim=args.tag_dim,
                                   seed=seed)[:2] for seed in range(args.seeds)]
    if has_numba:
        start = time.perf_counter()
        decode(*crowds[0], backend="numba")
        print(f"numba: first call {time.perf_counter() - start:.2f} s (loads the cached kernels, or compiles them "
              f"once: ~10-20 s of CPU)")
    else:
        print("numba is not installed (pip install 'litepose[fast]'): timing the NumPy path only")
    header = (f"{'seed':>4} {'people':>6} {'reference s':>12} {'numpy ms':>9} {'numba ms':>9} {'cpu ms':>7} "
              f"{'ref/numba':>10} {'numpy/numba':>12}  identical")
    print(header)
    print("-" * len(header))
    all_same = True
    numba_runs: list[float] = []
    numba_cpu: list[float] = []
    numpy_medians, numba_medians, ref_ratios, numpy_ratios, ref_times = [], [], [], [], []
    for seed, (heatmaps, tags) in enumerate(crowds):
        ref_wall, _, ref = _timed(lambda h=heatmaps, t=tags: reference_decode(h, t), 1)
        numpy_wall, _, numpy_result = _timed(lambda h=heatmaps, t=tags: decode(h, t, backend="numpy"),
                                             args.numpy_repeat)
        same = _same(numpy_result, ref)
        ref_times.append(ref_wall[0])
        numpy_medians.append(statistics.median(numpy_wall))
        row = (f"{seed:>4} {ref[0].shape[0]:>6} {ref_wall[0]:>12.2f} {numpy_medians[-1] * 1e3:>9.1f} ")
        if has_numba:
            wall, cpu, numba_result = _timed(lambda h=heatmaps, t=tags: decode(h, t, backend="numba"), args.repeat)
            same = same and _same(numba_result, ref)
            numba_runs += wall
            numba_cpu += cpu
            numba_medians.append(statistics.median(wall))
            ref_ratios.append(ref_wall[0] / numba_medians[-1])
            numpy_ratios.append(numpy_medians[-1] / numba_medians[-1])
            row += (f"{numba_medians[-1] * 1e3:>9.2f} {statistics.median(cpu) * 1e3:>7.2f} {ref_ratios[-1]:>9.0f}x "
                    f"{numpy_ratios[-1]:>11.1f}x")
        else:
            row += f"{'-':>9} {'-':>7} {ref_wall[0] / numpy_medians[-1]:>9.0f}x {'-':>12}"
        all_same &= same
        print(f"{row}  {'yes' if same else 'NO'}")
    print("-" * len(header))
    crowd = f"{args.people} people on {args.size}x{args.size}"
    numpy_ms = statistics.median(numpy_medians) * 1e3
    numpy_speedup = statistics.median(r / n for r, n in zip(ref_times, numpy_medians, strict=True))
    print(f"numpy: median {numpy_ms:.1f} ms, {numpy_speedup:.0f}x the reference (median over crowds)")
    headlines = [Headline(f"decode numpy, {crowd} (median)", numpy_ms, "ms")]
    if has_numba:
        numba_ms = statistics.median(numba_runs) * 1e3
        speedup = statistics.median(ref_ratios)
        print(f"numba: median {numba_ms:.2f} ms (cpu {statistics.median(numba_cpu) * 1e3:.2f} ms, best "
              f"{min(numba_runs) * 1e3:.2f} ms), {speedup:.0f}x the reference, "
              f"{statistics.median(numpy_ratios):.1f}x the NumPy path (medians over crowds)")
        print(f"target: numba median <= {TARGET_MS:.0f} ms: {'PASS' if numba_ms <= TARGET_MS else 'FAIL'} "
              f"({numba_ms:.2f} ms)")
        print(f"target: numba >= {TARGET_SPEEDUP:.0f}x the reference: "
              f"{'PASS' if speedup >= TARGET_SPEEDUP else 'FAIL'} ({speedup:.0f}x)")
        headlines = [
            Headline(f"decode numba, {crowd} (median)", numba_ms, "ms"),
            *headlines,
            Headline(f"speed-up of numba over the loop reference, {crowd} (median)", speedup, "x"),
            Headline(f"speed-up of numba over numpy, {crowd} (median)", statistics.median(numpy_ratios), "x"),
        ]
    else:
        headlines.append(Headline(f"speed-up of numpy over the loop reference, {crowd} (median)", numpy_speedup, "x"))
    print(f"results {'identical' if all_same else 'DIFFERENT'}")
    write_summary(args.summary_json, headlines)
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Time the vectorised decoder against the loop reference on realistic crowd maps.

Both decode the same deterministic maps (``synthetic_crowd_maps``: 30 people on 512×512, COCO's 17
joints, 2 tag channels as under flip test); the script checks that they return identical people,
coordinates and scores, and prints the speed-up::

    .venv/bin/python benchmarks/bench_decode.py            # 3 crowds at 512x512
    .venv/bin/python benchmarks/bench_decode.py --quick    # one small crowd, a few seconds

The reference (``reference_decode`` in tests/decoding/reference_parser.py, the tests' oracle) restates
the official ``HeatmapParser.parse`` with its loops, its per-person dense refine and the plain-Python
``munkres`` package, so its time is what the official algorithm costs on a CPU. Exit status 1 if the
two disagree.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy

from litepose.decoding.grouping import decode

# The loop reference is a test oracle: it lives with the tests, not in the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "decoding"))
from reference_parser import reference_decode, synthetic_crowd_maps

from summary import Headline, add_summary_option, write_summary


def _best_time(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one 256x256 crowd (a smoke run)")
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--size", type=int, default=512, help="map height and width")
    parser.add_argument("--joints", type=int, default=17)
    parser.add_argument("--tag-dim", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="number of different crowds")
    parser.add_argument("--repeat", type=int, default=5, help="runs of the fast decoder per crowd (best kept)")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.seeds, args.repeat = 256, 1, 3

    print(f"python {platform.python_version()}  numpy {np.__version__}  scipy {scipy.__version__}  "
          f"cpus {os.cpu_count()}  {platform.processor() or platform.machine()}")
    print(f"maps: {args.people} people, {args.joints} joints, {args.size}x{args.size}, L={args.tag_dim}")
    header = (f"{'seed':>4} {'people':>6} {'reference s':>12} {'fast ms':>9} {'scipy ms':>9} "
              f"{'speed-up':>9}  identical")
    print(header)
    print("-" * len(header))
    ratios, ref_total, fast_total, all_same = [], 0.0, 0.0, True
    for seed in range(args.seeds):
        heatmaps, tags, _ = synthetic_crowd_maps(args.people, args.size, args.size, num_joints=args.joints,
                                                 tag_dim=args.tag_dim, seed=seed)
        ref_time, (ref_kp, ref_sc) = _best_time(lambda h=heatmaps, t=tags: reference_decode(h, t), 1)
        fast_time, (kp, sc) = _best_time(lambda h=heatmaps, t=tags: decode(h, t), args.repeat)
        scipy_time, _ = _best_time(lambda h=heatmaps, t=tags: decode(h, t, assignment="scipy"), args.repeat)
        same = kp.shape == ref_kp.shape and np.array_equal(kp, ref_kp) and np.array_equal(sc, ref_sc)
        all_same &= same
        ratios.append(ref_time / fast_time)
        ref_total += ref_time
        fast_total += fast_time
        print(f"{seed:>4} {kp.shape[0]:>6} {ref_time:>12.2f} {fast_time * 1e3:>9.1f} {scipy_time * 1e3:>9.1f} "
              f"{ref_time / fast_time:>8.1f}x  {'yes' if same else 'NO'}")
    print("-" * len(header))
    print(f"speed-up: median {statistics.median(ratios):.1f}x, total {ref_total / fast_total:.1f}x "
          f"(reference {ref_total:.2f} s, fast {fast_total * 1e3:.0f} ms); "
          f"results {'identical' if all_same else 'DIFFERENT'}")
    crowd = f"{args.people} people on {args.size}x{args.size}"
    write_summary(args.summary_json, [
        Headline(f"decode, {crowd} (best of {args.repeat}, mean over crowds)", fast_total / args.seeds * 1e3, "ms"),
        Headline(f"speed-up over the loop reference, {crowd} (median)", statistics.median(ratios), "x"),
    ])
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())

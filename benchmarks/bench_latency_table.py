"""How well a per-piece latency lookup table predicts whole-network latency, side by side.

For each backend: build (or load) a :class:`~litepose.export.latency_table.LatencyTable` of a search
space on this machine, then measure 20 random sub-networks of the space whole and print, for each, the
table's prediction next to the measured median, and the mean and max relative error (target: mean
|error| <= 10 %)::

    .venv/bin/python benchmarks/bench_latency_table.py                      # official space, torch + onnxruntime
    .venv/bin/python benchmarks/bench_latency_table.py --backends torch --table-dir tables/
    .venv/bin/python benchmarks/bench_latency_table.py --quick              # a tiny space, a few seconds

With ``--table-dir DIR`` the table ``DIR/<space>-<backend>-j<joints>.json`` is loaded if present,
otherwise built and saved there. Timings on a shared machine are noisy: medians of many runs are used,
and the table's build and the networks' measurements happen minutes apart.
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

from litepose.export.latency import measure_latency
from litepose.export.latency_table import LatencyTable
from litepose.export.runners import BACKENDS
from litepose.export.timing import LatencyResult, default_threads, host_id
from litepose.models.litepose import LitePose
from litepose.models.space import SUPERNET_ARCH, SearchSpace, get_search_space
from summary import Headline, add_summary_option, write_summary

# --quick: the supernet's maximum at one small resolution and two widths (about 60 pieces).
QUICK_SPACE = SearchSpace("quick", (128,), (1.0, 0.5), SUPERNET_ARCH)


def table_for(space: SearchSpace, backend: str, joints: int, threads: int, table_dir: Path | None,
              quick: bool) -> LatencyTable:
    path = table_dir / f"{space.name}-{backend}-j{joints}.json" if table_dir else None
    if path is not None and path.is_file():
        table = LatencyTable.load(path, backend=backend, space=space, num_keypoints=joints, threads=threads)
        print(f"loaded {path} (built in {table.build_seconds:.0f} s on {table.host})")
        return table
    options = {"repeats": 5, "budget_s": 0.02, "rounds": 1, "calibration": 2, "decode_people": (0, 5)} if quick else {}
    table = LatencyTable.build(space, backend, joints, threads=threads, **options)
    calibration = ", ".join(f"{c['measured_ms']:.1f} vs {c['pieces_ms']:.1f}" for c in table.calibration)
    print(f"built {len(table.entries)} entries in {table.build_seconds:.0f} s; overhead {table.overhead_ms:+.2f} ms "
          f"(calibration networks, measured vs sum of pieces in ms: {calibration})")
    if path is not None:
        table.save(path)
        print(f"saved {path}")
    return table


def print_decode(table: LatencyTable) -> None:
    """The table's decode times: input sides down, people across."""
    if not table.decode:
        return
    people = sorted({n for row in table.decode.values() for n in row})
    print(f"decode ms (synthetic crowds, {table.num_keypoints} joints, adjust + refine, median)")
    print("  input" + "".join(f"{n:>8}" for n in people) + "  people")
    for resolution, row in sorted(table.decode.items()):
        print(f"  {resolution:>5}" + "".join(f"{row.get(n, float('nan')):>8.1f}" for n in people))


def compare(table: LatencyTable, space: SearchSpace, backend: str, joints: int, threads: int, networks: int,
            seed: int, repeats: int, rounds: int) -> list[float]:
    """Print predicted vs measured for ``networks`` random sub-networks; return the relative errors.

    Each network is measured whole in ``rounds`` passes over all of them (minutes apart); its latency is
    the lowest of its medians, as the table's entries are (load from other processes only adds time).
    """
    rng = np.random.default_rng(seed)
    specs = [space.sample(rng) for _ in range(networks)]
    results: list[list[LatencyResult]] = [[] for _ in specs]
    for _ in range(rounds):
        for spec, row in zip(specs, results, strict=True):
            row.append(measure_latency(LitePose(spec, joints), spec.input_size, backend=backend, threads=threads,
                                       warmup=3, repeats=repeats, budget_s=3.0))
    header = (f"{'sub-network':<36}{'predicted ms':>13}{'measured ms':>13}  {'(median per round)':<22}{'error':>8}")
    print(header)
    print("-" * len(header))
    errors, contended = [], 0
    for spec, row in zip(specs, results, strict=True):
        kept = min(row, key=lambda r: r.median_ms)
        predicted = table.predict_ms(spec, joints)
        errors.append(predicted / kept.median_ms - 1)
        contended += kept.contended
        per_round = " / ".join(f"{r.median_ms:.1f}{'*' if r.contended else ''}" for r in row)
        print(f"{spec.name:<36}{predicted:>13.2f}{kept.median_ms:>13.2f}  {per_round:<22}{errors[-1] * 100:>+7.1f}%")
    print("-" * len(header))
    if contended:
        print(f"* measured while other processes competed for the CPU: {contended} of {networks} kept measurements")
    abs_errors = [abs(e) for e in errors]
    print(f"{backend}: mean |error| {statistics.mean(abs_errors) * 100:.1f} %, max {max(abs_errors) * 100:.1f} %, "
          f"mean signed {statistics.mean(errors) * 100:+.1f} % over {networks} sub-networks (target: mean <= 10 %)")
    return errors


def load_line(*, before: bool) -> str:
    """The 1-minute load average: timings are only meaningful on a quiet machine. Before a run it shows
    what else is running (BUSY above 0.5); after it, this run's own work is included."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "load average unknown"
    if not before:
        return f"load average {load:.2f} (this run included)"
    return f"load average {load:.2f} on {os.cpu_count()} cpus{' - BUSY: timings are unreliable' if load > 0.5 else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny space, torch only, 3 networks (a smoke run)")
    parser.add_argument("--space", default="official", help="official or paper-lms")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (torch,onnxruntime)")
    parser.add_argument("--joints", type=int, default=14)
    parser.add_argument("--threads", type=int, default=None, help="default: the cores this process may use")
    parser.add_argument("--networks", type=int, default=20, help="random sub-networks measured whole")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sub-networks")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per whole network and round (at most)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the networks (the lowest median is kept)")
    parser.add_argument("--table-dir", type=Path, default=None, help="load tables from / save them to this folder")
    add_summary_option(parser)
    args = parser.parse_args(argv)
    space = get_search_space(args.space)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.quick:
        space, backends, args.networks, args.repeats, args.rounds = QUICK_SPACE, ["torch"], 3, 10, 1
    threads = args.threads or default_threads()
    print(f"python {platform.python_version()}  cpus {os.cpu_count()}  threads {threads}  host {host_id()}")
    print(f"space {space.name}: resolutions {list(space.resolutions)}, width multipliers "
          f"{list(space.width_multipliers)}; {args.joints} joints")
    headlines = []
    for backend in backends:
        print(f"\n=== {backend} ({load_line(before=True)})")
        start = time.perf_counter()
        table = table_for(space, backend, args.joints, threads, args.table_dir, args.quick)
        if table.contended_entries:
            print(f"{len(table.contended_entries)} of {len(table.entries)} entries were measured while other "
                  "processes competed for the CPU")
        print_decode(table)
        errors = compare(table, space, backend, args.joints, threads, args.networks, args.seed, args.repeats,
                         args.rounds)
        print(f"{backend}: {time.perf_counter() - start:.0f} s in all; {load_line(before=False)}")
        abs_errors = [abs(e) * 100 for e in errors]
        headlines += [
            Headline(f"{backend}: table build time ({space.name} space, {len(table.entries)} entries)",
                     table.build_seconds, "s"),
            Headline(f"{backend}: table vs measured, mean |error| ({args.networks} random sub-networks)",
                     statistics.mean(abs_errors), "%"),
            Headline(f"{backend}: table vs measured, max |error|", max(abs_errors), "%"),
        ]
    write_summary(args.summary_json, headlines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

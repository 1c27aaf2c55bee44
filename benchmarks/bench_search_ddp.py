"""Search evaluation phase on 2 processes against 1: ``torchrun`` splitting of a generation's candidates.

Usage: ``.venv/bin/python benchmarks/bench_search_ddp.py [--candidates 16] [--resolution 192] [--repeats 3]
[--trials 3]`` (``--quick``: 4 candidates at 64 pixels, one forward each, one trial).

One generation's evaluations run through :class:`litepose.search.sharding.ShardedEvaluator`, the code a
``torchrun -m litepose search`` uses: each process evaluates ``archs[rank::world]`` and one gloo
all-gather hands every process all accuracies. The evaluator is CPU-bound like the real one (which
recalibrates BatchNorm and runs the validation images through the sub-network): it builds each
sub-network and runs ``--repeats`` forward passes at the candidate's input size on one thread, and
returns a number derived from the outputs. The same candidates are evaluated by 1 process and by 2
(``torchrun --nproc_per_node 2``, gloo); the results must be identical, and the target is a ≥ 1.7×
faster evaluation phase with 2 processes where 2 cores are free.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from summary import Headline, add_summary_option, write_summary

HERE = Path(__file__).resolve()


def candidates(count: int, resolution: int) -> list:
    """``count`` sub-networks of the official widths at one input size (a fixed seed)."""
    import numpy as np

    from litepose.models.space import SearchSpace, get_search_space

    base = get_search_space("official")
    space = SearchSpace("bench", (resolution,), base.width_multipliers, base.maximum)
    rng = np.random.default_rng(0)
    return [space.sample(rng) for _ in range(count)]


class ForwardEvaluator:
    """A CPU-bound stand-in for the supernet evaluator: forward passes of each sub-network, one thread."""

    def __init__(self, repeats: int) -> None:
        self.repeats = repeats

    def __call__(self, archs: Sequence) -> list[float]:
        import torch

        from litepose.models.litepose import LitePose

        scores = []
        for arch in archs:
            torch.manual_seed(0)
            net = LitePose(arch, 14).eval()
            x = torch.linspace(0, 1, 3 * arch.input_size ** 2).reshape(1, 3, arch.input_size, arch.input_size)
            with torch.inference_mode():
                for _ in range(self.repeats):
                    out = net(x)
            scores.append(float(out.stride4.abs().mean()))
        return scores


def worker(args: argparse.Namespace) -> None:
    """One process of the timed phase (under torchrun for 2): rank 0 writes the best of ``--trials`` timings,
    each process's busy time in that trial (evaluating its share, before the gather) and the results."""
    import torch

    from litepose.search.sharding import ShardedEvaluator
    from litepose.training.distributed import all_gather_objects, barrier, cleanup, init_distributed

    torch.set_num_threads(1)
    info, _ = init_distributed("cpu")
    archs = candidates(args.candidates, args.resolution)
    forward = ForwardEvaluator(args.repeats)
    busy: list[float] = []

    def timed(batch: Sequence) -> list[float]:
        start = time.perf_counter()
        scores = forward(batch)
        busy.append(time.perf_counter() - start)
        return scores

    evaluate = ShardedEvaluator(timed, info.rank, info.world_size, all_gather_objects)
    ForwardEvaluator(1)(archs[:1])  # warm-up (imports, first-call allocations), not timed
    trials = []
    for _ in range(args.trials):
        barrier()
        start = time.perf_counter()
        scores = evaluate(archs)
        trials.append(time.perf_counter() - start)
    best = min(range(args.trials), key=trials.__getitem__)
    busy_all = all_gather_objects(busy[best])
    cleanup()
    if info.is_main:
        Path(args.worker).write_text(json.dumps({"seconds": trials[best], "busy": busy_all, "scores": scores}))


def run(processes: int, args: argparse.Namespace, out: Path) -> dict:
    result = out / f"world{processes}.json"
    common = [str(HERE), "--worker", str(result), "--candidates", str(args.candidates),
              "--resolution", str(args.resolution), "--repeats", str(args.repeats), "--trials", str(args.trials)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if processes == 1:
        cmd = [sys.executable, *common]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               *common]
    subprocess.run(cmd, env=env, check=True)
    return json.loads(result.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=16, help="candidates in the generation")
    parser.add_argument("--resolution", type=int, default=192, help="their input size (a multiple of 32)")
    parser.add_argument("--repeats", type=int, default=3, help="forward passes per candidate")
    parser.add_argument("--trials", type=int, default=3, help="timed runs of the phase (the fastest counts)")
    parser.add_argument("--quick", action="store_true",
                        help="4 candidates at 64 pixels, one forward, one trial (a smoke run)")
    parser.add_argument("--worker", metavar="RESULT_JSON", help=argparse.SUPPRESS)
    add_summary_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.candidates, args.resolution, args.repeats, args.trials = 4, 64, 1, 1
    if args.worker:
        worker(args)
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        one = run(1, args, Path(tmp))
        two = run(2, args, Path(tmp))
    if one["scores"] != two["scores"]:
        sys.exit("2 processes gave other accuracies than 1: the split or the gather is wrong")
    speedup = one["seconds"] / two["seconds"]
    note = "" if cores >= 2 else f" (only {cores} core(s) available: no speed-up expected)"
    print(f"evaluation phase, {args.candidates} candidates at {args.resolution} px, {args.repeats} forward(s) each:")
    busy = " + ".join(f"{b:.2f}" for b in two["busy"])
    print(f"  1 process  : {one['seconds']:7.2f} s (fastest of {args.trials})")
    print(f"  2 processes: {two['seconds']:7.2f} s   speed-up {speedup:.2f}x (target >= 1.7x){note}")
    print(f"  busy per process with 2: {busy} s (the rest: waiting for the slower share, the gather)")
    print("  accuracies identical: yes")
    write_summary(args.summary_json, [
        Headline(f"evaluation phase, 1 process ({args.candidates} candidates)", one["seconds"], "s"),
        Headline(f"evaluation phase, 2 processes ({args.candidates} candidates)", two["seconds"], "s"),
        Headline("speed-up 2 vs 1 processes (target >= 1.7)", speedup, "x"),
    ])


if __name__ == "__main__":
    main()

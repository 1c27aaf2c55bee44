"""``litepose experiment shrinking|kernel|fusion|single-branch [--data ...] [--minutes M] [--seeds N] [-o DIR]``.

Runs one of the paper's design-space experiments (:mod:`litepose.experiments`): each variant trained
under the same time budget for ``--seeds`` seeds (on synthetic crowds by default), scored with
pycocotools, profiled and timed, then ``results.md``/``.csv``/``.json`` and ``plot.png`` in the output
folder. Running the same command again continues a killed experiment with the runs not yet done.

Options and the output folder are checked before any work starts (one line, exit code 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run a design-space experiment of the paper (gradual shrinking, kernel size, fusion head, single branch)"

# litepose.experiments.design.EXPERIMENTS and REFERENCE_SIZE, spelt out so that `litepose --help` imports no
# model code (a test keeps them equal)
EXPERIMENTS = ("shrinking", "kernel", "fusion", "single-branch")
REFERENCE_SIZE = 512


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=EXPERIMENTS, help="which experiment")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR|YAML",
                        help="a folder with train/ and val/ (litepose synth layout) or a dataset YAML "
                             "(default: synthetic crowds drawn into OUT/data)")
    parser.add_argument("--config", type=Path, default=None, metavar="YAML",
                        help="training config to start from instead of the CPU recipe, e.g. "
                             "configs/crowdpose/litepose-xs.yaml on GPUs (its model section is replaced)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="training minutes of each run, the same for every variant (default: 50 minutes "
                             "spread over all runs)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="train each run for N epochs instead (equal work whatever else runs on the machine; "
                             "with --minutes too, whichever ends first)")
    parser.add_argument("--seeds", type=int, default=2, help="runs per variant, seeds 0..N-1 (default 2)")
    parser.add_argument("-o", "--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default: experiments/NAME); rerun to resume")
    parser.add_argument("--arch", default=None,
                        help="base LitePose of kernel and fusion (default: the paper's 0.5 LitePose)")
    parser.add_argument("--variants", default=None, metavar="KEY,KEY",
                        help="run only these variants (e.g. k3,k7); default: all")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a value of the training config (repeatable), e.g. --set data.input_size=128")
    parser.add_argument("--latency-size", type=int, default=REFERENCE_SIZE,
                        help=f"input side of the MACs and latency columns (default {REFERENCE_SIZE}, the paper's)")
    parser.add_argument("--latency-repeats", type=int, default=10, help="timed calls per latency (default 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the latency measurements (default: the cores this process may use)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from litepose.experiments.design import get_experiment
    from litepose.experiments.runner import ExperimentSettings, default_minutes, run_experiment

    only = [k.strip() for k in args.variants.split(",") if k.strip()] if args.variants is not None else None
    experiment = get_experiment(args.name, args.arch, only=only)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    minutes = args.minutes
    if minutes is None and args.epochs is None:
        minutes = default_minutes(experiment, args.seeds)
    settings = ExperimentSettings(minutes=minutes, epochs=args.epochs, seeds=args.seeds, data=args.data,
                                  config=args.config,
                                  overrides=tuple(args.overrides), latency_size=args.latency_size,
                                  latency_repeats=args.latency_repeats, latency_threads=args.threads,
                                  progress=not args.no_progress)
    out = args.out if args.out is not None else Path("experiments") / args.name
    report = run_experiment(experiment, out, settings)  # checks the inputs and -o before any work
    print((out / "results.md").read_text())
    print(f"table: {out / 'results.md'} (also .csv, .json); plot: {out / 'plot.png'}")
    return 0 if report["variants"] else 1

"""``litepose bench``: latency of models on a backend, or a per-piece latency table for a search space.

Two modes::

    litepose bench MODEL... [--input-size N] [--backend torch|onnxruntime] [--threads T] [--repeats R]
                            [--people 0,5,30] [--json]
    litepose bench --latency-table OUT.json [--space official|paper-lms|SPACE.json] [--backend ...]
                            [--joints 14|17] [--threads T] [--people 0,5,10,20,30]

The first prints each model's median forward latency (warm-up, then the median of ``--repeats``
timed runs with ``--threads`` pinned threads) and, with ``--people``, the decode time of that many
people at the model's input size. MODEL is a zoo name, an arch JSON file or a project checkpoint
(the weights do not change the time). The second measures a
:class:`~litepose.export.latency_table.LatencyTable` on this machine; copied to the machine that runs
the search, it predicts latency on this one (``litepose search --budget-ms``).

Options and the output file are checked before anything is measured; a bad one is one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from litepose.cli import CliError

HELP = "measure model latency on a backend, or build a per-block latency table for a search space"

BACKENDS = ("torch", "onnxruntime")  # litepose.export.runners.BACKENDS, without importing torch for --help


def _people_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated people counts, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"people counts must be >= 0, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="zoo names (litepose-xs|s|m|l), arch JSON files or project checkpoints")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="runtime to time (default: torch)")
    parser.add_argument("--threads", type=int, default=None, metavar="T",
                        help="intra-op threads (default: the cores this process may use)")
    parser.add_argument("--joints", type=int, choices=(14, 17), default=None,
                        help="joint count for zoo names, arch files and tables (default 14; a checkpoint has its own)")
    parser.add_argument("--people", type=_people_list, default=None, metavar="N,N,...",
                        help="also time decoding this many people (synthetic maps at the input size)")
    model = parser.add_argument_group("models")
    model.add_argument("--input-size", type=int, default=None, metavar="N",
                       help="square input side (default: each model's own)")
    model.add_argument("--repeats", type=int, default=30, metavar="R", help="timed runs per model (default 30)")
    model.add_argument("--warmup", type=int, default=5, metavar="W", help="untimed runs first (default 5)")
    model.add_argument("--json", action="store_true", help="print JSON instead of lines")
    table = parser.add_argument_group("latency table")
    table.add_argument("--latency-table", type=Path, default=None, metavar="OUT.json",
                       help="build a per-block latency table of --space on this machine and write it here")
    table.add_argument("--space", default="official", metavar="NAME|SPACE.json",
                       help="search space: official, paper-lms, or a JSON file (SearchSpace.to_dict)")


def _check_options(args: argparse.Namespace) -> None:
    if args.latency_table is not None and args.models:
        raise CliError("give either MODEL... or --latency-table OUT.json, not both")
    if args.latency_table is None and not args.models:
        raise CliError("nothing to measure: give MODEL... or --latency-table OUT.json")
    if args.threads is not None and args.threads < 1:
        raise CliError(f"--threads must be >= 1, got {args.threads}")
    if args.repeats < 1:
        raise CliError(f"--repeats must be >= 1, got {args.repeats}")
    if args.warmup < 0:
        raise CliError(f"--warmup must be >= 0, got {args.warmup}")
    if args.input_size is not None and (args.input_size <= 0 or args.input_size % 32):
        raise CliError(f"--input-size must be a positive multiple of 32, got {args.input_size}")


def _load_space(name: str) -> Any:
    from litepose.models.space import SEARCH_SPACES, SearchSpace

    if name in SEARCH_SPACES:
        return SEARCH_SPACES[name]
    path = Path(name)
    if not path.is_file():
        raise CliError(f"--space {name}: not a preset ({', '.join(SEARCH_SPACES)}) nor a JSON file")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CliError(f"--space {path}: not valid JSON ({err})") from None
    if not isinstance(raw, dict):
        raise CliError(f"--space {path}: expected a JSON object (SearchSpace.to_dict)")
    return SearchSpace.from_dict(raw, source=f"--space {path}")


def _load_model(name: str, joints: int | None) -> Any:
    """A LitePose from a zoo name, an arch JSON file or a project checkpoint."""
    from litepose.models.checkpoint import CheckpointError, load_checkpoint
    from litepose.models.zoo import create_model

    path = Path(name)
    if path.is_file() and path.suffix.lower() != ".json":
        try:
            model = load_checkpoint(path).model
        except CheckpointError as err:
            raise CliError("; ".join(line.strip() for line in str(err).splitlines() if line.strip())) from None
        if joints is not None and model.num_keypoints != joints:
            raise CliError(f"--joints {joints}: the checkpoint {path} predicts {model.num_keypoints} keypoints")
        return model
    return create_model(name, 14 if joints is None else joints)


def _bench_models(args: argparse.Namespace) -> int:

    from litepose.export.latency import measure_decode_ms, measure_latency

    rows = []
    for name in args.models:
        model = _load_model(name, args.joints)
        size = args.input_size or model.spec.input_size
        result = measure_latency(model, size, backend=args.backend, threads=args.threads, warmup=args.warmup,
                                 repeats=args.repeats)
        decode = {n: measure_decode_ms(size, n, model.num_keypoints) for n in (args.people or [])}
        rows.append({"model": name, "arch": model.spec.name, "input_size": size,
                     "num_keypoints": model.num_keypoints, "latency": result.to_dict(),
                     "decode_ms": {str(n): ms for n, ms in decode.items()}})
        if not args.json:
            print(f"{name}  {size}x{size}  {model.num_keypoints} joints  {result.describe()}")
            for n, ms in decode.items():
                print(f"  + decode {n} people: {ms:.2f} ms -> {result.median_ms + ms:.2f} ms image to people "
                      "(network + decode)")
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"host: {rows[0]['latency']['host']}" if rows else "", file=sys.stderr)
    return 0


def _build_table(args: argparse.Namespace) -> int:
    from litepose.export.latency_table import DECODE_PEOPLE, LatencyTable
    from litepose.io import check_output_file

    check_output_file(args.latency_table, option="--latency-table")
    space = _load_space(args.space)
    joints = 14 if args.joints is None else args.joints
    table = LatencyTable.build(space, args.backend, joints, threads=args.threads,
                               decode_people=args.people if args.people is not None else DECODE_PEOPLE)
    table.save(args.latency_table)
    print(f"wrote {args.latency_table}: {len(table.entries)} entries for the {space.name} space, {joints} joints, "
          f"{table.backend} with {table.threads} threads, overhead {table.overhead_ms:+.2f} ms, "
          f"built in {table.build_seconds:.0f} s on {table.host}")
    if table.contended_entries:
        print(f"warning: {len(table.contended_entries)} of {len(table.entries)} entries were measured while other "
              "processes competed for the CPU and may be too high; rebuild on a quiet machine", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    if args.latency_table is not None:
        return _build_table(args)
    return _bench_models(args)

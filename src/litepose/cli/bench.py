"""``litepose bench``: latency of models on a backend, or a per-piece latency table for a search space.

Two modes::

    litepose bench MODEL... [--input-size N] [--backend torch|onnxruntime|openvino] [--threads T]
                            [--repeats R] [--people 0,5,30] [--json]
    litepose bench --latency-table OUT.json [--space official|paper-lms|SPACE.json] [--backend torch|onnxruntime]
                            [--joints 14|17] [--threads T] [--people 0,5,10,20,30]

The first prints each model's median forward latency (warm-up, then the median of ``--repeats``
timed runs with ``--threads`` pinned threads) and, with ``--people``, the decode time of that many
people at the model's input size. MODEL is a zoo name, an arch JSON file or a project checkpoint
(the weights do not change the time), or an exported file (``.onnx``, ``.xml``), timed on its runtime
backend exactly as :class:`~litepose.Predictor` runs it (that path needs no PyTorch). ``--backend``
defaults to torch for torch models and to the file's runtime for exported files; a torch model on
``openvino`` is converted in memory as the Predictor does (on ``onnxruntime`` it is timed by the
latency runners, which latency tables use too). The second measures a
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

BACKENDS = ("torch", "onnxruntime", "openvino")  # litepose.runtime.backends.BACKENDS
TABLE_BACKENDS = ("torch", "onnxruntime")  # litepose.export.runners.BACKENDS, without importing torch for --help
EXPORTED_SUFFIXES = (".onnx", ".xml")


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
                        help="zoo names (litepose-xs|s|m|l), arch JSON files, project checkpoints or exported "
                             "files (.onnx, .xml)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="runtime to time (default: torch, or the exported file's own)")
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
    if args.latency_table is not None and args.backend not in (None, *TABLE_BACKENDS):
        raise CliError(f"--backend {args.backend}: latency tables are measured on {' or '.join(TABLE_BACKENDS)}")
    for name in args.models:
        suffix = Path(name).suffix.lower()
        wrong = args.backend == "torch" or (suffix == ".xml" and args.backend == "onnxruntime")
        if suffix in EXPORTED_SUFFIXES and wrong:
            raise CliError(f"--backend {args.backend}: {name} runs on "
                           f"{'onnxruntime or openvino' if suffix == '.onnx' else 'openvino'}")


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


def _time_backend(backend: Any, input_size: int | None, args: argparse.Namespace) -> tuple[Any, tuple[int, int]]:
    """The median latency of ``backend.run`` on one random image (batch 1), as measure_latency times a module."""
    import numpy as np

    from litepose.export.timing import CpuWait, LatencyResult, default_threads, host_id, time_calls

    fixed_h, fixed_w = backend.input_size
    side = input_size or backend.metadata.test_size
    h, w = fixed_h or side, fixed_w or side
    if input_size is not None and (fixed_h, fixed_w) != (None, None) and (h, w) != (input_size, input_size):
        raise CliError(f"--input-size {input_size}: {backend.source} takes a fixed {fixed_w}x{fixed_h} input")
    x = np.random.default_rng(0).standard_normal((1, 3, h, w)).astype(np.float32)
    threads = args.threads if args.threads is not None else default_threads()
    with CpuWait.measure() as wait:
        times = time_calls(lambda: backend.run(x), warmup=args.warmup, repeats=args.repeats)
    result = LatencyResult.from_times(times, warmup=args.warmup, backend=backend.name, threads=threads,
                                      input_shapes=((1, 3, h, w),),
                                      settings={"precision": backend.metadata.precision, "source": "runtime backend"},
                                      host=host_id(), cpu_wait=wait.share)
    return result, (h, w)


def _bench_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Time one MODEL; the row printed and put in the JSON."""
    threads = args.threads if args.threads is not None else None
    if Path(name).suffix.lower() in EXPORTED_SUFFIXES:
        from litepose.runtime.backends import open_backend

        if threads is None:
            from litepose.export.timing import default_threads

            threads = default_threads()
        backend = open_backend(name, args.backend, threads=threads)
        if args.joints is not None and args.joints != backend.metadata.num_keypoints:
            raise CliError(f"--joints {args.joints}: {name} predicts {backend.metadata.num_keypoints} keypoints")
        result, (h, w) = _time_backend(backend, args.input_size, args)
        arch = (backend.metadata.arch or {}).get("name", backend.metadata.family)
        return {"model": name, "arch": arch, "input_size": h if h == w else [h, w],
                "num_keypoints": backend.metadata.num_keypoints, "latency": result}
    model = _load_model(name, args.joints)
    size = args.input_size or model.spec.input_size
    backend_name = args.backend or "torch"
    if backend_name == "openvino":
        from litepose.export.timing import default_threads
        from litepose.runtime.backends import module_metadata
        from litepose.runtime.from_torch import module_backend
        from litepose.skeleton import get_skeleton

        meta = module_metadata(model, get_skeleton(model.num_keypoints), test_size=size)
        runtime = module_backend(model, meta, "openvino", threads=threads or default_threads())
        result, _ = _time_backend(runtime, size, args)
    else:
        from litepose.export.latency import measure_latency

        result = measure_latency(model, size, backend=backend_name, threads=threads, warmup=args.warmup,
                                 repeats=args.repeats)
    return {"model": name, "arch": model.spec.name, "input_size": size, "num_keypoints": model.num_keypoints,
            "latency": result}


def _bench_models(args: argparse.Namespace) -> int:
    rows = []
    for name in args.models:
        row = _bench_one(name, args)
        result = row["latency"]
        size = row["input_size"]
        side = size if isinstance(size, int) else max(size)
        decode = {n: _decode_ms(side, n, row["num_keypoints"]) for n in (args.people or [])}
        rows.append({**row, "latency": result.to_dict(), "decode_ms": {str(n): ms for n, ms in decode.items()}})
        if not args.json:
            shown = f"{size}x{size}" if isinstance(size, int) else f"{size[1]}x{size[0]}"
            print(f"{name}  {shown}  {row['num_keypoints']} joints  {result.describe()}")
            for n, ms in decode.items():
                print(f"  + decode {n} people: {ms:.2f} ms -> {result.median_ms + ms:.2f} ms image to people "
                      "(network + decode)")
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"host: {rows[0]['latency']['host']}" if rows else "", file=sys.stderr)
    return 0


def _decode_ms(input_size: int, people: int, joints: int) -> float:
    from litepose.export.latency import measure_decode_ms

    return float(measure_decode_ms(input_size, people, joints))


def _build_table(args: argparse.Namespace) -> int:
    from litepose.export.latency_table import DECODE_PEOPLE, LatencyTable
    from litepose.io import check_output_file

    check_output_file(args.latency_table, option="--latency-table")
    space = _load_space(args.space)
    joints = 14 if args.joints is None else args.joints
    table = LatencyTable.build(space, args.backend or "torch", joints, threads=args.threads,
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

"""``litepose bench``: image-to-people latency of models per backend and precision, or a per-piece latency table.

Two modes::

    litepose bench MODEL... [--backends torch,onnxruntime,openvino] [--precision fp32,bf16,int8] [--input-size N]
                            [--people 0,5,10,30] [--threads T] [--flip] [--image-size WxH] [--warmup W]
                            [--repeats R] [--calib DIR] [--json] [--plot PNG]
    litepose bench --latency-table OUT.json [--space official|paper-lms|SPACE.json]
                            [--backend torch|onnxruntime|openvino] [--joints 14|17] [--threads T]
                            [--people 0,5,10,20,30]

The first measures every **cell** (MODEL x backend x precision) as :mod:`litepose.export.bench` describes:
params, true and paper MACs, the latency of ``Predictor.predict_keypoints`` (image -> people in original
pixels) split into preprocess / network / maps / decode (p50 and p90 after ``--warmup`` untimed calls,
``--repeats`` timed ones, ``--threads`` pinned threads), throughput, and the decode time and image-to-people
time as a function of the number of people (synthetic crowd maps). It prints tables, or with ``--json`` the
report (schema ``litepose-bench``, version 1, documented in :mod:`litepose.export.bench`); ``--plot`` draws
it to a PNG.

MODEL is a zoo name (random weights: latency only), an arch JSON file, a project checkpoint, or an exported
file (``.onnx``, ``.xml``), whose metadata says what it is (architecture, skeleton, input size, precision).

* ``--backends`` (default: ``torch`` for torch models, the file's own runtime for exported files): a torch
  model on ``onnxruntime`` or ``openvino`` is exported for the cell with :func:`litepose.export.export_model`
  at a fixed ``--input-size`` into a temporary folder (BatchNorm folded, verified, as ``litepose export``
  does); an ``.onnx`` file also runs on ``openvino``, an ``.xml`` file on ``openvino`` only.
* ``--precision`` (default ``fp32``; an exported file: its own): torch runs fp32; onnxruntime fp32 and
  int8; OpenVINO fp32, fp16, bf16 (CPUs with bf16) and int8. int8 of a torch model is calibrated on
  ``--calib DIR`` images, else on 16 synthetic images (timing only). An exported file is measured in its own
  precision; with ``--precision`` given it must be one of them.
* **Unsupported cells**: when one cell is requested and it cannot run (``--precision bf16`` on onnxruntime,
  bf16 on a CPU without it, an ``.xml`` file on onnxruntime...), the command stops with one line naming
  it. When several are requested, such cells are skipped, each with a note in the tables and the JSON
  (``"status": "skipped"``); if none can run, the first reason is the error.

Options, models (names and files exist; exported files are opened to read what they are), cells and the
``--plot`` file are checked before anything is exported or measured; a bad one is one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litepose.cli import CliError

HELP = "measure image-to-people latency of models per backend and precision, or build a per-block latency table"

BACKENDS = ("torch", "onnxruntime", "openvino")  # litepose.runtime.backends.BACKENDS
PRECISIONS = ("fp32", "fp16", "bf16", "int8")  # litepose.runtime.metadata.PRECISIONS
EXPORTED_SUFFIXES = {".onnx": "onnxruntime", ".xml": "openvino"}
SYNTHETIC_CALIBRATION_IMAGES = 16


def _people_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"--people: expected comma-separated people counts, got {text!r}") from None
    if min(values, default=0) < 0:
        raise CliError(f"--people: people counts must be >= 0, got {text!r}")
    return values


def _names(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    wrong = [v for v in values if v not in allowed]
    if not values or wrong:
        raise CliError(f"{option} {text}: expected comma-separated names from {', '.join(allowed)}")
    return list(dict.fromkeys(values))


def _image_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--image-size: expected WIDTHxHEIGHT (e.g. 640x480), got {text!r}") from None
    if not (32 <= width <= 8192 and 32 <= height <= 8192):
        raise CliError(f"--image-size: sides must be within 32..8192, got {text!r}")
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="zoo names (litepose-xs|s|m|l...), arch JSON files, project checkpoints or exported "
                             "files (.onnx, .xml)")
    parser.add_argument("--backends", "--backend", dest="backends", default=None, metavar="B,B,...",
                        help="torch, onnxruntime, openvino (default: torch, or the exported file's own runtime)")
    parser.add_argument("--threads", type=int, default=None, metavar="T",
                        help="intra-op threads (default: the cores this process may use)")
    parser.add_argument("--joints", type=int, choices=(14, 17), default=None,
                        help="joint count for zoo names, arch files and tables (default 14; a checkpoint or an "
                             "exported file has its own)")
    parser.add_argument("--people", default=None, metavar="N,N,...",
                        help="people counts decode is timed at (default 0,5,10,30; tables: 0,5,10,20,30)")
    model = parser.add_argument_group("models")
    model.add_argument("--precision", default=None, metavar="P,P,...",
                       help="fp32, fp16, bf16, int8 (default fp32; an exported file: its own)")
    model.add_argument("--input-size", type=int, default=None, metavar="N",
                       help="square network input side, a multiple of 32 (default: each model's own)")
    model.add_argument("--image-size", default=None, metavar="WxH",
                       help="size of the synthetic image (default: square, twice the input size)")
    model.add_argument("--flip", action="store_true", help="with the flip test (default off: the fast path)")
    model.add_argument("--repeats", type=int, default=30, metavar="R", help="timed runs per cell (default 30)")
    model.add_argument("--warmup", type=int, default=5, metavar="W", help="untimed runs first (default 5)")
    model.add_argument("--calib", type=Path, default=None, metavar="DIR",
                       help="calibration images for int8 cells of torch models (default: 16 synthetic images)")
    model.add_argument("--json", action="store_true", help="print the JSON report instead of tables")
    model.add_argument("--plot", type=Path, default=None, metavar="PNG",
                       help="draw the stage split and latency against people to this PNG")
    table = parser.add_argument_group("latency table")
    table.add_argument("--latency-table", type=Path, default=None, metavar="OUT.json",
                       help="build a per-block latency table of --space on this machine and write it here")
    table.add_argument("--space", default="official", metavar="NAME|SPACE.json",
                       help="search space: official, paper-lms, or a JSON file (SearchSpace.to_dict)")


@dataclass
class Cell:
    """One model on one backend in one precision, and why it cannot run (``note``) if it cannot."""

    model: str
    kind: str  # zoo | arch | checkpoint | exported
    backend: str
    precision: str
    note: str | None = None


def _check_options(args: argparse.Namespace) -> None:
    """Check every option (parsing the lists in place) before anything is loaded; a bad one is a CliError."""
    if isinstance(args.backends, str):
        args.backends = _names(args.backends, BACKENDS, "--backends")
    if isinstance(args.precision, str):
        args.precision = _names(args.precision, PRECISIONS, "--precision")
    if isinstance(args.people, str):
        args.people = _people_list(args.people)
    if isinstance(args.image_size, str):
        args.image_size = _image_size(args.image_size)
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
    if args.latency_table is not None:
        backends = args.backends or []
        if len(backends) > 1:  # BACKENDS are litepose.export.runners.BACKENDS too
            raise CliError(f"--backend {','.join(backends)}: a latency table is measured on one backend at a time")
        for option, value in (("--precision", args.precision), ("--plot", args.plot), ("--calib", args.calib),
                              ("--image-size", args.image_size)):
            if value is not None:
                raise CliError(f"{option} applies to MODEL... runs, not to --latency-table")
        return
    if args.plot is not None:
        from litepose.io import check_output_file

        if args.plot.suffix.lower() != ".png":
            raise CliError(f"--plot {args.plot}: the plot is a PNG file (.png)")
        check_output_file(args.plot, inputs=[Path(m) for m in args.models], option="--plot")
    if args.calib is not None and not args.calib.is_dir():
        raise CliError(f"--calib {args.calib}: not a folder")


# --------------------------------------------------------------------------------------------
# Which cells: models, backends, precisions (no model is loaded here; exported files are opened)
# --------------------------------------------------------------------------------------------

def _model_kind(name: str) -> str:
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix in EXPORTED_SUFFIXES:
        if not path.is_file():
            raise CliError(f"{name}: no such file")
        return "exported"
    if path.is_file():
        return "arch" if suffix == ".json" else "checkpoint"
    if suffix or "/" in name:
        raise CliError(f"{name}: does not exist (MODEL is a zoo name, an arch JSON file, a checkpoint or an "
                       "exported .onnx/.xml file)")
    from litepose.models.zoo import list_models

    if name not in list_models():
        raise CliError(f"unknown model {name!r}: not a zoo name ({', '.join(list_models())}) nor a file")
    return "zoo"


def _file_metadata(name: str) -> Any:
    """The metadata of an exported file (opened on its own runtime: a bad file is one line here)."""
    from litepose.runtime.backends import open_backend

    return open_backend(name, threads=1).metadata


def _torch_cell_note(backend: str, precision: str) -> str | None:
    """Why a torch model cannot run on ``backend`` in ``precision``, or None."""
    if backend == "torch":
        return None if precision == "fp32" else (
            f"torch runs fp32 only (eager PyTorch on the CPU); {precision} runs on openvino"
            + (" or onnxruntime" if precision == "int8" else ""))
    from litepose.export.exporter import check_export_options

    try:
        check_export_options({"onnxruntime": "onnx", "openvino": "openvino"}[backend], precision,
                             calib=precision == "int8")
    except ValueError as err:
        reason = str(err).split(": ", 1)[-1].split("; use ")[0]  # the export CLI's advice names its own options
        return f"{backend} {precision}: {reason}"
    return None


def _file_cell_note(name: str, meta: Any, backend: str, precisions: list[str] | None,
                    input_size: int | None) -> str | None:
    suffix = Path(name).suffix.lower()
    if backend == "torch" or (suffix == ".xml" and backend == "onnxruntime"):
        return f"{name} runs on {'onnxruntime or openvino' if suffix == '.onnx' else 'openvino'}, not {backend}"
    if precisions is not None and meta.precision not in precisions:
        return f"{name} is a {meta.precision} file (--precision {','.join(precisions)})"
    fixed = meta.input_size
    if input_size is not None and fixed != (None, None) and fixed != (input_size, input_size):
        return f"--input-size {input_size}: {name} takes a fixed {fixed[1]}x{fixed[0]} input"
    return None


def _plan(args: argparse.Namespace) -> tuple[list[Cell], dict[str, Any]]:
    """Every requested cell (with a note when it cannot run) and the metadata of the exported files."""
    cells: list[Cell] = []
    files: dict[str, Any] = {}
    for name in dict.fromkeys(args.models):
        kind = _model_kind(name)
        if kind == "exported":
            meta = files[name] = _file_metadata(name)
            if args.joints is not None and args.joints != meta.num_keypoints:
                raise CliError(f"--joints {args.joints}: {name} predicts {meta.num_keypoints} keypoints")
            for backend in args.backends or [EXPORTED_SUFFIXES[Path(name).suffix.lower()]]:
                note = _file_cell_note(name, meta, backend, args.precision, args.input_size)
                cells.append(Cell(name, kind, backend, meta.precision, note))
        else:
            for backend in args.backends or ["torch"]:
                for precision in args.precision or ["fp32"]:
                    cells.append(Cell(name, kind, backend, precision, _torch_cell_note(backend, precision)))
    runnable = [c for c in cells if c.note is None]
    if not runnable:
        raise CliError(cells[0].note if len(cells) == 1 else f"no requested cell can run: {cells[0].note}")
    return cells, files


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------

def _load_torch_model(name: str, joints: int | None) -> Any:
    """A pose network from a zoo name, an arch JSON file or a project checkpoint (and its skeleton or None)."""
    from litepose.models.checkpoint import CheckpointError, load_checkpoint
    from litepose.models.zoo import create_model

    path = Path(name)
    if path.is_file() and path.suffix.lower() != ".json":
        try:
            loaded = load_checkpoint(path)
        except CheckpointError as err:
            raise CliError("; ".join(line.strip() for line in str(err).splitlines() if line.strip())) from None
        if joints is not None and loaded.model.num_keypoints != joints:
            raise CliError(f"--joints {joints}: the checkpoint {path} predicts {loaded.model.num_keypoints} keypoints")
        return loaded.model, loaded.skeleton
    return create_model(name, 14 if joints is None else joints), None


def _calibration(args: argparse.Namespace, side: int, skeleton: Any) -> list[Any]:
    from litepose.export.bench import synthetic_image
    from litepose.inference.preprocess import preprocess_numpy

    if args.calib is not None:
        from litepose.export.quantize import calibration_images, calibration_inputs

        return calibration_inputs(calibration_images(args.calib), (side, side), count=300)
    return [preprocess_numpy(synthetic_image(2 * side, 2 * side, skeleton, people=5, seed=i), side,
                             canvas=(side, side), pad_to=32)[0] for i in range(SYNTHETIC_CALIBRATION_IMAGES)]


class _Measurer:
    """Measures the cells of one model (loading it and exporting it per backend as needed)."""

    def __init__(self, args: argparse.Namespace, settings: Any, folder: Path) -> None:
        self.args = args
        self.settings = settings
        self.folder = folder

    def predictor(self, cell: Cell, model: Any, skeleton: Any, side: int) -> tuple[Any, str | None]:
        """The cell's predictor and a note (a file's precision warning, or how the model was converted)."""
        import warnings

        from litepose import Predictor

        options = {"flip_test": self.settings.flip_test, "threads": self.settings.threads}
        if cell.kind == "exported":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                predictor = Predictor(cell.model, backend=cell.backend, input_size=self.args.input_size, **options)
            note = "; ".join(str(w.message) for w in caught) or None
            return predictor, note
        if cell.backend == "torch":
            return Predictor(model, skeleton=skeleton, input_size=side, **options), None
        from litepose.export.bench import export_for_backend

        folder = self.folder / f"{len(list(self.folder.iterdir()))}"
        folder.mkdir()
        calib = _calibration(self.args, side, skeleton or _skeleton_of(model)) if cell.precision == "int8" else None
        path = export_for_backend(model, cell.backend, cell.precision, side, folder, skeleton=skeleton, calib=calib)
        how = f"exported by litepose.export.export_model at a fixed {side}x{side} input"
        if cell.precision == "int8":
            how += f", calibrated on {len(calib or [])} {'--calib' if self.args.calib else 'synthetic'} images"
        return Predictor(path, backend=cell.backend, **options), how

    def complexity(self, cell: Cell, model: Any, meta: Any, input_hw: list[int]) -> dict[str, Any]:
        from litepose.export.bench import metadata_complexity, torch_complexity

        if cell.kind == "exported":
            return metadata_complexity(meta, input_hw)
        return torch_complexity(model, input_hw)


def _skeleton_of(model: Any) -> Any:
    from litepose.skeleton import get_skeleton

    return get_skeleton(int(model.num_keypoints))


def _measure(args: argparse.Namespace, cells: list[Cell], files: dict[str, Any]) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from litepose.export.bench import BenchSettings, make_report, measure_cell, skipped_cell
    from litepose.export.timing import default_threads

    settings = BenchSettings(threads=args.threads or default_threads(), warmup=args.warmup, repeats=args.repeats,
                             flip_test=args.flip, image_size=args.image_size,
                             people=tuple(args.people if args.people is not None else (0, 5, 10, 30)))
    results: list[dict[str, Any]] = []
    runnable = [c for c in cells if c.note is None]
    # every torch model loaded first: a bad checkpoint is reported before anything is measured
    loaded = {c.model: _load_torch_model(c.model, args.joints) for c in runnable if c.kind != "exported"}
    with tempfile.TemporaryDirectory(prefix="litepose-bench-") as tmp, \
            tqdm(total=len(runnable), desc="bench", unit="cell", file=sys.stderr, leave=False) as bar:
        measurer = _Measurer(args, settings, Path(tmp))
        for cell in cells:
            if cell.note is not None:
                results.append(skipped_cell(cell.model, cell.kind, cell.backend, cell.precision, cell.note))
                continue
            bar.set_postfix_str(f"{Path(cell.model).name} on {cell.backend} {cell.precision}")
            model, skeleton = loaded.get(cell.model, (None, None))
            side = args.input_size or (int(model.spec.input_size) if model is not None else None)
            predictor, note = measurer.predictor(cell, model, skeleton, side or 0)
            row = measure_cell(predictor, settings)
            row.update(measurer.complexity(cell, model, files.get(cell.model), row["input_size"]))
            results.append({"model": cell.model, "kind": cell.kind, "backend": cell.backend,
                            "precision": cell.precision, "status": "ok", "note": note, **row})
            del predictor
            bar.update()
    return make_report(results, settings)


def _bench_models(args: argparse.Namespace) -> int:
    cells, files = _plan(args)
    report = _measure(args, cells, files)
    if args.plot is not None:
        from litepose.export.bench import plot_report

        plot_report(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        from litepose.export.bench import format_report

        print("\n".join(format_report(report)))
        if args.plot is not None:
            print(f"wrote {args.plot}")
    return 0


# --------------------------------------------------------------------------------------------
# Latency tables
# --------------------------------------------------------------------------------------------

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


def _build_table(args: argparse.Namespace) -> int:
    from litepose.export.latency_table import DECODE_PEOPLE, LatencyTable
    from litepose.io import check_output_file

    check_output_file(args.latency_table, option="--latency-table")
    space = _load_space(args.space)
    joints = 14 if args.joints is None else args.joints
    backend = (args.backends or ["torch"])[0]
    table = LatencyTable.build(space, backend, joints, threads=args.threads,
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

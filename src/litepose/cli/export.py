"""``litepose export MODEL --format onnx|openvino [--precision P] [--calib DIR] [--input-size N | --dynamic] -o PATH``.

MODEL is a zoo name (random weights: for latency work only, with a warning), a project checkpoint
(``litepose train`` / ``convert`` / ``extract``), or an official checkpoint with ``--arch``. The file
written carries the litepose metadata (architecture, skeleton, input size, normalisation, precision),
so ``litepose predict`` / ``eval`` / ``bench`` need nothing else; see :mod:`litepose.export.exporter`
for what each format and precision means.

Options, the output path (``.onnx``; or ``.xml`` with its ``.bin``) and the calibration folder are
checked before the model is loaded; a bad one is one line, exit code 2. Inputs are never
overwritten, and a failed export leaves no file behind (temporary names, then renames).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from litepose.cli import CliError

HELP = "export a model to ONNX or OpenVINO IR (BatchNorm folded, metadata inside; fp32/fp16/bf16/int8), verified"

FORMATS = ("onnx", "openvino")  # litepose.export.exporter.FORMATS, without importing torch for --help
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
EXPORTED_SUFFIXES = (".onnx", ".xml", ".bin")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="a zoo name (random weights), a project checkpoint (.pt) or an official checkpoint "
                             "with --arch")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (onnxruntime) or openvino (IR .xml)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default); onnx: int8; openvino: fp16 (fp16 weights), bf16 (CPUs with bf16), int8")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="PATH",
                        help="the file to write: .onnx, or .xml for openvino (the .bin goes beside it)")
    size = parser.add_argument_group("input shape (the batch axis is always dynamic)")
    size.add_argument("--input-size", type=int, default=None, metavar="N",
                      help="fixed square input side (multiple of 32; default: the architecture's input size)")
    size.add_argument("--dynamic", action="store_true", help="dynamic height and width (any multiples of 32)")
    quant = parser.add_argument_group("int8")
    quant.add_argument("--calib", type=Path, default=None, metavar="DIR",
                       help="folder of calibration images (any readable images, searched recursively)")
    quant.add_argument("--calib-images", type=int, default=300, metavar="N",
                       help="calibration images to use (default 300, spread over the folder)")
    quant.add_argument("--float-layers", default="head", metavar="GROUPS",
                       help="layers kept in float, comma-separated: head (output layers), stem (first conv), "
                            "or none (default: head)")
    model = parser.add_argument_group("model")
    model.add_argument("--arch", default=None,
                       help="the architecture of an official checkpoint: zoo name or arch file")
    model.add_argument("--joints", type=int, default=None,
                       help="joint count for a zoo name (default 17) or an official checkpoint (default: read)")
    model.add_argument("--skeleton", default=None,
                       help="coco, crowdpose or a skeleton YAML/JSON (default: the checkpoint's, else by joint count)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17; default 17)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _float_layers(text: str) -> tuple[str, ...]:
    groups = tuple(g.strip() for g in text.split(",") if g.strip())
    if groups == ("none",):
        return ()
    bad = [g for g in groups if g not in ("head", "stem")]
    if bad or not groups:
        raise CliError(f"--float-layers {text!r}: use head, stem, head,stem or none")
    return groups


def _check_options(args: argparse.Namespace) -> None:
    from litepose.export.exporter import check_export_options, output_files

    if args.dynamic and args.input_size is not None:
        raise CliError("give --input-size N (a fixed size) or --dynamic, not both")
    if args.input_size is not None and (args.input_size <= 0 or args.input_size % 32):
        raise CliError(f"--input-size must be a positive multiple of 32, got {args.input_size}")
    if args.calib_images < 1:
        raise CliError(f"--calib-images must be >= 1, got {args.calib_images}")
    if args.opset < 17:
        raise CliError(f"--opset must be >= 17, got {args.opset}")
    if args.joints is not None and args.joints < 1:
        raise CliError(f"--joints must be >= 1, got {args.joints}")
    args.float_groups = _float_layers(args.float_layers)
    check_export_options(args.format, args.precision, calib=args.calib is not None, dynamic=args.dynamic)
    output_files(args.output, args.format)


def _check_paths(args: argparse.Namespace) -> list[Path]:
    """The model and calibration inputs exist and the outputs can be written; returns the calibration files."""
    from litepose.export.exporter import output_files
    from litepose.io import check_output_file

    model_path = Path(args.model)
    inputs: list[Path] = []
    if model_path.exists():
        if model_path.suffix.lower() in EXPORTED_SUFFIXES:
            raise CliError(f"{model_path}: an exported model; `litepose export` needs a PyTorch checkpoint "
                           "(.pt from litepose train/convert/extract, or an official .pth with --arch)")
        if not model_path.is_file():
            raise CliError(f"{model_path}: not a checkpoint file")
        inputs.append(model_path)
    inputs += [Path(f) for f in (args.arch, args.skeleton) if f and Path(f).is_file()]
    calib_files: list[Path] = []
    if args.calib is not None:
        from litepose.export.quantize import calibration_images

        calib_files = calibration_images(args.calib)
        inputs += [args.calib, *calib_files]
    for target in output_files(args.output, args.format):
        check_output_file(target, inputs=inputs, option="-o")
    if calib_files:
        _check_one_image_reads(args.calib, calib_files)
    return calib_files


def _check_one_image_reads(folder: Path, files: list[Path]) -> None:
    """Fail before the model loads when no calibration file decodes (each is read in full later)."""
    from litepose.inference.preprocess import load_image

    first_error = ""
    for path in files:
        try:
            load_image(path)
            return
        except (OSError, ValueError) as err:
            first_error = first_error or str(err)
    raise CliError(f"--calib {folder}: none of the {len(files)} image files could be read ({first_error})")


def _load_model(args: argparse.Namespace) -> tuple[Any, Any]:
    """(model, skeleton or None) from MODEL, --arch, --joints and --skeleton."""
    from litepose.models.checkpoint import (
        FORMAT,
        CheckpointError,
        keypoints_of,
        load_checkpoint,
        load_weights,
        normalize_state_dict,
        read_checkpoint,
        select_state_dict,
    )
    from litepose.models.zoo import create_model, list_models
    from litepose.skeleton import load_skeleton

    skeleton = load_skeleton(args.skeleton) if args.skeleton else None
    path = Path(args.model)
    try:
        if not path.is_file():
            if args.model not in list_models():
                if path.suffix or "/" in args.model:
                    raise CliError(f"{args.model}: no such checkpoint file")
                raise CliError(f"unknown model {args.model!r}: not a checkpoint file nor a zoo name "
                               f"({', '.join(list_models())})")
            if args.arch is not None:
                raise CliError("--arch goes with an official checkpoint file, not a zoo name")
            joints = args.joints or (skeleton.num_keypoints if skeleton else 17)
            print(f"WARNING: {args.model}: no weights given, so the exported model has RANDOM weights (for latency "
                  "measurements only)", file=sys.stderr)
            return create_model(args.model, joints), skeleton
        raw = read_checkpoint(path)
        if isinstance(raw, dict) and raw.get("format") == FORMAT:
            if args.arch is not None:
                raise CliError(f"--arch: {path} is a litepose checkpoint and carries its architecture")
            loaded = load_checkpoint(path)
            model = loaded.model
            if args.joints is not None and args.joints != model.num_keypoints:
                raise CliError(f"--joints {args.joints}: {path} predicts {model.num_keypoints} keypoints")
            return model, skeleton or loaded.skeleton
        if args.arch is None:
            raise CliError(f"{path}: an official checkpoint (no architecture inside): give --arch NAME|ARCH.json "
                           "(the architecture it was trained with)")
        state = normalize_state_dict(select_state_dict(raw, str(path)))
        joints = args.joints if args.joints is not None else keypoints_of(state, str(path))
        model = create_model(args.arch, joints)
        load_weights(model, state, source=str(path))
        return model.eval(), skeleton
    except CheckpointError as err:
        # The checkpoint report spans lines (missing keys, shapes, hint); the CLI reports one line.
        raise CliError("; ".join(line.strip() for line in str(err).splitlines() if line.strip())) from None


def run(args: argparse.Namespace) -> int:
    from litepose.export.exporter import export_model

    _check_options(args)
    calib_files = _check_paths(args)
    model, skeleton = _load_model(args)
    report = export_model(model, args.output, format=args.format, precision=args.precision,
                          input_size=args.input_size, dynamic=args.dynamic,
                          calib=calib_files if args.calib is not None else None, calib_images=args.calib_images,
                          skeleton=skeleton, float_layers=args.float_groups, opset=args.opset,
                          progress=not args.no_progress)
    for line in report.describe():
        print(line)
    return 0

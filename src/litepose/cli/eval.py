"""``litepose eval``: keypoint AP of a results file, or of a model run over an annotated image folder.

* ``--results preds.json``: evaluate an existing COCO results file.
* ``--model NAME|CKPT --images DIR``: predict every image listed in ``--ann`` (found as
  ``DIR/<file_name>``), optionally save the results (``--out preds.json``), then evaluate them.

COCO files use pycocotools; CrowdPose files (images with ``crowdIndex``) use xtcocotools'
``keypoints_crowd`` mode (``--kind`` overrides the detection). Prints a table, or with ``--json`` a
JSON object ``{metric: value}`` on stdout; a results list without any entry is scored 0 with a warning.

Files are checked before a model is loaded: ``--out`` must be a writable file name that is none of the
inputs (``--ann``, ``--images`` or an image), else one line names it (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from litepose.cli import CliError
from litepose.cli.predict import _warnings_to_stderr, add_model_arguments, build_predictor, check_model_options

HELP = "evaluate keypoint AP (COCO / CrowdPose) of a results file or of a model on an image folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ann", type=Path, required=True, metavar="ANN.json",
                        help="ground-truth annotations (COCO person keypoints or CrowdPose json)")
    parser.add_argument("--results", type=Path, default=None, metavar="PREDS.json",
                        help="evaluate this COCO results file (instead of running --model)")
    parser.add_argument("--images", type=Path, default=None, metavar="DIR",
                        help="image folder for --model (files named as in the annotations)")
    parser.add_argument("--out", type=Path, default=None, metavar="PREDS.json",
                        help="with --model: also save the predictions as a COCO results file")
    parser.add_argument("--kind", choices=("coco", "crowdpose"), default=None,
                        help="evaluation protocol (default: crowdpose if the images have crowdIndex, else coco)")
    parser.add_argument("--json", action="store_true", help="print the metrics as a JSON object")
    parser.add_argument("--verbose", action="store_true", help="show the toolkit's own output")
    # --model and the predictor options; --model is optional here (exclusive with --results).
    group = parser.add_argument_group("model options (with --model)")
    add_model_arguments(group, model_required=False)


def _check_inputs_and_outputs(args: argparse.Namespace) -> None:
    """Everything about the files that can be checked before a model is loaded."""
    from litepose.evaluation.model import annotated_images
    from litepose.io import check_output_file

    if not args.ann.is_file():
        raise CliError(f"--ann {args.ann}: no such file")
    if args.results is not None:
        if args.images is not None or args.out is not None:
            raise CliError("--images and --out go with --model, not with --results")
        return
    if args.images is None:
        raise CliError("--model needs --images DIR (the folder of the annotated images)")
    if not args.images.is_dir():
        raise CliError(f"--images {args.images}: no such folder")
    if args.out is not None:
        images = [path for _, path in annotated_images(args.ann, args.images)]
        check_output_file(args.out, inputs=[args.ann, args.images, *images])


def _evaluate_model(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, float]]:
    from litepose.evaluation.model import evaluate_model
    from litepose.skeleton import skeleton_from_coco_category

    data = json.loads(args.ann.read_text())
    cats = [c for c in data.get("categories", []) if isinstance(c, dict) and c.get("keypoints")]
    skeleton = skeleton_from_coco_category(cats[0], source=str(args.ann)) if cats else None
    if skeleton is not None and args.joints is not None and args.joints != skeleton.num_keypoints:
        raise CliError(f"--joints {args.joints} but {args.ann} has {skeleton.num_keypoints} keypoints")
    predictor = build_predictor(args, skeleton=skeleton)
    evaluation = evaluate_model(predictor, args.ann, args.images, kind=args.kind, verbose=args.verbose,
                                skip_unreadable=True, progress=True, desc="images")
    for line in evaluation.skipped:
        print(f"warning: skipping {line}", file=sys.stderr)
    print(f"predicted {evaluation.predicted} images ({len(evaluation.skipped)} skipped), "
          f"{len(evaluation.results)} people, {evaluation.seconds:.1f} s", file=sys.stderr, flush=True)
    if evaluation.skipped:
        print("warning: skipped images count as misses in the metrics", file=sys.stderr)
    assert evaluation.metrics is not None  # one process: it evaluates
    return evaluation.results, evaluation.metrics


def run(args: argparse.Namespace) -> int:
    from litepose.evaluation.coco import evaluate_coco, format_metrics
    from litepose.evaluation.results import write_results

    if (args.results is None) == (args.model is None):
        raise CliError("give exactly one of --results PREDS.json or --model NAME|CKPT (with --images DIR)")
    if args.model is not None:
        check_model_options(args)
    _check_inputs_and_outputs(args)
    with _warnings_to_stderr():
        if args.results is not None:
            # evaluate_coco reads and checks the file, naming it in errors
            metrics = evaluate_coco(args.results, args.ann, kind=args.kind, verbose=args.verbose)
        else:
            results, metrics = _evaluate_model(args)
            if args.out is not None:
                write_results(args.out, results)
                print(f"wrote {len(results)} results to {args.out}", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(format_metrics(metrics, title=f"{args.ann.name}: keypoint AP/AR (%)"))
    return 0

"""``litepose eval``: keypoint AP of a results file, or of a model run over an annotated image folder.

* ``--results preds.json``: evaluate an existing COCO results file.
* ``--model NAME|CKPT --images DIR``: predict every image listed in ``--ann`` (found as
  ``DIR/<file_name>``), optionally save the results (``--out preds.json``), then evaluate them.

COCO files use pycocotools; CrowdPose files (images with ``crowdIndex``) use xtcocotools'
``keypoints_crowd`` mode (``--kind`` overrides the detection). Prints a table, or with ``--json`` a
JSON object ``{metric: value}`` on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from litepose.cli import CliError
from litepose.cli.predict import _warnings_to_stderr, add_model_arguments, build_predictor

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


def _predict_annotated_images(args: argparse.Namespace) -> list[dict[str, Any]]:
    from tqdm import tqdm

    from litepose.inference.preprocess import load_image
    from litepose.skeleton import skeleton_from_coco_category

    if not args.images.is_dir():
        raise CliError(f"--images {args.images}: no such folder")
    try:
        data = json.loads(args.ann.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CliError(f"{args.ann}: cannot read annotations ({err})") from None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list) or not images:
        raise CliError(f"{args.ann}: no 'images' list")
    cats = [c for c in data.get("categories", []) if c.get("keypoints")]
    skeleton = skeleton_from_coco_category(cats[0], source=str(args.ann)) if cats else None
    if skeleton is not None and args.joints is not None and args.joints != skeleton.num_keypoints:
        raise CliError(f"--joints {args.joints} but {args.ann} has {skeleton.num_keypoints} keypoints")
    predictor = build_predictor(args, skeleton=skeleton)

    results: list[dict[str, Any]] = []
    skipped = 0
    start = time.perf_counter()
    bar = tqdm(images, desc="images", unit="img", file=sys.stderr, dynamic_ncols=True, leave=False)
    for im in bar:
        name = im.get("file_name")
        if not name or "id" not in im:
            raise CliError(f"{args.ann}: image entry without 'file_name' or 'id': {im}")
        try:
            image = load_image(args.images / name)
        except (OSError, ValueError) as err:
            skipped += 1
            bar.write(f"warning: skipping {err}", file=sys.stderr)
            continue
        results += predictor(image, keep_image=False).to_coco(int(im["id"]))
    bar.close()
    done = len(images) - skipped
    if done == 0:
        raise CliError(f"--images {args.images}: none of the {len(images)} annotated images could be read")
    seconds = time.perf_counter() - start
    print(f"predicted {done} images ({skipped} skipped), {len(results)} people, {seconds:.1f} s",
          file=sys.stderr, flush=True)
    if skipped:
        print("warning: skipped images count as misses in the metrics below", file=sys.stderr)
    return results


def run(args: argparse.Namespace) -> int:
    from litepose.evaluation.coco import evaluate_coco, format_metrics
    from litepose.evaluation.results import write_results

    if (args.results is None) == (args.model is None):
        raise CliError("give exactly one of --results PREDS.json or --model NAME|CKPT (with --images DIR)")
    if not args.ann.is_file():
        raise CliError(f"--ann {args.ann}: no such file")
    with _warnings_to_stderr():
        if args.results is not None:
            if args.images is not None or args.out is not None:
                raise CliError("--images and --out go with --model, not with --results")
            results: Any = args.results  # evaluate_coco reads and checks it, naming the file in errors
        else:
            if args.images is None:
                raise CliError("--model needs --images DIR (the folder of the annotated images)")
            results = _predict_annotated_images(args)
            if args.out is not None:
                write_results(args.out, results)
                print(f"wrote {len(results)} results to {args.out}", file=sys.stderr)
        metrics = evaluate_coco(results, args.ann, kind=args.kind, verbose=args.verbose)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(format_metrics(metrics, title=f"{args.ann.name}: keypoint AP/AR (%)"))
    return 0

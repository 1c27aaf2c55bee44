"""``litepose synth``: write a synthetic multi-person keypoint dataset (COCO format) from a seed.

An ``--out`` folder that already holds a dataset (the annotation file or images) is refused unless
``--overwrite`` is given; an ``--out`` that is a file, lies inside a file or cannot be written is refused
too, with one line naming it (exit code 2).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from litepose.cli import CliError

HELP = "generate a synthetic multi-person keypoint dataset (COCO-format JSON + JPEGs) of drawn people"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (images/ and the JSON)")
    parser.add_argument("--images", type=int, default=100, metavar="N", help="number of images (default 100)")
    parser.add_argument("--skeleton", default="coco", metavar="NAME|PATH",
                        help="coco, crowdpose, or a skeleton YAML/JSON file (default coco)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same files (default 0)")
    parser.add_argument("--size", default="320x256", metavar="WxH", help="image size (default 320x256)")
    parser.add_argument("--min-people", type=int, default=3, help="people per image, at least (default 3)")
    parser.add_argument("--max-people", type=int, default=20, help="people per image, at most (default 20)")
    parser.add_argument("--min-height", type=float, default=30.0, help="person height in px, min (default 30)")
    parser.add_argument("--max-height", type=float, default=300.0,
                        help="person height in px, max; clipped to the image height (default 300)")
    parser.add_argument("--crowd-prob", type=float, default=0.2,
                        help="chance of an iscrowd blob of tiny people per image (default 0.2)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    parser.add_argument("--style", choices=("coco", "crowdpose"), default=None,
                        help="JSON flavour: crowdpose adds crowdIndex and omits area "
                             "(default: crowdpose for the CrowdPose skeleton, else coco)")
    parser.add_argument("--annotations", default="annotations.json", metavar="NAME",
                        help="JSON file name inside --out (default annotations.json)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out folder that already holds a dataset, replacing its files")


def parse_size(text: str) -> tuple[int, int]:
    """``"320x256"`` -> ``(320, 256)``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise CliError(f"--size: expected WIDTHxHEIGHT such as 320x256, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _check_output(args: argparse.Namespace) -> None:
    """``--out`` must be usable, and must not hold a dataset unless ``--overwrite`` says to replace it."""
    from litepose.io import check_output_dir, check_output_file

    out = Path(args.out)
    skeleton_file = [Path(args.skeleton)] if Path(args.skeleton).is_file() else []
    check_output_dir(out, inputs=skeleton_file)
    annotations = out / args.annotations
    check_output_file(annotations, inputs=skeleton_file)
    images = out / "images"
    existing = [p for p in (annotations, images) if p.is_file() or (p.is_dir() and any(p.iterdir()))]
    if existing and not args.overwrite:
        raise CliError(f"--out {out}: already holds a dataset ({existing[0]}); pass --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    from litepose.data.synthetic import SynthConfig, synthesize

    if args.images < 1:
        raise CliError(f"--images must be at least 1, got {args.images}")
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, got {args.seed}")
    if args.workers < 1:
        raise CliError(f"--workers must be at least 1, got {args.workers}")
    if args.min_people > args.max_people:
        raise CliError(f"--min-people ({args.min_people}) is larger than --max-people ({args.max_people})")
    _check_output(args)
    try:
        config = SynthConfig(image_size=parse_size(args.size), min_people=args.min_people,
                             max_people=args.max_people, min_height=args.min_height,
                             max_height=args.max_height, crowd_prob=args.crowd_prob,
                             jpeg_quality=args.quality)
    except ValueError as err:
        raise CliError(f"bad option: {err}") from None
    summary = synthesize(args.out, args.images, args.skeleton, args.seed, config=config, style=args.style,
                         annotation_name=args.annotations, workers=args.workers, progress=True)
    print(f"wrote {summary.images} images, {summary.people} people, {summary.crowd_regions} crowd regions "
          f"in {summary.seconds:.1f}s ({summary.images / max(summary.seconds, 1e-9):.0f} img/s): "
          f"{summary.annotation_path}")
    return 0

"""Speed of ``litepose synth``: images per second on one core, drawing only and drawing + writing.

Usage: ``.venv/bin/python benchmarks/bench_synth.py [--images 300] [--size 320x256] [--skeleton coco]``
(``--quick``: 30 images).
The target is >= 50 images/s for the default size on one core (drawing, JPEG encoding, files and JSON).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import cv2

from litepose.cli.synth import parse_size
from litepose.data.synthetic import SynthConfig, render_image, synthesize
from litepose.skeleton import load_skeleton
from summary import Headline, add_summary_option, write_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", default="320x256")
    parser.add_argument("--skeleton", default="coco")
    parser.add_argument("--max-people", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="processes for the end-to-end run")
    parser.add_argument("--quick", action="store_true", help="30 images (a smoke run)")
    add_summary_option(parser)
    args = parser.parse_args()
    if args.quick:
        args.images = 30
    cv2.setNumThreads(1)  # one core: OpenCV must not parallelise behind our back
    config = SynthConfig(image_size=parse_size(args.size), max_people=args.max_people)
    skeleton = load_skeleton(args.skeleton)

    render_image(config, skeleton, 0, 0)  # warm-up (imports, OpenCV init)
    start = time.perf_counter()
    people = 0
    for i in range(args.images):
        people += len(render_image(config, skeleton, 0, i).people)
    draw_s = time.perf_counter() - start
    print(f"draw only      : {args.images / draw_s:7.1f} images/s  ({people / args.images:.1f} annotated "
          f"people/image, {args.size}, {args.skeleton}, 1 process)")

    with tempfile.TemporaryDirectory() as tmp:
        summary = synthesize(tmp, args.images, skeleton, seed=0, config=config, workers=args.workers)
        size_mb = sum(e.stat().st_size for e in os.scandir(os.path.join(tmp, "images"))) / 1e6
    print(f"end to end     : {summary.images / summary.seconds:7.1f} images/s  (JPEG + JSON, "
          f"{args.workers} process{'es' if args.workers > 1 else ''}, {size_mb / summary.images * 1e3:.1f} kB/image)")
    write_summary(args.summary_json, [
        Headline(f"draw only, {args.size} {args.skeleton}, 1 process", args.images / draw_s, "img/s"),
        Headline(f"draw + JPEG + JSON, {args.workers} process(es)", summary.images / summary.seconds, "img/s"),
    ])


if __name__ == "__main__":
    main()

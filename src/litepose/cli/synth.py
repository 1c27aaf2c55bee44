"""``litepose synth``: write a synthetic multi-person keypoint dataset (COCO format) from a seed.

With ``--video`` it writes clips instead: ``clip_000.mp4`` + ``clip_000.json`` (PoseTrack-like COCO
with a persistent ``track_id`` per person and a ``timestamp`` per frame), and with ``--noise`` also
``clip_000.detections.jsonl`` (simulated detector output, the JSON Lines of ``litepose predict``);
clip ``i`` is the clip of seed ``--seed + i`` (see :mod:`litepose.data.synthetic_video`).

An ``--out`` folder that already holds a dataset (the annotation file or images, or clips of the
same names) is refused unless ``--overwrite`` is given; an ``--out`` that is a file, lies inside a file
or cannot be written is refused too, with one line naming it (exit code 2).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from litepose.cli import CliError

HELP = "generate a synthetic multi-person keypoint dataset (COCO JSON + JPEGs) or videos with track ids (--video)"

# Options of one mode only, with their defaults (None in the parser, so that a stray one can be named).
_IMAGE_DEFAULTS = {"images": 100, "min_people": 3, "max_people": 20, "crowd_prob": 0.2, "quality": 90,
                   "style": None, "annotations": "annotations.json", "workers": 1}
_VIDEO_DEFAULTS = {"videos": 1, "seconds": 8.0, "fps": 15.0, "people": 6, "crossings": 1, "pan": 0.0, "vfr": 0.0,
                   "noise": None}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (images/ and the JSON, or clips)")
    parser.add_argument("--skeleton", default="coco", metavar="NAME|PATH",
                        help="coco, crowdpose, or a skeleton YAML/JSON file (default coco)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same files (default 0)")
    parser.add_argument("--size", default=None, metavar="WxH",
                        help="image size (default 320x256; 320x240 with --video)")
    parser.add_argument("--min-height", type=float, default=None,
                        help="person height in px, min (default 30; 60 with --video)")
    parser.add_argument("--max-height", type=float, default=None,
                        help="person height in px, max; clipped to the image height (default 300; 140 with --video)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an --out folder that already holds a dataset, replacing its files")
    images = parser.add_argument_group("images")
    images.add_argument("--images", type=int, default=None, metavar="N", help="number of images (default 100)")
    images.add_argument("--min-people", type=int, default=None, help="people per image, at least (default 3)")
    images.add_argument("--max-people", type=int, default=None, help="people per image, at most (default 20)")
    images.add_argument("--crowd-prob", type=float, default=None,
                        help="chance of an iscrowd blob of tiny people per image (default 0.2)")
    images.add_argument("--quality", type=int, default=None, help="JPEG quality (default 90)")
    images.add_argument("--style", choices=("coco", "crowdpose"), default=None,
                        help="JSON flavour: crowdpose adds crowdIndex and omits area "
                             "(default: crowdpose for the CrowdPose skeleton, else coco)")
    images.add_argument("--annotations", default=None, metavar="NAME",
                        help="JSON file name inside --out (default annotations.json)")
    images.add_argument("--workers", type=int, default=None, help="parallel processes (default 1)")
    video = parser.add_argument_group("videos")
    video.add_argument("--video", action="store_true",
                       help="write clips (MP4 + PoseTrack-like JSON with track ids) instead of images")
    video.add_argument("--videos", type=int, default=None, metavar="N", help="number of clips (default 1)")
    video.add_argument("--seconds", type=float, default=None, help="clip length in seconds (default 8)")
    video.add_argument("--fps", type=float, default=None, help="frame rate (default 15)")
    video.add_argument("--people", type=int, default=None, help="people per clip, over its length (default 6)")
    video.add_argument("--crossings", type=int, default=None,
                       help="pairs of them timed to cross each other (default 1)")
    video.add_argument("--pan", type=float, default=None, metavar="PX",
                       help="camera pan amplitude in pixels (default 0: still camera)")
    video.add_argument("--vfr", type=float, default=None, metavar="J",
                       help="variable frame rate: frame intervals vary by up to this fraction (default 0); the "
                            "true frame times are in the JSON (an MP4 from OpenCV has a constant rate)")
    video.add_argument("--noise", type=float, default=None, metavar="SIGMA",
                       help="also write simulated detections (CLIP.detections.jsonl) with keypoint jitter SIGMA "
                            "as a fraction of the person's height, e.g. 0.02")


def parse_size(text: str) -> tuple[int, int]:
    """``"320x256"`` -> ``(320, 256)``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise CliError(f"--size: expected WIDTHxHEIGHT such as 320x256, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _resolve_mode_options(args: argparse.Namespace) -> None:
    """Refuse the other mode's options; fill this mode's defaults."""
    ours, other = (_VIDEO_DEFAULTS, _IMAGE_DEFAULTS) if args.video else (_IMAGE_DEFAULTS, _VIDEO_DEFAULTS)
    for name in other:
        if getattr(args, name) is not None:
            needs = "is for images, not --video" if args.video else "needs --video"
            raise CliError(f"{_option(name)} {needs}")
    for name, default in ours.items():
        if getattr(args, name) is None:
            setattr(args, name, default)


def _check_output(args: argparse.Namespace, files: list[str], folders: tuple[str, ...] = ()) -> None:
    """``--out`` must be usable, and must not hold ``files`` or non-empty ``folders`` unless ``--overwrite``."""
    from litepose.io import check_output_dir, check_output_file

    out = Path(args.out)
    skeleton_file = [Path(args.skeleton)] if Path(args.skeleton).is_file() else []
    check_output_dir(out, inputs=skeleton_file)
    for name in files:
        check_output_file(out / name, inputs=skeleton_file)
    existing = [out / n for n in files if (out / n).is_file()]
    existing += [out / n for n in folders if (out / n).is_dir() and any((out / n).iterdir())]
    if existing and not args.overwrite:
        raise CliError(f"--out {out}: already holds a dataset ({existing[0]}); pass --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    _resolve_mode_options(args)
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, got {args.seed}")
    if args.video:
        return _run_video(args)
    from litepose.data.synthetic import SynthConfig, synthesize

    if args.images < 1:
        raise CliError(f"--images must be at least 1, got {args.images}")
    if args.workers < 1:
        raise CliError(f"--workers must be at least 1, got {args.workers}")
    if args.min_people > args.max_people:
        raise CliError(f"--min-people ({args.min_people}) is larger than --max-people ({args.max_people})")
    _check_output(args, [args.annotations], ("images",))
    try:
        config = SynthConfig(image_size=parse_size(args.size or "320x256"), min_people=args.min_people,
                             max_people=args.max_people,
                             min_height=30.0 if args.min_height is None else args.min_height,
                             max_height=300.0 if args.max_height is None else args.max_height,
                             crowd_prob=args.crowd_prob, jpeg_quality=args.quality)
    except ValueError as err:
        raise CliError(f"bad option: {err}") from None
    summary = synthesize(args.out, args.images, args.skeleton, args.seed, config=config, style=args.style,
                         annotation_name=args.annotations, workers=args.workers, progress=True)
    print(f"wrote {summary.images} images, {summary.people} people, {summary.crowd_regions} crowd regions "
          f"in {summary.seconds:.1f}s ({summary.images / max(summary.seconds, 1e-9):.0f} img/s): "
          f"{summary.annotation_path}")
    return 0


def _run_video(args: argparse.Namespace) -> int:
    from litepose.data.synthetic_video import DetectorNoise, VideoConfig, write_video
    from litepose.skeleton import load_skeleton

    if args.videos < 1:
        raise CliError(f"--videos must be at least 1, got {args.videos}")
    try:
        config = VideoConfig(image_size=parse_size(args.size or "320x240"), fps=args.fps, seconds=args.seconds,
                             people=args.people, crossings=args.crossings,
                             min_height=60.0 if args.min_height is None else args.min_height,
                             max_height=140.0 if args.max_height is None else args.max_height,
                             camera_pan=args.pan, frame_jitter=args.vfr)
        noise = None if args.noise is None else DetectorNoise(sigma=args.noise)
    except ValueError as err:
        raise CliError(f"bad option: {err}") from None
    skeleton = load_skeleton(args.skeleton)
    stems = [f"clip_{i:03d}" for i in range(args.videos)]
    names = [f"{s}{ext}" for s in stems for ext in (".mp4", ".json", ".detections.jsonl")]
    _check_output(args, names)
    frames = people = 0
    for i, stem in enumerate(stems):
        summary = write_video(args.out, config, skeleton, args.seed + i, name=stem, noise=noise, progress=True)
        frames += summary.frames
        people += summary.tracks
        extra = f" + {summary.detections_path.name}" if summary.detections_path else ""
        print(f"wrote {summary.video_path} + {summary.annotation_path.name}{extra}: {summary.frames} frames, "
              f"{summary.tracks} people, {summary.annotations} annotations in {summary.seconds:.1f}s")
    if len(stems) > 1:
        print(f"wrote {len(stems)} clips, {frames} frames, {people} people in {args.out}")
    return 0

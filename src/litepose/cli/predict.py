"""``litepose predict``: run a model on an image, a folder, a glob, a video file or a webcam.

Outputs (all written atomically) go to ``--out DIR``:

* images: ``DIR/<name>.<ext>`` annotated copies; with ``--json`` also ``DIR/predictions.json``, the
  COCO results of every image, each entry with its ``file_name`` and an ``image_id`` unique per image
  (see :func:`image_ids`: the number in the file name when no other input has the same, as COCO and
  CrowdPose name their files, else the next id above the largest such number);
* video / webcam: ``DIR/<stem>.mp4`` annotated (mp4v); with ``--json`` also ``DIR/<stem>.jsonl``, one
  line per frame: ``{"frame": i, "timestamp": seconds, "results": [COCO results with image_id = i]}``.
  With ``--track`` every result also has a ``track_id`` (``null`` until the person's track is
  confirmed; see :class:`litepose.Tracker`) and the video draws the tracked people, each id in its own
  colour; ``--smooth`` adds One-Euro smoothing of each track's keypoints. Timestamps are the video's
  own frame times (or the webcam's arrival times); ``--show`` also shows the drawn frames in a window
  (``q`` or Esc stops).
  A video that stops decoding mid-way keeps the frames processed and says where it stopped.

``--model`` may be an exported file (``model.onnx`` on onnxruntime, ``model.xml`` on OpenVINO): the
whole command then runs without PyTorch. ``--backend`` runs a checkpoint on onnxruntime or OpenVINO
(converted in memory) and ``--threads`` pins the runtime's threads.

Without ``--out``, ``--json`` prints the same JSON (or JSON Lines) to stdout. Progress, warnings and
the summary line go to stderr. Unreadable images and non-image files are skipped with a warning;
the exit code is non-zero only when nothing could be processed.

Before a model is loaded, the options are checked and so is ``--out``: a file, a path inside a file,
an unwritable folder, or a folder that holds an input (its annotated copy would replace it) is refused
with one line naming the path (exit code 2); inputs are never overwritten.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from litepose.cli import CliError
from litepose.decoding.grouping import DETECTION_THRESHOLD

HELP = "predict poses in an image, a folder, a glob, a video file or a webcam; draw and/or save JSON"

BACKENDS = ("torch", "onnxruntime", "openvino")  # litepose.runtime.backends.BACKENDS

# Output formats cv2.imencode writes for annotated images; anything else becomes .jpg.
_ENCODABLE = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def add_model_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *,
                        model_required: bool = True) -> None:
    """Options shared by ``predict`` and ``eval`` to build a :class:`~litepose.Predictor`."""
    parser.add_argument("--model", required=model_required, default=None, metavar="NAME|CKPT|FILE",
                        help="a checkpoint written by `litepose train`/`convert`, an exported model "
                             "(model.onnx, model.xml: no PyTorch needed), or a zoo name "
                             "(litepose-xs|s|m|l: RANDOM weights, for smoke tests only)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="runtime of the network (default: torch for checkpoints and zoo names, onnxruntime "
                             "for .onnx, openvino for .xml; a checkpoint on onnxruntime/openvino is converted "
                             "in memory)")
    parser.add_argument("--threads", type=int, default=None, metavar="T",
                        help="intra-op threads of the runtime (default: its own choice)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu; torch only)")
    parser.add_argument("--no-flip", action="store_true", help="disable the flip test (faster, a little less accurate)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0], metavar="S",
                        help="test scales (default: 1.0; several must include 1.0)")
    parser.add_argument("--input-size", type=int, default=None, metavar="N",
                        help="network input size (short side); default: the model's own")
    parser.add_argument("--joints", type=int, choices=(14, 17), default=None,
                        help="joint count for a zoo NAME (14 CrowdPose, 17 COCO; default 17)")
    parser.add_argument("--joint-order", choices=("official", "anatomical"), default="official",
                        help="grouping order: the official one (parity) or the anatomical fix for CrowdPose")
    parser.add_argument("--detection-threshold", type=float, default=DETECTION_THRESHOLD, metavar="T",
                        help="heatmap value a joint needs to be a candidate (official: 0.1)")
    parser.add_argument("--max-people", type=int, default=30, metavar="N",
                        help="at most N people per image (official: 30)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE",
                        help="an image, a folder of images, a quoted glob ('imgs/*.jpg'), a video file, "
                             "or a webcam index (0)")
    add_model_arguments(parser)
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for annotated images / video (and JSON with --json)")
    parser.add_argument("--json", action="store_true",
                        help="write COCO results (DIR/predictions.json, or DIR/<video>.jsonl); to stdout without --out")
    parser.add_argument("--threshold", type=float, default=0.1,
                        help="joints below this confidence are not drawn (default 0.1)")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N",
                        help="stop after N frames of a video or webcam")
    parser.add_argument("--track", action="store_true",
                        help="video/webcam: ids that persist across frames (track_id in the JSON Lines, a colour per "
                             "id in the video)")
    parser.add_argument("--smooth", action="store_true",
                        help="video/webcam: One-Euro smoothing of each tracked person's keypoints (implies --track)")
    parser.add_argument("--show", action="store_true",
                        help="video/webcam: show the drawn frames in a window (q or Esc stops)")


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Show library warnings as one-line ``warning: ...`` messages instead of Python's format."""

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        from litepose.inference.predictor import RandomWeightsWarning

        prefix = "WARNING" if issubclass(category, RandomWeightsWarning) else "warning"
        print(f"{prefix}: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


# How check_predictor_options names the parameters that come from these options.
_OPTION_NAMES = {"scales": "--scales", "input_size": "--input-size", "detection_threshold": "--detection-threshold",
                 "max_people": "--max-people"}


def check_model_options(args: argparse.Namespace) -> None:
    """Check the options of :func:`add_model_arguments` once, before any model or image is loaded."""
    from litepose.inference.predictor import check_predictor_options

    check_predictor_options(scales=args.scales, input_size=args.input_size,
                            detection_threshold=args.detection_threshold, max_people=args.max_people,
                            names=_OPTION_NAMES)
    if args.threads is not None and args.threads < 1:
        raise CliError(f"--threads must be >= 1, got {args.threads}")
    suffix = Path(args.model).suffix.lower() if args.model is not None else ""
    if suffix in (".onnx", ".xml"):
        if args.device != "cpu":
            raise CliError(f"--device {args.device}: exported models run on the CPU (onnxruntime, OpenVINO)")
        if args.backend == "torch" or (suffix == ".xml" and args.backend == "onnxruntime"):
            raise CliError(f"--backend {args.backend}: {args.model} runs on "
                           f"{'onnxruntime or openvino' if suffix == '.onnx' else 'openvino'}")
    elif args.backend not in (None, "torch") and args.device != "cpu":
        raise CliError(f"--device {args.device}: the {args.backend} backend runs on the CPU")


def build_predictor(args: argparse.Namespace, skeleton: Any = None) -> Any:
    """A :class:`~litepose.Predictor` from the options of :func:`add_model_arguments`."""

    from litepose.inference.predictor import Predictor

    if skeleton is None and args.joints is not None:
        skeleton = args.joints
    try:
        return Predictor(args.model, device=args.device, flip_test=not args.no_flip, scales=tuple(args.scales),
                         input_size=args.input_size, skeleton=skeleton, joint_order=args.joint_order,
                         detection_threshold=args.detection_threshold, max_people=args.max_people,
                         backend=args.backend, threads=args.threads)
    except ValueError as err:
        # A checkpoint report spans lines (missing keys, shapes, hint); the CLI reports one line. (The
        # checkpoint module is looked up, not imported: an exported model runs without torch.)
        checkpoint = sys.modules.get("litepose.models.checkpoint")
        if checkpoint is not None and isinstance(err, checkpoint.CheckpointError):
            raise CliError("; ".join(line.strip() for line in str(err).splitlines() if line.strip())) from None
        raise


def image_ids(paths: Sequence[Path]) -> list[int]:
    """The COCO ``image_id`` of each predicted image file: unique per image, the same for the same inputs.

    An image whose file name (without its suffix) is a number that no other input shares gets that
    number, as COCO and CrowdPose name their files (``000000000785.jpg`` -> 785). Every other image (a
    name that is not a number, or a number shared as by ``1.jpg`` and ``0001.png``) gets the next id
    above the largest number kept (from 0 when none is), in the order of ``paths`` (sorted by name
    for a folder or a glob).
    """
    stems = [p.stem for p in paths]
    numbers = [int(stem) if stem.isascii() and stem.isdigit() else None for stem in stems]
    counts = Counter(n for n in numbers if n is not None)
    kept = [n if n is not None and counts[n] == 1 else None for n in numbers]
    next_id = max((n for n in kept if n is not None), default=-1) + 1
    ids = []
    for number in kept:
        if number is None:
            number, next_id = next_id, next_id + 1
        ids.append(number)
    return ids


def _unique_name(name: str, used: set[str]) -> str:
    candidate, k = name, 1
    while candidate in used:
        candidate = f"{Path(name).stem}_{k}{Path(name).suffix}"
        k += 1
    used.add(candidate)
    return candidate


def _write_image(path: Path, rgb: Any) -> None:
    import cv2

    from litepose.io import atomic_write_bytes

    ok, buf = cv2.imencode(path.suffix, rgb[:, :, ::-1])
    if not ok:
        raise ValueError(f"{path}: cannot encode image")
    atomic_write_bytes(path, buf.tobytes())


def _progress(total: int | None, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img" if desc == "images" else "frame", file=sys.stderr,
                disable=total == 1, dynamic_ncols=True, leave=False)


def _check_outputs(args: argparse.Namespace, source: Any) -> None:
    """Refuse an unusable ``--out`` before the model is loaded (see the module docstring)."""
    from litepose.io import check_output_dir, check_output_file

    if args.out is None:
        return
    inputs: list[Path] = list(source.paths) if source.kind == "images" else []
    if source.kind == "video":
        inputs.append(Path(args.source))
    check_output_dir(args.out, inputs=inputs)
    if source.kind == "images":
        fixed = ["predictions.json"] if args.json else []
    else:
        fixed = [f"{source.stem}.mp4"] + ([f"{source.stem}.jsonl"] if args.json else [])
    for name in fixed:
        check_output_file(args.out / name, inputs=inputs)


def run(args: argparse.Namespace) -> int:
    from litepose.inference.sources import open_source

    check_model_options(args)
    if not (math.isfinite(args.threshold) and args.threshold >= 0):
        raise CliError(f"--threshold must be a finite number >= 0, got {args.threshold}")
    if args.max_frames is not None and args.max_frames < 1:
        raise CliError("--max-frames must be >= 1")
    args.track = args.track or args.smooth
    # FFmpeg prints its own diagnostics (e.g. "moov atom not found") for files it cannot open; the
    # one-line error below says it already. Quiet unless the user asked otherwise.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    with _warnings_to_stderr():
        source = open_source(args.source)
        try:
            _check_outputs(args, source)
            _check_stream_options(args, source)
            predictor = build_predictor(args)
            if source.kind == "images":
                return _run_images(args, source, predictor)
            return _run_stream(args, source, predictor)
        finally:
            source.close()


def _check_stream_options(args: argparse.Namespace, source: Any) -> None:
    """``--track``/``--smooth``/``--show`` need a video or webcam, and ``--show`` a display and an OpenCV with a GUI."""
    wanted = [name for name, on in (("--track", args.track and not args.smooth), ("--smooth", args.smooth),
                                    ("--show", args.show)) if on]
    if wanted and source.kind == "images":
        raise CliError(f"{' '.join(wanted)}: needs a video file or a webcam SOURCE, got images ({args.source})")
    if args.show:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise CliError("--show: no display (DISPLAY is not set); leave --show out or run it on a desktop")
        import cv2

        try:
            cv2.namedWindow(_WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise CliError("--show: this OpenCV has no window support (opencv-python-headless); install "
                           "opencv-python or leave --show out") from None


_WINDOW = "litepose predict"


def _summary(kind: str, done: int, people: int, seconds: float, where: str, failed: int = 0) -> None:
    rate = f", {done / seconds:.1f}/s" if seconds > 0 and done else ""
    failed_txt = f", {failed} skipped" if failed else ""
    print(f"{done} {kind}{failed_txt}, {people} people, {seconds:.1f} s{rate}; {where}", file=sys.stderr, flush=True)


def _run_images(args: argparse.Namespace, source: Any, predictor: Any) -> int:
    from litepose.evaluation.results import write_results

    results: list[dict[str, Any]] = []
    ids = image_ids(source.paths)
    used: set[str] = set()
    done = failed = people = 0
    start = time.perf_counter()
    bar = _progress(source.total, "images")
    try:
        for frame in source:
            bar.update(1)
            if frame.image is None:
                failed += 1
                bar.write(f"warning: skipping {frame.error}", file=sys.stderr)
                continue
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    result = predictor(frame.image, keep_image=True)
            except (ValueError, RuntimeError) as err:  # e.g. out of memory on a huge image
                failed += 1
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                bar.write(f"warning: skipping {frame.path}: {first[:200]}", file=sys.stderr)
                continue
            for warning in caught:  # e.g. an image padded to the size limits: say which image
                bar.write(f"warning: {frame.path}: {warning.message}", file=sys.stderr)
            done += 1
            people += len(result)
            if args.out is not None:
                suffix = frame.path.suffix.lower() if frame.path and frame.path.suffix.lower() in _ENCODABLE else ".jpg"
                name = _unique_name(frame.name + suffix, used)
                _write_image(args.out / name, result.plot(threshold=args.threshold))
            if args.json:
                file_name = frame.path.name if frame.path else frame.name
                for entry in result.to_coco(ids[frame.index]):
                    results.append({**entry, "file_name": file_name})
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    if done == 0:
        raise CliError(f"{args.source}: nothing could be processed ({failed} image(s) unreadable or failed)")
    where = "nothing written (use --out DIR)" if args.out is None else f"outputs in {args.out}"
    if args.json:
        if args.out is not None:
            write_results(args.out / "predictions.json", results)
        else:
            json.dump(results, sys.stdout)
            sys.stdout.write("\n")
            where = "JSON on stdout"
    _summary("images" if done != 1 else "image", done, people, seconds, where, failed)
    return 0


def _run_stream(args: argparse.Namespace, source: Any, predictor: Any) -> int:
    from litepose.inference.sources import AtomicVideoWriter
    from litepose.inference.visualize import draw_poses, track_color
    from litepose.io import atomic_open

    tracker = None
    if args.track:
        from litepose.tracking import Tracker

        tracker = Tracker(predictor.skeleton, smoothing=True if args.smooth else None)
    stem = source.stem
    done = people = 0
    ids: set[int] = set()
    stopped: str | None = None
    start = time.perf_counter()
    total = source.total
    if args.max_frames is not None:
        total = min(total, args.max_frames) if total else args.max_frames
    bar = _progress(total, "frames")
    # ExitStack: on any error the temporary video and JSON Lines files are removed, never half-published.
    with contextlib.ExitStack() as stack:
        stack.callback(bar.close)
        if args.show:
            stack.callback(_close_window)
        writer = None
        if args.out is not None:
            writer = stack.enter_context(AtomicVideoWriter(args.out / f"{stem}.mp4", source.fps))
        lines: IO[str] | None = None
        if args.json:
            lines = stack.enter_context(atomic_open(args.out / f"{stem}.jsonl", "w")) if args.out else sys.stdout
        previous = -math.inf
        try:
            for frame in source:
                # frame times always increase (sources.frame_time); a source without them counts frames
                t = frame.timestamp if frame.timestamp is not None else frame.index / source.fps
                t = previous = max(t, previous + 1e-6)
                try:
                    result = predictor(frame.image, keep_image=True)
                except (ValueError, RuntimeError) as err:  # e.g. out of memory: keep what was processed
                    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                    stopped = f"frame {frame.index} failed ({first[:200]})"
                    break
                done += 1
                people += len(result)
                bar.update(1)
                if tracker is not None:
                    tracked = tracker.update(result.keypoints, result.scores, timestamp=t)
                    ids.update(i for i in tracked.track_ids.tolist() if i >= 0)
                    entries = tracked.to_coco(frame.index)
                    drawn = None
                    if writer is not None or args.show:  # the tracked people, each in its id's colour
                        shown = tracked.track_ids >= 0
                        drawn = draw_poses(frame.image, tracked.keypoints[shown], predictor.skeleton,
                                           threshold=args.threshold,
                                           colors=[track_color(i) for i in tracked.track_ids[shown].tolist()],
                                           labels=[f"#{i}" for i in tracked.track_ids[shown].tolist()])
                else:
                    entries = result.to_coco(frame.index)
                    drawn = result.plot(threshold=args.threshold) if writer is not None or args.show else None
                if writer is not None:
                    writer.write(drawn)
                if lines is not None:
                    lines.write(json.dumps({"frame": frame.index, "timestamp": round(t, 6), "results": entries}) + "\n")
                if args.show and not _show(drawn):
                    break
                if args.max_frames is not None and done >= args.max_frames:
                    break
        except KeyboardInterrupt:
            if source.kind != "webcam":
                raise
            # Ctrl-C is how a webcam run ends: keep what was recorded.
        stopped = stopped or source.stopped_early
        if done == 0:
            raise CliError(f"{args.source}: no frame could be read" + (f" ({stopped})" if stopped else ""))
        if stopped:
            bar.write(f"warning: {args.source}: {stopped}; kept the {done} frame(s) processed before it",
                      file=sys.stderr)
        if writer is not None:
            writer.commit()
    seconds = time.perf_counter() - start
    where = "nothing written (use --out DIR)" if args.out is None else f"outputs in {args.out}"
    if args.json and args.out is None:
        where = "JSON Lines on stdout"
    if tracker is not None:
        where = f"{len(ids)} track{'s' if len(ids) != 1 else ''}; {where}"
    _summary("frames" if done != 1 else "frame", done, people, seconds, where)
    return 0


def _show(rgb: Any) -> bool:
    """Show a frame in the live window; ``False`` when the user closes it or presses q / Esc."""
    import cv2

    cv2.imshow(_WINDOW, rgb[:, :, ::-1])
    key = cv2.waitKey(1) & 0xFF
    closed = cv2.getWindowProperty(_WINDOW, cv2.WND_PROP_VISIBLE) < 1
    return not (closed or key in (ord("q"), 27))


def _close_window() -> None:
    import cv2

    with contextlib.suppress(cv2.error):
        cv2.destroyWindow(_WINDOW)

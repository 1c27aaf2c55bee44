"""Inputs for prediction (an image, a folder, a glob, a video file, a webcam) and an atomic video sink.

:func:`open_source` resolves a SOURCE string once, failing early with a one-line error (missing
path, glob without matches, folder without images, video or camera that cannot be opened); then
iterating the :class:`Source` yields :class:`Frame` objects. An unreadable image inside a folder does
not stop the iteration: its frame carries the error instead of pixels, so callers can skip it.

Video and webcam frames carry a timestamp in seconds (:func:`frame_time`): a video's own frame times
(``CAP_PROP_POS_MSEC`` after each read, which follows a variable frame rate), falling back on the
frame rate where the container gives none; for a webcam the time the frame arrived (a monotonic
clock, from 0 at the first frame). A video that stops decoding before the frame count of its header
ends the iteration there, and :attr:`Source.stopped_early` says where.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from litepose.inference.preprocess import load_image, to_rgb_uint8

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "AtomicVideoWriter", "Frame", "Source", "frame_time", "open_source"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
                            ".jp2", ".pbm", ".pgm", ".ppm", ".pnm", ".pxm", ".sr", ".ras", ".hdr", ".pic"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                            ".gif", ".ts", ".3gp", ".ogv"})
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Frame:
    """One input image or video frame.

    Attributes:
        index: position in the source (0-based).
        name: a file-name stem for outputs (the image's stem, or ``frame_000042`` for videos).
        path: the image file, or ``None`` for video and webcam frames.
        image: ``(H, W, 3)`` uint8 RGB, or ``None`` when the file could not be read.
        error: why the image could not be read (one line), else ``None``.
        timestamp: seconds, for video and webcam frames (see :func:`frame_time`); ``None`` for images.
    """

    index: int
    name: str
    path: Path | None
    image: np.ndarray | None
    error: str | None = None
    timestamp: float | None = None


def frame_time(pos_msec: float, index: int, fps: float, previous: float | None) -> float:
    """The timestamp in seconds of a video frame.

    Args:
        pos_msec: ``CAP_PROP_POS_MSEC`` read right after the frame (OpenCV reports the time of the
            frame just read).
        index: the frame's position (0-based).
        fps: the source's frame rate, for the fallback.
        previous: the previous frame's timestamp, ``None`` for the first frame.

    Returns:
        ``pos_msec / 1000`` when it is finite, >= 0 and later than ``previous`` (a container that
        reports no times, or repeats them, fails this); otherwise one frame interval after ``previous``
        (``index / fps`` for the first frame).
    """
    t = pos_msec / 1000.0
    if math.isfinite(t) and t >= 0 and (previous is None or t > previous):
        return t
    return index / fps if previous is None else previous + 1.0 / fps


@dataclass
class Source:
    """A resolved prediction source; iterate it for :class:`Frame` objects.

    Attributes:
        kind: ``"images"`` (one file, a folder or a glob), ``"video"`` or ``"webcam"``.
        spec: the SOURCE as given.
        paths: the image files, in order (``kind == "images"``).
        skipped: ``(path, reason)`` for every non-image file left out of a folder or glob.
        fps: frame rate of a video/webcam (30 when the container does not say).
        size: ``(width, height)`` of video frames.
        frame_count: frames in a video according to its header (may be approximate), else ``None``.
        stopped_early: after iterating a video: ``None`` if it was read to its end (or the frame
            count is unknown), else a one-line account of where decoding stopped.
    """

    kind: Literal["images", "video", "webcam"]
    spec: str
    paths: tuple[Path, ...] = ()
    skipped: tuple[tuple[Path, str], ...] = ()
    fps: float = 30.0
    size: tuple[int, int] | None = None
    frame_count: int | None = None
    stopped_early: str | None = None
    _capture: cv2.VideoCapture | None = field(default=None, repr=False)

    @property
    def total(self) -> int | None:
        """Number of frames to expect (for progress bars); ``None`` for a webcam."""
        if self.kind == "images":
            return len(self.paths)
        return self.frame_count

    @property
    def stem(self) -> str:
        """A name for the single output of a video or webcam source."""
        if self.kind == "webcam":
            return f"webcam{self.spec}"
        return Path(self.spec).stem

    def __iter__(self) -> Iterator[Frame]:
        if self.kind == "images":
            for i, p in enumerate(self.paths):
                try:
                    yield Frame(i, p.stem, p, load_image(p))
                except (OSError, ValueError) as err:
                    yield Frame(i, p.stem, p, None, str(err))
            return
        cap = self._capture
        if cap is None:
            raise ValueError(f"{self.spec}: the video source was already consumed or closed")
        index, previous, start = 0, None, time.monotonic()
        try:
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    break
                try:
                    rgb = to_rgb_uint8(bgr, bgr=True, source=self.spec)
                except ValueError as err:  # a frame OpenCV returned but cannot be used: stop here
                    self.stopped_early = f"frame {index} could not be used ({err})"
                    return
                if self.kind == "webcam":  # the arrival time: webcam drivers report times inconsistently
                    now = time.monotonic() - start
                    t = now if previous is None or now > previous else previous + 1e-6
                else:
                    t = frame_time(float(cap.get(cv2.CAP_PROP_POS_MSEC)), index, self.fps, previous)
                previous = t
                yield Frame(index, f"frame_{index:06d}", None, rgb, timestamp=t)
                index += 1
            # OpenCV's frame counts come from the container and can be off by a frame or two
            if self.kind == "video" and self.frame_count and index < self.frame_count - 2:
                self.stopped_early = (f"decoding stopped after {index} of the {self.frame_count} frames its header "
                                      "announces (a truncated or damaged file)")
        finally:
            self.close()

    def close(self) -> None:
        """Release a video file or camera (idempotent)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _collect(files: list[Path], where: str) -> tuple[tuple[Path, ...], tuple[tuple[Path, str], ...]]:
    images, skipped = [], []
    for f in files:
        if _is_image_file(f):
            images.append(f)
        elif not f.name.startswith("."):  # hidden files (.DS_Store, ...) are not worth a warning
            reason = "a video (give it as its own SOURCE)" if f.suffix.lower() in VIDEO_SUFFIXES else "not an image"
            skipped.append((f, reason))
    if skipped:
        names = ", ".join(p.name for p, _ in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        warnings.warn(f"{where}: skipping {len(skipped)} non-image file(s): {names}", stacklevel=3)
    if not images:
        raise ValueError(f"{where}: no image files ({', '.join(sorted(IMAGE_SUFFIXES)[:6])}, ...)"
                         + (f"; skipped {len(skipped)} other file(s)" if skipped else ""))
    return tuple(images), tuple(skipped)


def _open_capture(target: str | int, what: str) -> Source:
    cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        cap.release()
        if isinstance(target, int):
            raise ValueError(f"webcam {target}: cannot open the camera (no such device or no permission)")
        raise ValueError(f"{target}: cannot open video (not a video, corrupt, or a codec OpenCV lacks)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 30.0
    w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if not isinstance(target, int) else 0
    kind: Literal["video", "webcam"] = "webcam" if isinstance(target, int) else "video"
    return Source(kind, what, fps=fps, size=(w, h) if w > 0 and h > 0 else None,
                  frame_count=count if count > 0 else None, _capture=cap)


def open_source(source: str | int | os.PathLike[str]) -> Source:
    """Resolve a SOURCE: an image file, a folder of images, a glob pattern, a video file, or a webcam
    index (an int or a string of digits that is not an existing path).

    Folders are read non-recursively, files sorted by name; non-image files are skipped with a
    warning. A file whose suffix is neither a known image nor a video suffix is tried as an image.

    Raises:
        FileNotFoundError: the path does not exist, or the glob matches nothing.
        ValueError: a folder/glob with no images, or a video/camera that cannot be opened.
    """
    if isinstance(source, int):
        return _open_capture(source, str(source))
    spec = os.fspath(source)
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_dir():
            files = sorted((p for p in path.iterdir() if p.is_file()), key=lambda p: p.name)
            paths, skipped = _collect(files, str(path))
            return Source("images", spec, paths=paths, skipped=skipped)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return _open_capture(str(path), spec)
        return Source("images", spec, paths=(path,))
    if spec.isdigit():
        return _open_capture(int(spec), spec)
    if any(c in spec for c in _GLOB_CHARS):
        matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(spec), recursive=True))
        files = [m for m in matches if m.is_file()]
        if not files:
            raise FileNotFoundError(f"{spec}: no files match this pattern")
        paths, skipped = _collect(files, spec)
        return Source("images", spec, paths=paths, skipped=skipped)
    raise FileNotFoundError(f"{spec}: no such file or folder")


class AtomicVideoWriter:
    """``cv2.VideoWriter`` (mp4v) into a hidden temporary file, renamed onto ``path`` by :meth:`commit`.

    The frame size is taken from the first frame. If the writer is closed without :meth:`commit`
    (an exception, an interrupt), the temporary file is removed and ``path`` is left untouched, so a
    reader never sees a half-written video.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, *, fourcc: str = "mp4v") -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self.fourcc = fourcc
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._tmp: Path | None = None
        self._size: tuple[int, int] | None = None

    def write(self, image: np.ndarray, *, bgr: bool = False) -> None:
        """Append one ``(H, W, 3)`` uint8 frame (RGB unless ``bgr``); every frame must have the first one's size."""
        frame = image if bgr else np.ascontiguousarray(image[:, :, ::-1])
        h, w = frame.shape[:2]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix or ".mp4",
                                       dir=self.path.parent)
            os.close(fd)
            self._tmp = Path(tmp)
            writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not writer.isOpened():
                self._discard()
                raise ValueError(f"{self.path}: cannot create a {self.fourcc} video writer")
            self._writer, self._size = writer, (w, h)
        elif (w, h) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def commit(self) -> Path | None:
        """Finish the file and move it onto ``path``; returns the path, or ``None`` if no frame was written."""
        if self._writer is None or self._tmp is None:
            return None
        self._writer.release()
        self._writer = None
        # mkstemp creates the file 0600; give the video the permissions of a normally created file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o666 & ~umask)
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._tmp = None

    def close(self) -> None:
        """Abandon an uncommitted video (removes the temporary file)."""
        self._discard()

    def __enter__(self) -> AtomicVideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

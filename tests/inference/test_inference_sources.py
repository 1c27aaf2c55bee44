"""Prediction sources: image, folder, glob, video, webcam index."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from litepose.inference.sources import AtomicVideoWriter, open_source


def _img(path: Path, w: int = 32, h: int = 24, value: int = 100) -> Path:
    assert cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))
    return path


def _video(path: Path, frames: int = 5, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    writer.release()
    return path


def test_single_image_and_folder_with_junk(tmp_path: Path) -> None:
    src = open_source(_img(tmp_path / "a.jpg"))
    assert src.kind == "images" and src.total == 1
    (frame,) = list(src)
    assert frame.name == "a" and frame.image is not None and frame.image.shape == (24, 32, 3)

    folder = tmp_path / "dir"
    folder.mkdir()
    _img(folder / "b.png")
    _img(folder / "a.jpg")
    (folder / "notes.txt").write_text("hello")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "broken.jpg").write_bytes(b"garbage")
    (folder / "sub").mkdir()
    with pytest.warns(UserWarning, match=r"skipping 1 non-image file\(s\): notes.txt"):
        src = open_source(folder)
    assert [p.name for p in src.paths] == ["a.jpg", "b.png", "broken.jpg"]
    frames = list(src)
    assert [f.error is None for f in frames] == [True, True, False]
    assert "broken.jpg: cannot decode" in (frames[2].error or "")


def test_glob_and_missing(tmp_path: Path) -> None:
    _img(tmp_path / "x1.png")
    _img(tmp_path / "x2.png")
    _img(tmp_path / "y.png")
    src = open_source(str(tmp_path / "x*.png"))
    assert [p.name for p in src.paths] == ["x1.png", "x2.png"]
    with pytest.raises(FileNotFoundError, match="no files match"):
        open_source(str(tmp_path / "z*.png"))
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        open_source(tmp_path / "nothing.jpg")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("x")
    with pytest.raises(ValueError, match="no image files"), pytest.warns(UserWarning):
        open_source(empty)


def test_video_frames_and_unopenable_video(tmp_path: Path) -> None:
    src = open_source(_video(tmp_path / "clip.mp4"))
    assert src.kind == "video" and src.size == (64, 48) and src.stem == "clip"
    frames = list(src)
    assert len(frames) == 5 and frames[3].name == "frame_000003"
    assert frames[0].image is not None and frames[0].image.shape == (48, 64, 3)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(ValueError, match=r"bad\.mp4: cannot open video"):
        open_source(bad)


def test_webcam_index_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match="webcam 97"):
        open_source("97")


def test_atomic_video_writer(tmp_path: Path) -> None:
    out = tmp_path / "o" / "clip.mp4"
    with AtomicVideoWriter(out, 10.0) as writer:
        for i in range(4):
            writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
        assert not out.exists()  # nothing visible before commit
        assert writer.commit() == out
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 4
    aborted = tmp_path / "o" / "aborted.mp4"
    with pytest.raises(RuntimeError), AtomicVideoWriter(aborted, 10.0) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["clip.mp4"]  # no temp, no partial file

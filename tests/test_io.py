"""Output-path checks (made before any work) and atomic writes of litepose.io."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from litepose.io import OutputPathError, atomic_write_text, check_output_dir, check_output_file


def test_output_file_equal_to_an_input_is_refused_through_relative_paths_and_symlinks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ann = tmp_path / "data" / "ann.json"
    ann.parent.mkdir()
    ann.write_text("{}")
    (tmp_path / "link").symlink_to(tmp_path / "data")
    os.link(ann, tmp_path / "hard.json")
    monkeypatch.chdir(tmp_path / "data")
    for same in ("ann.json", "../data/./ann.json", tmp_path / "link" / "ann.json", tmp_path / "hard.json"):
        with pytest.raises(OutputPathError, match=r"^--out .*: is the input .*ann.json"):
            check_output_file(same, inputs=[ann])
    assert ann.read_text() == "{}"
    assert check_output_file("other.json", inputs=[ann]) == Path("other.json")


def test_output_file_that_is_a_folder_or_inside_a_file_is_refused(tmp_path: Path) -> None:
    regular = tmp_path / "file.txt"
    regular.write_text("x")
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_file(tmp_path, option="--output")
    with pytest.raises(OutputPathError, match=r"^--output .*/sub/a.json: lies inside .*file.txt, which is a file"):
        check_output_file(regular / "sub" / "a.json", option="--output")
    assert check_output_file(tmp_path / "new" / "deeper" / "a.json") == tmp_path / "new" / "deeper" / "a.json"
    assert not (tmp_path / "new").exists()  # a check creates nothing


def test_unwritable_output_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, where permissions do not stop writes: simulate a read-only folder.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(OutputPathError, match=r"cannot write in .* \(permission denied\)"):
        check_output_file(tmp_path / "a.json")
    with pytest.raises(OutputPathError, match=r"cannot write in .* \(permission denied\)"):
        check_output_dir(tmp_path / "out")


def test_output_dir_refuses_a_file_an_input_folder_and_a_folder_holding_an_input(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "me.jpg"
    photo.write_bytes(b"jpeg")
    with pytest.raises(OutputPathError, match="exists and is not a folder"):
        check_output_dir(photo)
    with pytest.raises(OutputPathError, match="lies inside"):
        check_output_dir(photo / "out")
    with pytest.raises(OutputPathError, match="is the input"):
        check_output_dir(photos, inputs=[photos])
    with pytest.raises(OutputPathError, match=r"holds the input .*me.jpg"):
        check_output_dir(tmp_path / "photos/../photos/", inputs=[photo])
    assert check_output_dir(photos / "annotated", inputs=[photo, photos]) == photos / "annotated"


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_text(target, 123)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]

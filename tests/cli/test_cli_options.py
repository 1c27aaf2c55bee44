"""Numeric options of predict and eval are checked once, up front, and the error names the option.

In process, with model loading replaced by a failure: a bad option must be reported before any model
is loaded or image read (it used to surface per image as "unreadable or failed", or as a crash).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from litepose.cli import main

BAD_MODEL_OPTIONS = [
    (["--scales", "1.0", "0.001"], "--scales"),  # was ZeroDivisionError
    (["--scales", "1.0", "0.01"], "--scales"),  # was a segfault
    (["--scales", "1.0", "100"], "--scales"),  # was killed for memory (24 GB)
    (["--scales", "1.0", "nan"], "--scales"),
    (["--scales", "0.25", "1.0", "4.0"], "--scales"),  # 16x apart
    (["--detection-threshold", "-1"], "--detection-threshold"),
    (["--detection-threshold", "nan"], "--detection-threshold"),
    (["--max-people", "0"], "--max-people"),
    (["--input-size", "0"], "--input-size"),
    (["--input-size", "100000"], "--input-size"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "1.jpg"), np.zeros((40, 30, 3), np.uint8))
    (tmp_path / "ann.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "1.jpg"}], "annotations": [],
                                                   "categories": []}))
    return tmp_path


def _error_line(capsys: pytest.CaptureFixture[str], args: list[str], command: str) -> str:
    code = main(args)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"litepose {command}: error: "), lines
    return lines[0]


@pytest.mark.parametrize(("options", "name"), BAD_MODEL_OPTIONS)
def test_predict_names_the_bad_option_before_loading_a_model(folder: Path, no_model: None, options: list[str],
                                                             name: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["predict", str(folder / "images"), "--model", "litepose-xs", *options], "predict")
    assert f"error: {name}" in line or f" {name} " in line, line
    assert "unreadable or failed" not in line


@pytest.mark.parametrize(("options", "name"), BAD_MODEL_OPTIONS)
def test_eval_names_the_bad_option_before_loading_a_model(folder: Path, no_model: None, options: list[str], name: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["eval", "--ann", str(folder / "ann.json"), "--images", str(folder / "images"),
                                "--model", "litepose-xs", *options], "eval")
    assert f"error: {name}" in line or f" {name} " in line, line


def test_predict_draw_threshold_is_checked(folder: Path, no_model: None, capsys: pytest.CaptureFixture[str]) -> None:
    line = _error_line(capsys, ["predict", str(folder / "images"), "--model", "litepose-xs", "--threshold", "-1"],
                       "predict")
    assert "--threshold must be" in line

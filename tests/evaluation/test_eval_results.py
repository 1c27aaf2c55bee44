"""COCO results entries and files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from litepose.evaluation import load_results, to_coco_results, write_results


def test_to_coco_results_layout_and_bbox_over_all_keypoints() -> None:
    kpts = np.array([[[10.0, 20.0, 0.9], [30.5, 5.0, 0.2], [12.0, 40.0, 0.0]]], dtype=np.float32)
    (entry,) = to_coco_results(42, kpts, np.array([0.7], dtype=np.float32))
    assert entry["image_id"] == 42 and entry["category_id"] == 1
    assert entry["keypoints"] == pytest.approx([10, 20, 0.9, 30.5, 5, 0.2, 12, 40, 0.0])
    assert entry["score"] == pytest.approx(0.7)
    # bbox spans every joint, including the zero-confidence one, as the official writer does
    assert entry["bbox"] == pytest.approx([10.0, 5.0, 20.5, 35.0])
    json.dumps(entry)  # plain Python types only
    assert all(type(v) is float for v in entry["keypoints"])


def test_to_coco_results_empty_and_shape_errors() -> None:
    assert to_coco_results(1, np.zeros((0, 17, 3)), np.zeros(0)) == []
    with pytest.raises(ValueError, match=r"\(N, J, 3\)"):
        to_coco_results(1, np.zeros((17, 3)), np.zeros(1))
    with pytest.raises(ValueError, match="scores"):
        to_coco_results(1, np.zeros((2, 17, 3)), np.zeros(3))


def test_write_and_load_roundtrip(tmp_path: Path) -> None:
    res = to_coco_results(7, np.random.default_rng(0).uniform(0, 50, (3, 14, 3)), np.array([0.1, 0.5, 0.9]))
    path = write_results(tmp_path / "sub" / "preds.json", res)
    assert load_results(path) == json.loads(json.dumps(res))
    assert load_results(path, num_keypoints=14)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["preds.json"]  # no temporary left behind


def test_load_results_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        load_results(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json: not a JSON file"):
        load_results(bad)
    bad.write_text(json.dumps({"image_id": 1}))
    with pytest.raises(ValueError, match="JSON list"):
        load_results(bad)
    bad.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 3]}]))
    with pytest.raises(ValueError, match="entry 0: missing field 'score'"):
        load_results(bad)
    bad.write_text(json.dumps([{"image_id": "a", "keypoints": [1, 2, 3], "score": 1}]))
    with pytest.raises(ValueError, match="image_id"):
        load_results(bad)
    bad.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 3, 4], "score": 1}]))
    with pytest.raises(ValueError, match="3\\*J"):
        load_results(bad)
    bad.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 3], "score": 1}]))
    with pytest.raises(ValueError, match="expected 3\\*17"):
        load_results(bad, num_keypoints=17)


def test_write_results_refuses_invalid_and_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "preds.json"
    good = to_coco_results(1, np.ones((1, 17, 3)), np.ones(1))
    write_results(path, good)
    with pytest.raises(ValueError, match="score"):
        write_results(path, [{"image_id": 1, "keypoints": [0.0] * 51, "score": float("nan")}])
    assert load_results(path) == good

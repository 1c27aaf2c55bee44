"""`litepose eval` through a subprocess on `litepose synth` stand-ins for the real samples
(``synthetic_samples`` in tests/conftest.py): runs even where ../shared/data is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_cli_eval as real_samples

from litepose.evaluation import COCO_METRICS, CROWDPOSE_METRICS, evaluate_coco, load_results

ANNOTATIONS = {"coco": "coco-sample/person_keypoints.json", "crowdpose": "crowdpose-sample/crowdpose_keypoints.json"}


@pytest.mark.parametrize("kind", ["coco", "crowdpose"])
def test_eval_ground_truth_results_json_and_table(synthetic_samples: Path, tmp_path: Path, kind: str) -> None:
    ann = synthetic_samples / ANNOTATIONS[kind]
    preds = real_samples._gt_results(ann, tmp_path / "preds.json")
    proc = real_samples._litepose("eval", "--ann", ann, "--results", preds, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    # the synthetic samples fill every area range / crowd split: every metric is defined
    assert metrics == dict.fromkeys(COCO_METRICS if kind == "coco" else CROWDPOSE_METRICS, 1.0)

    proc = real_samples._litepose("eval", "--ann", ann, "--results", preds, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    head, _rule, row = proc.stdout.strip().splitlines()[-3:]
    assert [c.strip() for c in head.split("|")] == list(metrics)
    assert [c.strip() for c in row.split("|")] == ["100.0"] * len(metrics)


def test_eval_model_over_images(synthetic_samples: Path, tmp_path: Path) -> None:
    ann = synthetic_samples / ANNOTATIONS["crowdpose"]
    out = tmp_path / "preds.json"
    proc = real_samples._litepose("eval", "--ann", ann, "--model", "litepose-xs", "--images", ann.parent / "images",
                                  "--input-size", "128", "--no-flip", "--detection-threshold", "0",
                                  "--max-people", "2", "--out", out, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "RANDOM weights" in proc.stderr
    results = load_results(out, num_keypoints=14)  # the skeleton comes from the annotation file
    image_ids = {im["id"] for im in json.loads(ann.read_text())["images"]}
    assert len(results) == 2 * len(image_ids) and {r["image_id"] for r in results} == image_ids
    # what the command printed is the evaluation of the results it wrote
    assert json.loads(proc.stdout) == evaluate_coco(out, ann)


def test_eval_errors_are_one_line(synthetic_samples: Path, tmp_path: Path) -> None:
    real_samples.test_eval_errors_are_one_line(synthetic_samples, tmp_path)

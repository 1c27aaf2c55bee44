"""`litepose eval` through a subprocess, on the real samples in ../shared/data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from litepose.evaluation import load_results, to_coco_results, write_results


def _litepose(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # One thread: the test machines are small and shared; torch's thread pool would only contend.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "litepose", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def _gt_results(ann: Path, path: Path) -> Path:
    data = json.loads(ann.read_text())
    results = []
    for a in data["annotations"]:
        if a["num_keypoints"] > 0:
            results += to_coco_results(a["image_id"], np.array(a["keypoints"], float).reshape(1, -1, 3), [1.0])
    return write_results(path, results)


def test_eval_results_file_table_and_json(shared_data: Path, tmp_path: Path) -> None:
    coco = shared_data / "coco-sample" / "person_keypoints.json"
    crowd = shared_data / "crowdpose-sample" / "crowdpose_keypoints.json"
    preds = _gt_results(coco, tmp_path / "coco_preds.json")
    proc = _litepose("eval", "--ann", coco, "--results", preds, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert list(metrics) == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    assert metrics["AP"] == 1.0

    preds = _gt_results(crowd, tmp_path / "crowd_preds.json")
    proc = _litepose("eval", "--ann", crowd, "--results", preds, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    head, _rule, row = proc.stdout.strip().splitlines()[-3:]
    assert head.split() == ["AP", "|", "AP50", "|", "AP75", "|", "AR", "|", "AR50", "|", "AR75", "|",
                            "AP_easy", "|", "AP_medium", "|", "AP_hard"]
    assert row.split("|")[0].strip() == "100.0" and row.split("|")[-1].strip() == "n/a"


def test_eval_model_over_images(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "crowdpose-sample"
    out = tmp_path / "preds.json"
    proc = _litepose("eval", "--ann", folder / "crowdpose_keypoints.json", "--model", "litepose-xs",
                     "--images", folder / "images", "--input-size", "128", "--no-flip", "--detection-threshold", "0",
                     "--max-people", "2", "--out", out, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "RANDOM weights" in proc.stderr
    metrics = json.loads(proc.stdout)
    assert set(metrics) >= {"AP", "AP_easy", "AP_medium", "AP_hard"}
    assert all(-1.0 <= v <= 1.0 for v in metrics.values())
    results = load_results(out, num_keypoints=14)  # the skeleton comes from the annotation file
    assert len(results) == 2 * 2 and {r["image_id"] for r in results} == {103319, 106848}


def test_eval_errors_are_one_line(shared_data: Path, tmp_path: Path) -> None:
    coco = shared_data / "coco-sample" / "person_keypoints.json"
    preds = _gt_results(coco, tmp_path / "p.json")
    bad = load_results(preds)
    bad[0]["image_id"] = 999
    write_results(tmp_path / "bad.json", bad)
    cases = [
        (["--ann", coco], "give exactly one of --results"),
        (["--ann", coco, "--results", preds, "--model", "litepose-xs"], "give exactly one of --results"),
        (["--ann", coco, "--results", tmp_path / "bad.json"], "image id(s) not in"),
        (["--ann", tmp_path / "none.json", "--results", preds], "none.json: no such file"),
        (["--ann", coco, "--results", preds, "--kind", "crowdpose"], "crowdIndex"),
    ]
    for args, message in cases:
        proc = _litepose("eval", *args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("litepose eval: error:") and message in lines[0], lines


def test_eval_of_empty_results_warns(synthetic_samples: Path, tmp_path: Path) -> None:
    # An empty results list scored 0 everywhere without a word.
    coco = synthetic_samples / "coco-sample" / "person_keypoints.json"
    empty = write_results(tmp_path / "empty.json", [])
    proc = _litepose("eval", "--ann", coco, "--results", empty, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["AP"] == 0.0
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no results to evaluate" in warnings[0], proc.stderr

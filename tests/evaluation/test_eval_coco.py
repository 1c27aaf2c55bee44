"""COCO / CrowdPose evaluation on the real samples in ../shared/data."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from litepose.evaluation import (
    COCO_METRICS,
    CROWDPOSE_METRICS,
    detect_kind,
    evaluate_coco,
    format_metrics,
    to_coco_results,
    write_results,
)


def _ann(shared_data: Path, kind: str) -> Path:
    if kind == "coco":
        return shared_data / "coco-sample" / "person_keypoints.json"
    return shared_data / "crowdpose-sample" / "crowdpose_keypoints.json"


def _gt_as_results(ann_file: Path) -> list[dict]:
    data = json.loads(ann_file.read_text())
    results = []
    for a in data["annotations"]:
        if a["num_keypoints"] == 0 or a["iscrowd"]:
            continue  # COCOeval ignores these ground truths; a detection for them would be a false positive
        kpts = np.array(a["keypoints"], dtype=np.float64).reshape(1, -1, 3)
        results += to_coco_results(a["image_id"], kpts, np.array([1.0]))
    return results


def _perturbed_results(ann_file: Path, seed: int = 0) -> list[dict]:
    """Ground truth with noise, random scores, one dropped person and false positives: AP strictly in (0, 1)."""
    rng = np.random.default_rng(seed)
    data = json.loads(ann_file.read_text())
    results = []
    for a in data["annotations"]:
        if a["num_keypoints"] == 0:
            continue
        kpts = np.array(a["keypoints"], dtype=np.float64).reshape(1, -1, 3)
        kpts[..., :2] += rng.normal(0.0, 6.0, size=kpts[..., :2].shape)
        kpts[..., 2] = rng.uniform(0.1, 1.0, size=kpts.shape[1])
        results += to_coco_results(a["image_id"], kpts, rng.uniform(0.2, 1.0, size=1))
    results = results[1:]
    for im in data["images"]:
        fp = rng.uniform(0, min(im["width"], im["height"]), size=(1, len(results[0]["keypoints"]) // 3, 3))
        results += to_coco_results(im["id"], fp, rng.uniform(0.0, 0.5, size=1))
    return results


@pytest.mark.parametrize("kind", ["coco", "crowdpose"])
def test_ground_truth_as_predictions_gives_ap_1(shared_data: Path, kind: str) -> None:
    ann = _ann(shared_data, kind)
    metrics = evaluate_coco(_gt_as_results(ann), ann)
    assert list(metrics) == list(COCO_METRICS if kind == "coco" else CROWDPOSE_METRICS)
    assert metrics["AP"] == 1.0
    assert metrics["AP50"] == metrics["AP75"] == metrics["AR"] == 1.0
    if kind == "crowdpose":
        # both sample images have crowdIndex in [0.2, 0.8): medium; easy/hard have no images (-1)
        assert metrics["AP_medium"] == 1.0
        assert metrics["AP_easy"] == metrics["AP_hard"] == -1.0
    else:
        assert metrics["APm"] == metrics["APl"] == 1.0


def test_coco_numbers_identical_to_direct_pycocotools(shared_data: Path, tmp_path: Path) -> None:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ann = _ann(shared_data, "coco")
    res_file = write_results(tmp_path / "preds.json", _perturbed_results(ann))
    ours = evaluate_coco(res_file, ann)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        ev = COCOeval(gt, gt.loadRes(str(res_file)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert [ours[n] for n in COCO_METRICS] == [float(v) for v in ev.stats]
    assert 0.0 < ours["AP"] < 1.0  # the comparison is not between two trivial values


def test_crowdpose_numbers_identical_to_direct_xtcocotools(shared_data: Path, tmp_path: Path) -> None:
    xt_coco = pytest.importorskip("xtcocotools.coco")
    xt_eval = pytest.importorskip("xtcocotools.cocoeval")

    ann = _ann(shared_data, "crowdpose")
    res_file = write_results(tmp_path / "preds.json", _perturbed_results(ann, seed=1))
    ours = evaluate_coco(res_file, ann)
    sigmas = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89, .79, .79]) / 10.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = xt_coco.COCO(str(ann))
        ev = xt_eval.COCOeval(gt, gt.loadRes(str(res_file)), "keypoints_crowd", sigmas, use_area=False)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert [ours[n] for n in CROWDPOSE_METRICS] == [float(v) for v in ev.stats]
    assert 0.0 < ours["AP"] < 1.0


def test_results_are_not_mutated_and_kind_is_detected(shared_data: Path) -> None:
    ann = _ann(shared_data, "coco")
    results = _gt_as_results(ann)
    before = json.dumps(results)
    evaluate_coco(results, ann)
    assert json.dumps(results) == before  # loadRes adds fields; we must have worked on a copy
    assert detect_kind(json.loads(ann.read_text())) == "coco"
    assert detect_kind(json.loads(_ann(shared_data, "crowdpose").read_text())) == "crowdpose"


@pytest.mark.parametrize("kind", ["coco", "crowdpose"])
def test_empty_results_give_zero(shared_data: Path, kind: str) -> None:
    with pytest.warns(UserWarning, match="no results to evaluate"):
        metrics = evaluate_coco([], _ann(shared_data, kind))
    assert metrics and all(v == 0.0 for v in metrics.values())


def test_unknown_image_id_is_a_clear_error(shared_data: Path) -> None:
    ann = _ann(shared_data, "coco")
    results = _gt_as_results(ann)
    results[0] = {**results[0], "image_id": 123456789}
    with pytest.raises(ValueError, match=r"123456789.*not in|not in.*person_keypoints"):
        evaluate_coco(results, ann)


def test_wrong_joint_count_and_bad_inputs(shared_data: Path, tmp_path: Path) -> None:
    coco_ann = _ann(shared_data, "coco")
    crowd_results = _gt_as_results(_ann(shared_data, "crowdpose"))
    for r in crowd_results:
        r["image_id"] = 785
    with pytest.raises(ValueError, match="expected 3\\*17"):
        evaluate_coco(crowd_results, coco_ann)
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        evaluate_coco([], tmp_path / "nope.json")
    with pytest.raises(ValueError, match="crowdIndex"):
        evaluate_coco([], coco_ann, kind="crowdpose")
    with pytest.raises(ValueError, match="sigmas"):
        evaluate_coco(_gt_as_results(coco_ann), coco_ann, sigmas=[0.1] * 3)
    bad = _gt_as_results(coco_ann)
    bad[2]["category_id"] = 7
    with pytest.raises(ValueError, match="category_id"):
        evaluate_coco(bad, coco_ann)


def test_custom_sigmas_change_the_numbers(shared_data: Path) -> None:
    ann = _ann(shared_data, "coco")
    results = _perturbed_results(ann, seed=3)
    default = evaluate_coco(results, ann)
    wide = evaluate_coco(results, ann, sigmas=[1.0] * 17)  # very tolerant OKS
    assert wide["AP"] > default["AP"]


def test_format_metrics_table() -> None:
    table = format_metrics({"AP": 0.5, "AP50": 1.0, "AP_easy": -1.0}, title="coco")
    lines = table.splitlines()
    assert lines[0] == "coco"
    assert "AP_easy" in lines[1] and "50.0" in lines[3] and "100.0" in lines[3] and "n/a" in lines[3]

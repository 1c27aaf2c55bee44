"""The evaluation tests of the real samples (test_eval_coco, test_eval_decoded_gt), run on `litepose
synth` stand-ins in the same layout (``synthetic_samples`` in tests/conftest.py), so that they run
even where ../shared/data is absent; plus the checks whose expected values depend on the samples."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_eval_coco as real_samples
import test_eval_decoded_gt as real_decoded

from litepose.evaluation import COCO_METRICS, CROWDPOSE_METRICS, evaluate_coco

# Tests whose assertions hold on any COCO / CrowdPose-format samples, with their other arguments.
ANY_SAMPLES = [
    pytest.param(real_decoded.test_decoded_ground_truth_maps_reach_ap_095,
                 {"folder": "coco-sample", "ann_name": "person_keypoints.json"}, id="decoded-gt-ap-coco"),
    pytest.param(real_decoded.test_decoded_ground_truth_maps_reach_ap_095,
                 {"folder": "crowdpose-sample", "ann_name": "crowdpose_keypoints.json"}, id="decoded-gt-ap-crowdpose"),
    pytest.param(real_samples.test_coco_numbers_identical_to_direct_pycocotools, {}, id="same-as-pycocotools"),
    pytest.param(real_samples.test_crowdpose_numbers_identical_to_direct_xtcocotools, {}, id="same-as-xtcocotools"),
    pytest.param(real_samples.test_results_are_not_mutated_and_kind_is_detected, {}, id="not-mutated"),
    pytest.param(real_samples.test_empty_results_give_zero, {"kind": "coco"}, id="empty-coco"),
    pytest.param(real_samples.test_empty_results_give_zero, {"kind": "crowdpose"}, id="empty-crowdpose"),
    pytest.param(real_samples.test_unknown_image_id_is_a_clear_error, {}, id="unknown-image-id"),
    pytest.param(real_samples.test_wrong_joint_count_and_bad_inputs, {}, id="bad-inputs"),
    pytest.param(real_samples.test_custom_sigmas_change_the_numbers, {}, id="custom-sigmas"),
]


@pytest.mark.parametrize(("real_sample_test", "args"), ANY_SAMPLES)
def test_real_sample_checks_hold_on_synthetic_samples(real_sample_test: Callable[..., None], args: dict[str, Any],
                                                      synthetic_samples: Path, tmp_path: Path) -> None:
    if "tmp_path" in inspect.signature(real_sample_test).parameters:
        args = {**args, "tmp_path": tmp_path}
    real_sample_test(shared_data=synthetic_samples, **args)


@pytest.mark.parametrize("kind", ["coco", "crowdpose"])
def test_ground_truth_as_predictions_gives_ap_1_in_every_split(synthetic_samples: Path, kind: str) -> None:
    # The synthetic samples have medium and large people (COCO) and easy, medium and hard images
    # (CrowdPose): every metric is defined, so none may be -1.
    ann = real_samples._ann(synthetic_samples, kind)
    metrics = evaluate_coco(real_samples._gt_as_results(ann), ann)
    assert list(metrics) == list(COCO_METRICS if kind == "coco" else CROWDPOSE_METRICS)
    assert metrics == dict.fromkeys(metrics, 1.0)

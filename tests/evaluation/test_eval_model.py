"""evaluate_model: the one predict-and-score loop of `litepose eval`, training validation and search."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from litepose.evaluation import ModelEvaluation, evaluate_coco, evaluate_model
from litepose.inference.predictor import Predictor
from litepose.models.zoo import create_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("litepose-xs", num_keypoints=17, input_size=64)


def _coco(samples: Path) -> tuple[Path, Path]:
    folder = samples / "coco-sample"
    return folder / "person_keypoints.json", folder / "images"


# Detection threshold 0: the random model then reports people, so the metrics are computed, not 0 by default.
OPTIONS = {"input_size": 64, "flip_test": False, "detection_threshold": 0.0}


def test_module_and_predictor_give_the_same_results_and_the_module_mode_is_restored(
        model: torch.nn.Module, synthetic_samples: Path) -> None:
    ann, images = _coco(synthetic_samples)
    model.train()
    from_module = evaluate_model(model, ann, images, **OPTIONS)
    assert model.training  # put back as it was
    predictor = Predictor(model, input_size=64, flip_test=False, detection_threshold=0.0)
    from_predictor = evaluate_model(predictor, ann, images)
    assert isinstance(from_module, ModelEvaluation) and from_module.predicted == 6 and not from_module.skipped
    assert from_module.results == from_predictor.results and from_module.metrics == from_predictor.metrics
    assert from_module.results and from_module.metrics == evaluate_coco(from_module.results, ann)
    with pytest.raises(TypeError, match="predictor options"):
        evaluate_model(predictor, ann, images, flip_test=True)


def test_shards_merged_by_gather_equal_one_process(model: torch.nn.Module, synthetic_samples: Path) -> None:
    ann, images = _coco(synthetic_samples)
    whole = evaluate_model(model, ann, images, **OPTIONS)
    second = evaluate_model(model, ann, images, shard=(1, 2), **OPTIONS)
    assert second.metrics is None and second.predicted == 3  # only the first shard evaluates
    first = evaluate_model(model, ann, images, shard=(0, 2), gather=lambda mine: [mine, (second.results, None)],
                           **OPTIONS)
    assert first.predicted == 3 and first.metrics == whole.metrics
    assert sorted(json.dumps(r) for r in first.results) == sorted(json.dumps(r) for r in whole.results)


def test_a_failing_shard_still_gathers_and_every_shard_raises(model: torch.nn.Module, synthetic_samples: Path,
                                                              tmp_path: Path) -> None:
    ann, images = _coco(synthetic_samples)
    broken = tmp_path / "images"
    broken.mkdir()
    for path in images.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    first_name = json.loads(ann.read_text())["images"][0]["file_name"]
    (broken / first_name).write_bytes(b"not an image")  # shard 0's first image
    exchanged: list[object] = []

    def gather(mine: object) -> list[object]:
        exchanged.append(mine)
        return [mine, ([], None)]

    with pytest.raises(ValueError, match=first_name):
        evaluate_model(model, ann, broken, shard=(0, 2), gather=gather, **OPTIONS)
    assert len(exchanged) == 1 and first_name in exchanged[0][1]  # it took part in the exchange
    with pytest.raises(ValueError, match=f"another process could not evaluate its images: .*{first_name}"):
        evaluate_model(model, ann, images, shard=(1, 2), gather=lambda mine: [([], f"id=1: {first_name}"), mine],
                       **OPTIONS)


def test_subset_scores_against_the_cut_ground_truth(model: torch.nn.Module, synthetic_samples: Path,
                                                    tmp_path: Path) -> None:
    ann, images = _coco(synthetic_samples)
    cut = tmp_path / "val_subset.json"
    part = evaluate_model(model, ann, images, subset=2, subset_ann_file=cut, **OPTIONS)
    kept = [im["id"] for im in json.loads(ann.read_text())["images"][:2]]
    assert part.predicted == 2 and {r["image_id"] for r in part.results} <= set(kept)
    assert [im["id"] for im in json.loads(cut.read_text())["images"]] == kept
    assert part.metrics == evaluate_coco(part.results, cut)
    # without a place for the cut ground truth it goes to a temporary file
    assert evaluate_model(model, ann, images, subset=2, **OPTIONS).metrics == part.metrics


def test_unreadable_images_are_errors_or_skipped(model: torch.nn.Module, synthetic_samples: Path,
                                                 tmp_path: Path) -> None:
    ann, images = _coco(synthetic_samples)
    data = json.loads(ann.read_text())
    data["images"][0]["file_name"] = "missing.jpg"
    broken = tmp_path / "ann.json"
    broken.write_text(json.dumps(data))
    first_id = data["images"][0]["id"]
    with pytest.raises(ValueError, match=rf"image id={first_id}: .*missing\.jpg"):
        evaluate_model(model, broken, images, **OPTIONS)
    skipping = evaluate_model(model, broken, images, skip_unreadable=True, **OPTIONS)
    assert skipping.predicted == 5 and len(skipping.skipped) == 1 and "missing.jpg" in skipping.skipped[0]
    with pytest.raises(ValueError, match="none of the 6 images"):
        evaluate_model(model, broken, tmp_path, skip_unreadable=True, **OPTIONS)


def test_evaluation_does_not_import_training() -> None:
    code = ("import sys, litepose.evaluation, litepose.evaluation.model; "
            "print(sorted(m for m in sys.modules if m.startswith('litepose.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

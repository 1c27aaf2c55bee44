"""The supernet evaluator: extract, recalibrate, score with the eval code, on the same calibration images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import litepose
from litepose.models.checkpoint import checkpoint_dict
from litepose.models.supernet import SuperLitePose
from litepose.search import candidates as C
from litepose.search.config import load_search_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def problem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from litepose.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("candidates")
    kw: dict[str, Any] = {"image_size": (64, 64), "min_people": 1, "max_people": 2, "min_height": 30,
                          "max_height": 60, "crowd_prob": 0.0}
    ann = generate_dataset(root / "data", 6, "coco", seed=3, **kw)
    torch.manual_seed(0)
    ckpt = checkpoint_dict(SuperLitePose(17), skeleton=litepose.get_skeleton("coco"))
    torch.save(ckpt, root / "supernet.pt")
    sets = [f"data.calib_ann={ann}", f"data.calib_images={root / 'data' / 'images'}", f"data.val_ann={ann}",
            f"data.val_images={root / 'data' / 'images'}", "data.calib_batches=2", "data.calib_batch_size=2",
            "data.val_subset=4", "data.detection_threshold=0.001", "data.device=cpu", "space.num_keypoints=17",
            "space.resolutions=[32,64]", "space.width_multipliers=[0.5,0.25]", f"output_dir={root / 'out'}"]
    return {"root": root, "sets": sets, "supernet": root / "supernet.pt"}


def test_candidates_are_scored_after_recalibration_on_fixed_images(problem: dict[str, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_search_config(None, problem["sets"])
    evaluator = C.build_evaluator(cfg, problem["supernet"])
    assert evaluator.calibration.images.shape == (4, 3, 64, 64)  # 2 batches x 2, at the largest resolution
    space = cfg.space.build()
    archs = [space.max_arch(), space.min_arch()]
    seen: list[tuple[int, dict[str, torch.Tensor]]] = []
    real = C.evaluate_model

    def spy(net: torch.nn.Module, ann: Path, images: Path, **kw: Any) -> Any:
        seen.append((kw["input_size"], {k: v.clone() for k, v in net.state_dict().items()}))
        assert kw["flip_test"] and kw["detection_threshold"] == 0.001 and Path(ann).name.startswith("val_subset")
        return real(net, ann, images, **kw)

    monkeypatch.setattr(C, "evaluate_model", spy)
    first = evaluator(archs)
    assert len(first) == 2 and all(0.0 <= ap <= 1.0 for ap in first)
    assert evaluator(archs) == first  # the same images every time: the same scores
    assert [size for size, _ in seen[:2]] == [64, 32]
    # the statistics were re-estimated (exact mode: nothing inherited from the supernet remains)
    recalibrated = seen[0][1]["first.3.running_mean"]
    inherited = evaluator.supernet.state_dict()["first.3.running_mean"][:len(recalibrated)]
    assert not torch.allclose(recalibrated, inherited)


@pytest.mark.parametrize(("extra", "needle"), [
    (["space.num_keypoints=14"], "predicts 17 keypoints, but space.num_keypoints is 14"),
    (["data.val_ann=null"], "data.val_ann is required"),
])
def test_build_evaluator_errors_name_the_field(problem: dict[str, Any], extra: list[str], needle: str) -> None:
    cfg = load_search_config(None, [*problem["sets"], *extra])
    with pytest.raises(ValueError, match=needle.replace(".", r"\.")):
        C.build_evaluator(cfg, problem["supernet"])

"""Maps rendered from the ground truth, decoded by the real decoder and mapped back, reach AP >= 0.95.

This closes the loop geometry -> maps -> decoder -> inverse affine -> results -> COCOeval on the real
samples: the maps are drawn at the resized-input resolution (what project-to-image gives the
decoder) through the preprocessing's own resize, as the official training targets are drawn
(a Gaussian of sigma 2 at the truncated joint position; reference §4.3), with one constant tag per
person (each pixel of joint map j takes the tag of the person whose joint j is nearest).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from litepose.evaluation import evaluate_coco, to_coco_results
from litepose.geometry import apply_affine
from litepose.inference.preprocess import load_image, warp_to_input

decoding = pytest.importorskip("litepose.decoding")

INPUT_SIZE = 256  # small maps keep the test fast; the geometry is the same at any size


def _render_maps(people_xy: list[np.ndarray], people_vis: list[np.ndarray], height: int, width: int,
                 sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps [J, H, W] (max over people) and tags [J, H, W, 1] (nearest person's tag)."""
    num_joints = people_xy[0].shape[0]
    heatmaps = np.zeros((num_joints, height, width), np.float32)
    tags = np.zeros((num_joints, height, width, 1), np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for j in range(num_joints):
        nearest = np.full((height, width), np.inf, np.float32)
        for n, (xy, vis) in enumerate(zip(people_xy, people_vis, strict=True)):
            if not vis[j]:
                continue
            cx, cy = np.floor(xy[j]).astype(np.float32)  # the official target: int() of the position
            if not (0 <= cx < width and 0 <= cy < height):
                continue
            d2 = (xs - cx) ** 2 + (ys - cy) ** 2
            heatmaps[j] = np.maximum(heatmaps[j], np.exp(-d2 / (2 * sigma**2)))
            closer = d2 < nearest
            nearest[closer] = d2[closer]
            tags[j, closer, 0] = 3.0 * n  # people 3 apart: far beyond the 1.0 tag threshold
    return heatmaps, tags


@pytest.mark.parametrize(("folder", "ann_name"), [("coco-sample", "person_keypoints.json"),
                                                  ("crowdpose-sample", "crowdpose_keypoints.json")])
def test_decoded_ground_truth_maps_reach_ap_095(shared_data: Path, folder: str, ann_name: str) -> None:
    ann = shared_data / folder / ann_name
    data = json.loads(ann.read_text())
    results = []
    for im in data["images"]:
        image = load_image(shared_data / folder / "images" / im["file_name"])
        _, meta = warp_to_input(image, INPUT_SIZE)  # the real test-time resize
        anns = [a for a in data["annotations"] if a["image_id"] == im["id"] and a["num_keypoints"] > 0]
        kpts = [np.array(a["keypoints"], np.float64).reshape(-1, 3) for a in anns]
        xy_map = [apply_affine(k[:, :2], meta.matrix) for k in kpts]
        vis = [k[:, 2] > 0 for k in kpts]
        heatmaps, tags = _render_maps(xy_map, vis, meta.resized_h, meta.resized_w)
        found, scores = decoding.decode(heatmaps, tags)
        assert found.shape[1:] == (len(kpts[0]), 3)
        assert len(found) >= len(anns)  # every annotated person comes back (refine may add none)
        found = decoding.keypoints_to_image(found, meta, meta.resized_w, meta.resized_h)
        results += to_coco_results(im["id"], found, scores)
    metrics = evaluate_coco(results, ann)
    assert metrics["AP"] >= 0.95, metrics

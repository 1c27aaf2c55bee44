from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from torch.utils.data import DataLoader

from litepose.data.augment import AugmentConfig
from litepose.data.config_dataset import load_dataset_config
from litepose.data.dataset import DatasetError, KeypointDataset
from litepose.geometry import apply_affine, training_affine
from litepose.skeleton import COCO, CROWDPOSE

torch.set_num_threads(1)

NAMES = ["head", "neck", "left_hand", "right_hand"]
CATEGORY = {"id": 1, "name": "person", "keypoints": NAMES, "skeleton": [[1, 2], [2, 3], [2, 4]]}


def _person(aid: int, iid: int, pts: list[tuple[float, float]], *, box: tuple[float, float, float, float] | None = None,
            **extra: Any) -> dict[str, Any]:
    kps: list[float] = []
    for x, y in pts:
        kps += [x, y, 2]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    bbox = list(box) if box else [min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1]
    ann = {"id": aid, "image_id": iid, "category_id": 1, "iscrowd": 0, "keypoints": kps,
           "num_keypoints": len(pts), "bbox": bbox, "area": bbox[2] * bbox[3]}
    ann.update(extra)
    return ann


def _write(tmp: Path, images: list[tuple[int, int, int]], anns: list[dict[str, Any]], *,
           category: dict[str, Any] | None = None, mode: str = "color") -> Path:
    """A tiny COCO dataset: ``images`` are (id, width, height); writes PNGs under tmp/images."""
    (tmp / "images").mkdir(exist_ok=True)
    entries = []
    for iid, w, h in images:
        name = f"{iid:04d}.png"
        rng = np.random.default_rng(iid)
        if mode == "gray":
            pix = rng.integers(0, 255, (h, w), dtype=np.uint8)
        elif mode == "rgba":
            pix = rng.integers(0, 255, (h, w, 4), dtype=np.uint8)
        else:
            pix = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp / "images" / name), pix)
        entries.append({"id": iid, "file_name": name, "width": w, "height": h})
    data = {"images": entries, "annotations": anns, "categories": [category or CATEGORY]}
    path = tmp / "ann.json"
    path.write_text(json.dumps(data))
    return path


def _simple(tmp: Path, **kw: Any) -> Path:
    anns = [_person(1, 10, [(20, 10), (20, 20), (10, 30), (30, 30)]),
            _person(2, 10, [(50, 12), (50, 22), (40, 32), (60, 32)]),
            _person(3, 11, [(30, 30), (30, 40), (20, 50), (40, 50)])]
    return _write(tmp, [(10, 80, 64), (11, 64, 80), (12, 64, 64)], anns, **kw)


# ---------------------------------------------------------------------------------------------- real samples
def test_coco_sample_counts_masks_and_shapes(shared_data: Path) -> None:
    root = shared_data / "coco-sample"
    ds = KeypointDataset(root / "person_keypoints.json", root / "images", input_size=128, seed=0)
    assert ds.skeleton is COCO and len(ds) == 4
    assert ds.image_ids == [785, 40083, 196141, 197388]
    people = [len(r.joints) for r in ds._records]
    assert people == [1, 2, 4, 5]  # 14 annotations, of which 2 have no keypoints
    # the two zero-keypoint persons (polygons, areas 491 and 286 px) are the ignored regions
    ignored = []
    for i, iid in enumerate(ds.image_ids):
        img = ds.read_image(iid)
        assert img.ndim == 3 and img.shape[2] == 3
        ignored.append(int((ds.ignore_mask(i, *img.shape[:2]) == 0).sum()))
    assert ignored[0] == 0 and ignored[3] == 0
    assert 400 < ignored[1] < 600 and 230 < ignored[2] < 350
    assert ds.image_path(785).name == "000000000785.jpg"
    sample = ds[1]
    assert sample["image"].shape == (3, 128, 128) and sample["image"].dtype == torch.float32
    assert [h.shape for h in sample["heatmaps"]] == [(17, 32, 32), (17, 64, 64)]
    assert [m.shape for m in sample["masks"]] == [(32, 32), (64, 64)]
    assert [j.shape for j in sample["joints"]] == [(30, 17, 2), (30, 17, 2)]
    assert all(j.dtype == torch.int64 for j in sample["joints"]) and sample["image_id"] == 40083
    assert len(ds.coco.getAnnIds()) == 14


def test_coco_sample_validation_targets_match_the_affine(shared_data: Path) -> None:
    root = shared_data / "coco-sample"
    ds = KeypointDataset(root / "person_keypoints.json", root / "images", input_size=128, train=False)
    i = ds.image_ids.index(197388)
    sample, again = ds[i], ds[i]
    assert torch.equal(sample["image"], again["image"])  # validation is deterministic
    img = ds.read_image(197388)
    h, w = img.shape[:2]
    m = training_affine((w / 2, h / 2), min(w, h) / 200, 0.0, 32)
    joints = ds._records[i].joints
    xy = apply_affine(joints[..., :2], m)
    inside = (joints[..., 2] > 0) & (xy >= 0).all(-1) & (xy < 32).all(-1)
    assert int(sample["joints"][0][..., 1].sum()) == int(inside.sum())
    for n, k in zip(*np.nonzero(inside), strict=True):
        x, y = (int(v) for v in xy[n, k])
        assert sample["heatmaps"][0][k, y, x] == 1.0
    # the whole crop is inside the image: nothing padded, no crowd here -> all used
    assert sample["masks"][0].min() == 1.0
    # the image is the normalised RGB crop (not BGR)
    crop = cv2.warpAffine(img, training_affine((w / 2, h / 2), min(w, h) / 200, 0.0, 128), (128, 128))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = (crop / 255.0 - mean) / std
    np.testing.assert_allclose(sample["image"].permute(1, 2, 0).numpy(), expected, atol=1e-4)


def test_crowdpose_sample_all_ones_mask_and_people(shared_data: Path) -> None:
    root = shared_data / "crowdpose-sample"
    ds = KeypointDataset(root / "crowdpose_keypoints.json", root / "images", input_size=64, seed=1)
    assert ds.skeleton is CROWDPOSE and len(ds) == 2
    assert [len(r.joints) for r in ds._records] == [2, 2]  # the 0-keypoint person has no slot
    for i, iid in enumerate(ds.image_ids):  # no segmentations: nothing ignored (official)
        img = ds.read_image(iid)
        assert ds.ignore_mask(i, *img.shape[:2]).all()
    s = ds[0]
    assert [h.shape[0] for h in s["heatmaps"]] == [14, 14]
    assert ds.coco.imgs[106848]["crowdIndex"] == pytest.approx(0.33)
    assert ds.mask_mode == "none"


# ------------------------------------------------------------------------------------------ synthetic data
def test_custom_skeleton_collate_and_workers(tmp_path: Path) -> None:
    ann = _simple(tmp_path)
    ds = KeypointDataset(ann, tmp_path / "images", input_size=64, max_people=4, seed=3)
    assert ds.skeleton.keypoint_names == tuple(NAMES) and ds.skeleton.flip_index == (0, 1, 3, 2)
    assert ds.image_ids == [10, 11]  # image 12 has no annotation: not trained on
    assert KeypointDataset(ann, tmp_path / "images", train=False, input_size=64).image_ids == [10, 11, 12]
    loader = DataLoader(ds, batch_size=2, num_workers=2)
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 3, 64, 64)
    assert [h.shape for h in batch["heatmaps"]] == [(2, 4, 16, 16), (2, 4, 32, 32)]
    assert [m.shape for m in batch["masks"]] == [(2, 16, 16), (2, 32, 32)]
    assert [j.shape for j in batch["joints"]] == [(2, 4, 4, 2), (2, 4, 4, 2)]
    assert batch["image_id"].tolist() == [10, 11]
    # seeded augmentation: a function of (seed, epoch, index), whichever process computes it
    torch.testing.assert_close(batch["image"][1], ds[1]["image"])
    ds.set_epoch(1)
    assert not torch.equal(batch["image"][1], ds[1]["image"])


def test_unseeded_augmentation_follows_torch_rng(tmp_path: Path) -> None:
    ds = KeypointDataset(_simple(tmp_path), tmp_path / "images", input_size=64)
    torch.manual_seed(0)
    a = ds[0]["image"]
    torch.manual_seed(0)
    assert torch.equal(a, ds[0]["image"])
    assert not torch.equal(a, ds[0]["image"])


def test_flip_swaps_left_and_right(tmp_path: Path) -> None:
    ann = _simple(tmp_path)
    still = AugmentConfig(max_rotation=0, min_scale=1, max_scale=1, max_translate=0, flip_prob=0.0)
    flipped = AugmentConfig(max_rotation=0, min_scale=1, max_scale=1, max_translate=0, flip_prob=1.0)
    a = KeypointDataset(ann, tmp_path / "images", input_size=64, augment=still, seed=0)[1]
    b = KeypointDataset(ann, tmp_path / "images", input_size=64, augment=flipped, seed=0)[1]
    torch.testing.assert_close(b["image"], a["image"].flip(-1))
    # left_hand (2) and right_hand (3) trade channels; x <- r-1-x moves the truncated peak by <= 1 px
    for k, k_flip in ((2, 3), (3, 2), (0, 0)):
        ya, xa = divmod(int(a["heatmaps"][0][k].argmax()), 16)
        yb, xb = divmod(int(b["heatmaps"][0][k_flip].argmax()), 16)
        assert yb == ya and abs(xb - (15 - xa)) <= 1


def test_grayscale_and_rgba_images_load_as_rgb(tmp_path: Path) -> None:
    for mode in ("gray", "rgba"):
        d = tmp_path / mode
        d.mkdir()
        ds = KeypointDataset(_simple(d, mode=mode), d / "images", input_size=64, train=False)
        assert ds.read_image(10).shape == (64, 80, 3)
        assert ds[0]["image"].shape == (3, 64, 64)


def test_crowd_rle_and_zero_keypoint_polygons_are_ignored(tmp_path: Path) -> None:
    h, w = 64, 96
    crowd = np.zeros((h, w), np.uint8, order="F")
    crowd[5:25, 60:90] = 1
    rle = mask_utils.encode(np.asfortranarray(crowd))
    rle["counts"] = rle["counts"].decode("ascii")
    polygon = [[5.0, 40.0, 30.0, 40.0, 30.0, 60.0, 5.0, 60.0]]
    anns = [_person(1, 1, [(40, 10), (40, 20), (30, 30), (50, 30)]),
            {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": rle, "keypoints": [0] * 12,
             "num_keypoints": 0, "bbox": [60, 5, 30, 20], "area": 600},
            {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": polygon,
             "keypoints": [0] * 12, "num_keypoints": 0, "bbox": [5, 40, 25, 20], "area": 500},
            # an uncompressed RLE crowd region (counts as a list)
            {"id": 4, "image_id": 2, "category_id": 1, "iscrowd": 1,
             "segmentation": {"size": [h, w], "counts": [h * 10, h * 5, h * (w - 15)]},
             "keypoints": [0] * 12, "num_keypoints": 0, "bbox": [10, 0, 5, h], "area": 5 * h}]
    ann = _write(tmp_path, [(1, w, h), (2, w, h)], anns)
    ds = KeypointDataset(ann, tmp_path / "images", input_size=64, train=False)
    m = ds.ignore_mask(0, h, w)
    assert not m[5:25, 60:90].any() and not m[41:59, 6:29].any()
    assert m[30:38].all() and m[:, 35:55].all()
    m2 = ds.ignore_mask(1, h, w)
    assert not m2[:, 10:15].any() and m2[:, :10].all() and m2[:, 15:].all()
    assert [len(r.joints) for r in ds._records] == [1, 0]
    sample = ds[0]
    small = sample["masks"][0]
    assert small.min() == 0.0 and small.max() == 1.0



def _crowd_scene(tmp: Path, names: list[str], *, crowd_index: bool) -> Path:
    """One 64x48 image: a person, a crowd RLE (x 40..60, y 5..25) and a zero-keypoint polygon person."""
    h, w, j = 48, 64, len(names)
    crowd = np.zeros((h, w), np.uint8, order="F")
    crowd[5:25, 40:60] = 1
    rle = mask_utils.encode(np.asfortranarray(crowd))
    rle["counts"] = rle["counts"].decode("ascii")
    kps = []
    for k in range(j):
        kps += [10 + k, 10 + k, 2]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "keypoints": kps, "num_keypoints": j,
             "bbox": [10, 10, j, j]},
            {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": rle, "keypoints": [0] * 3 * j,
             "num_keypoints": 0, "bbox": [40, 5, 20, 20]},
            {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "keypoints": [0] * 3 * j, "num_keypoints": 0,
             "segmentation": [[2.0, 30.0, 20.0, 30.0, 20.0, 45.0, 2.0, 45.0]], "bbox": [2, 30, 18, 15]}]
    ann = _write(tmp, [(1, w, h)], anns, category={"id": 1, "name": "person", "keypoints": names})
    if crowd_index:
        data = json.loads(ann.read_text())
        for img in data["images"]:
            img["crowdIndex"] = 0.5
        ann.write_text(json.dumps(data))
    return ann


def test_mask_mode_crowdpose_is_all_ones_and_coco_can_be_forced(tmp_path: Path) -> None:
    # A CrowdPose-14 skeleton (no crowdIndex): the official CrowdPose dataset ignores nothing.
    ann = _crowd_scene(tmp_path, list(CROWDPOSE.keypoint_names), crowd_index=False)
    ds = KeypointDataset(ann, tmp_path / "images", input_size=64, train=False)
    assert ds.skeleton is CROWDPOSE and ds.mask_mode == "none"
    assert ds.ignore_mask(0, 48, 64).all()
    assert all(m.min() == 1.0 for m in ds[0]["masks"])  # the 48x48 centre crop lies inside the image
    forced = KeypointDataset(ann, tmp_path / "images", input_size=64, train=False, mask_mode="coco")
    m = forced.ignore_mask(0, 48, 64)
    assert not m[5:25, 40:60].any() and not m[31:44, 3:19].any() and m[:, 25:38].all()
    assert all(m.min() == 0.0 for m in forced[0]["masks"])
    # crowdIndex on the images selects "none" for any skeleton; without it a custom skeleton gets "coco".
    d2, d3 = tmp_path / "ci", tmp_path / "plain"
    d2.mkdir()
    d3.mkdir()
    with_ci = KeypointDataset(_crowd_scene(d2, NAMES, crowd_index=True), d2 / "images", input_size=64, train=False)
    assert with_ci.mask_mode == "none" and with_ci.ignore_mask(0, 48, 64).all()
    plain = KeypointDataset(_crowd_scene(d3, NAMES, crowd_index=False), d3 / "images", input_size=64, train=False)
    assert plain.mask_mode == "coco" and not plain.ignore_mask(0, 48, 64)[5:25, 40:60].any()
    none = KeypointDataset(_crowd_scene(d3, NAMES, crowd_index=False), d3 / "images", input_size=64, train=False,
                           mask_mode="none")
    assert none.ignore_mask(0, 48, 64).all()
    with pytest.raises(ValueError, match="mask_mode"):
        KeypointDataset(ann, tmp_path / "images", mask_mode="crowdpose")


def test_keypoints_stay_float64_to_the_targets(tmp_path: Path) -> None:
    # 64x64 image, validation crop: the stride-4/2 maps are x/4 and x/2 exactly. float32(63.9999999) == 64.0
    # would push the joint off both maps; the official float64 truncation keeps it on the last column.
    ann = _write(tmp_path, [(1, 64, 64)], [_person(1, 1, [(63.9999999, 30), (10, 10), (20, 20), (30, 30)])])
    ds = KeypointDataset(ann, tmp_path / "images", input_size=64, train=False)
    joints = ds._records[0].joints
    assert joints.dtype == np.float64 and joints[0, 0, 0] == 63.9999999
    sample = ds[0]
    for hm, packed, res in zip(sample["heatmaps"], sample["joints"], (16, 32), strict=True):
        y = 30 * res // 64
        assert hm[0, y, res - 1] == 1.0
        assert packed[0, 0].tolist() == [y * res + res - 1, 1]


def test_more_than_max_people_keeps_the_largest_and_warns_once(tmp_path: Path) -> None:
    anns = []
    for i in range(6):  # people of growing size side by side; person 1 is the largest
        size = 3 + i if i != 1 else 20
        x = 5 + 10 * i
        anns.append(_person(i + 1, 1, [(x, 5), (x, 5 + size), (x - 2, 10 + size), (x + 2, 10 + size)],
                            box=(x - 2, 5, 4, 5 + size)))
    ann = _write(tmp_path, [(1, 64, 64)], anns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = KeypointDataset(ann, tmp_path / "images", input_size=64, max_people=3, train=False)
        sample = ds[0]
        ds[0]
    crowded = [w for w in caught if "max_people" in str(w.message)]
    assert len(crowded) == 1
    assert ds._records[0].keep.tolist() == [1, 4, 5]  # the three largest, in annotation order
    packed = sample["joints"][1]
    assert packed.shape == (3, 4, 2) and packed[..., 1].sum() == 12
    # every person stays in the heatmaps: six peaks on the head channel (stride 2 = same pixels /2)
    assert int((sample["heatmaps"][1][0] == 1.0).sum()) == 6


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda a: a[1].pop("keypoints"), "annotation id=2 (image_id=10): missing 'keypoints'"),
    (lambda a: a[2].update(keypoints=[1, 2, 2] * 17), "annotation id=3 (image_id=11): 'keypoints' has 51 values"),
    (lambda a: a[0].pop("image_id"), "annotation id=1 (image_id=None): missing or non-integer 'image_id'"),
    (lambda a: a[0].update(image_id=99), "'image_id' refers to no image"),
    (lambda a: a[1].update(keypoints=[float("nan")] * 12), "annotation id=2 (image_id=10): 'keypoints' must be finite"),
    (lambda a: a[1].pop("id"), "annotation #1 (image_id=10): missing or non-integer 'id'"),
])
def test_bad_annotations_name_the_file_and_id(tmp_path: Path, mutate: Any, needle: str) -> None:
    ann = _simple(tmp_path)
    data = json.loads(ann.read_text())
    mutate(data["annotations"])
    ann.write_text(json.dumps(data))
    with pytest.raises(DatasetError) as err:
        KeypointDataset(ann, tmp_path / "images")
    assert needle in str(err.value) and str(ann) in str(err.value)


def test_skip_bad_counts_and_warns_once(tmp_path: Path) -> None:
    ann = _simple(tmp_path)
    data = json.loads(ann.read_text())
    data["annotations"][2]["keypoints"] = [1, 2, 2]  # image 11 holds a bad annotation
    data["annotations"].append(_person(9, 12, [(5, 5), (5, 9), (3, 12), (7, 12)]))
    ann.write_text(json.dumps(data))
    (tmp_path / "images" / "0012.png").unlink()  # image 12's file is missing
    with pytest.raises(DatasetError, match=r"annotation id=3 .* \(and 1 more problem\(s\)\); pass skip_bad"):
        KeypointDataset(ann, tmp_path / "images", input_size=64)
    with pytest.warns(UserWarning, match="skip_bad") as record:
        ds = KeypointDataset(ann, tmp_path / "images", input_size=64, skip_bad=True)
    assert len([w for w in record if "skip_bad" in str(w.message)]) == 1
    assert ds.image_ids == [10]
    assert ds.skipped == {"annotations": 1, "images": 2}
    assert 11 not in ds.coco.imgs and 12 not in ds.coco.imgs and ds[0]["image_id"] == 10


def test_unreadable_image_errors_or_is_skipped(tmp_path: Path) -> None:
    ann = _simple(tmp_path)
    (tmp_path / "images" / "0010.png").write_bytes(b"not a png")
    ds = KeypointDataset(ann, tmp_path / "images", input_size=64)
    with pytest.raises(DatasetError, match=r"image id=10: cannot read image file .*0010\.png"):
        ds[0]
    ds = KeypointDataset(ann, tmp_path / "images", input_size=64, skip_bad=True)
    with pytest.warns(UserWarning, match="cannot read"):
        sample = ds[0]
    assert sample["image_id"] == 11 and ds.skipped["unreadable"] == 1


def test_missing_files_and_wrong_skeleton(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        KeypointDataset(tmp_path / "nope.json", tmp_path)
    ann = _simple(tmp_path)
    (tmp_path / "images" / "0011.png").unlink()
    with pytest.raises(DatasetError, match=r"ann\.json: image id=11: file not found: .*0011\.png"):
        KeypointDataset(ann, tmp_path / "images")
    ann = _simple(tmp_path)
    with pytest.raises(DatasetError, match="4 keypoints but skeleton 'coco' has 17"):
        KeypointDataset(ann, tmp_path / "images", COCO)
    ann.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        KeypointDataset(ann, tmp_path / "images")
    with pytest.raises(ValueError, match="multiple"):
        KeypointDataset(_simple(tmp_path), tmp_path / "images", input_size=66)


# ------------------------------------------------------------------------------------------ dataset YAML
def test_dataset_yaml_inline_skeleton_and_relative_paths(tmp_path: Path) -> None:
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    (cfg_dir / "data.yaml").write_text(
        "name: toy\n"
        "train: {ann_file: ../ann.json, image_dir: ../images}\n"
        "val: {ann_file: /abs/val.json, image_dir: imgs}\n"
        "skeleton:\n"
        "  keypoint_names: [head, neck, left_hand, right_hand]\n"
        "  flip_pairs: [[2, 3]]\n"
        "  oks_sigmas: [0.08, 0.08, 0.06, 0.06]\n"
        "  limbs: [[0, 1], [1, 2], [1, 3]]\n")
    cfg = load_dataset_config(cfg_dir / "data.yaml")
    assert cfg.name == "toy" and cfg.train is not None and cfg.val is not None
    assert cfg.train.ann_file == cfg_dir / "../ann.json" and cfg.val.ann_file == Path("/abs/val.json")
    assert cfg.val.image_dir == cfg_dir / "imgs"
    assert cfg.skeleton is not None and cfg.skeleton.flip_index == (0, 1, 3, 2)
    assert cfg.skeleton.limbs == ((0, 1), (1, 2), (1, 3))
    # and it drives a dataset
    _simple(tmp_path)
    ds = KeypointDataset(cfg.train.ann_file, cfg.train.image_dir, cfg.skeleton, input_size=64)
    assert ds.skeleton is cfg.skeleton


def test_dataset_yaml_builtin_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "d.yaml"
    p.write_text("val: {ann_file: a.json, image_dir: im}\nskeleton: crowdpose\n")
    cfg = load_dataset_config(p)
    assert cfg.skeleton is CROWDPOSE and cfg.train is None and cfg.name == "d"
    p.write_text("train: {ann_file: a.json, image_dir: im}\n")
    assert load_dataset_config(p).skeleton is None
    for text, needle in [
        ("train: {ann_file: a.json, image_dir: im}\nimages: x\n", "unknown key 'images'"),
        ("train: {ann_file: a.json, image_dir: im, sigma: 2}\n", "unknown key 'train.sigma'"),
        ("train: {ann_file: a.json}\n", "'train.image_dir'"),
        ("name: x\n", "at least one of 'train' and 'val'"),
        ("train: {ann_file: a.json, image_dir: im}\nskeleton: {keypoint_names: [a, b], colour: red}\n", "colour"),
        ("train: {ann_file: a.json, image_dir: im}\nskeleton: nosuch.yaml\n", "nosuch.yaml"),
        ("train: {ann_file: a.json, image_dir: [im\n", "not valid YAML"),
    ]:
        p.write_text(text)
        with pytest.raises((ValueError, FileNotFoundError)) as err:
            load_dataset_config(p)
        assert needle in str(err.value) and str(p) in str(err.value)


def test_truncated_jpeg_is_an_error_naming_the_file_and_id_or_is_skipped(tmp_path: Path) -> None:
    # cv2.imread decodes a truncated JPEG with grey rows and only a printed warning: training used it
    from litepose.data.synthetic import SynthConfig, synthesize

    config = SynthConfig(image_size=(96, 80), min_people=1, max_people=1, min_height=40.0, max_height=70.0,
                         crowd_prob=0.0)
    ann = synthesize(tmp_path, 3, "coco", seed=3, config=config).annotation_path
    image = json.loads(ann.read_text())["images"][1]
    path = tmp_path / "images" / image["file_name"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])

    ds = KeypointDataset(ann, tmp_path / "images", input_size=64)
    pattern = rf"image id={image['id']}: cannot read image file .*{path.name}.*truncated"
    with pytest.raises(DatasetError, match=pattern):
        [ds[i] for i in range(len(ds))]
    with pytest.raises(DatasetError, match=pattern):
        ds.read_image(image["id"])
    ds = KeypointDataset(ann, tmp_path / "images", input_size=64, skip_bad=True)
    with pytest.warns(UserWarning, match=pattern):
        ids = [ds[i]["image_id"] for i in range(len(ds))]
    assert image["id"] not in ids and ds.skipped["unreadable"] == 1

"""Synthetic crowds: body model, renderer, COCO writer, determinism and the ``litepose synth`` CLI."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from litepose.cli import main as cli_main
from litepose.data import synthetic as synth
from litepose.skeleton import COCO, CROWDPOSE, Skeleton

SMALL = synth.SynthConfig(image_size=(160, 128), min_people=3, max_people=8, min_height=20.0)


def _render(n: int, skeleton: Skeleton = COCO, config: synth.SynthConfig = SMALL) -> list[synth.SynthImage]:
    return [synth.render_image(config, skeleton, 7, i) for i in range(n)]


def _point(body: synth.Body, name: str) -> np.ndarray:
    return body.points[synth.ANATOMY.index(name)]


def test_body_has_human_proportions_and_joint_limits() -> None:
    rng = np.random.default_rng(0)
    h = 100.0
    for _ in range(300):
        body = synth.sample_body(rng, h)
        p = {n: _point(body, n) for n in synth.ANATOMY}
        for side in ("left", "right"):
            upper = p[f"{side}_elbow"] - p[f"{side}_shoulder"]
            fore = p[f"{side}_wrist"] - p[f"{side}_elbow"]
            thigh = p[f"{side}_knee"] - p[f"{side}_hip"]
            shank = p[f"{side}_ankle"] - p[f"{side}_knee"]
            # 3D segment lengths: fractions of the height (±5 % jitter)
            assert 0.17 * h * 0.94 <= np.linalg.norm(upper) <= 0.17 * h * 1.06
            assert 0.15 * h * 0.94 <= np.linalg.norm(fore) <= 0.15 * h * 1.06
            assert 0.245 * h * 0.94 <= np.linalg.norm(thigh) <= 0.245 * h * 1.06
            assert np.linalg.norm(shank) == pytest.approx(np.linalg.norm(thigh))
            # projection never lengthens a bone
            assert np.linalg.norm(upper[:2]) <= np.linalg.norm(upper) + 1e-9
            # elbows and knees bend at most 150 degrees
            for a, b in ((upper, fore), (thigh, shank)):
                cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
                assert np.degrees(np.arccos(np.clip(cos, -1, 1))) <= 150.0 + 1e-6
        assert np.linalg.norm(p["left_shoulder"] - p["right_shoulder"]) == pytest.approx(0.22 * h, rel=0.06)
        assert np.linalg.norm(p["left_hip"] - p["right_hip"]) == pytest.approx(0.17 * h)
        assert p["nose"][1] < max(p["left_hip"][1], p["right_hip"][1])  # nobody stands on the head


def test_standing_person_spans_its_height_and_knees_bend_backwards() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        body = synth.sample_body(rng, 200.0, pose="standing", yaw=0.0)
        top = _point(body, "head_top")[1]
        sole = max(_point(body, "left_ankle")[1], _point(body, "right_ankle")[1])
        assert top == body.points[:, 1].min()  # the head top is the highest point
        assert 0.88 * 200 <= sole - top <= 1.02 * 200
        # facing the camera, the person's left side is on the image's right
        assert _point(body, "left_shoulder")[0] > _point(body, "right_shoulder")[0]
    for pose in ("standing", "walking", "running", "sitting", "crouching", "free"):
        for _ in range(40):
            body = synth.sample_body(rng, 100.0, pose=pose, yaw=np.pi / 2)  # profile, facing +x
            for side in ("left", "right"):
                thigh = (_point(body, f"{side}_knee") - _point(body, f"{side}_hip"))[:2]
                shank = (_point(body, f"{side}_ankle") - _point(body, f"{side}_knee"))[:2]
                # seen from the side the shin turns backwards from the thigh (y is down), never forwards
                assert thigh[0] * shank[1] - thigh[1] * shank[0] >= -1e-6
    with pytest.raises(ValueError, match="unknown pose"):
        synth.sample_body(rng, 100.0, pose="flying")


def test_sample_pose_maps_skeletons_by_name() -> None:
    rng = np.random.default_rng(1)
    for sk in (COCO, CROWDPOSE):
        kp = synth.sample_pose(rng, sk, 120.0)
        assert kp.shape == (sk.num_keypoints, 2) and np.isfinite(kp).all()
    kp = synth.sample_pose(np.random.default_rng(2), CROWDPOSE, 120.0)
    head, neck = CROWDPOSE.keypoint_names.index("head"), CROWDPOSE.keypoint_names.index("neck")
    assert kp[head, 1] < kp[neck, 1]  # CrowdPose "head" is the top of the head
    custom = Skeleton.from_dict({"name": "mini", "keypoint_names": ["thorax", "l_wrist", "r_wrist", "Head"]})
    assert synth.anatomy_index(custom) == tuple(synth.ANATOMY.index(n) for n in
                                                ("neck", "left_wrist", "right_wrist", "head_top"))
    with pytest.raises(ValueError, match="'tail'"):
        synth.anatomy_index(Skeleton.from_dict({"name": "dog", "keypoint_names": ["nose", "tail"]}))


def test_keypoints_sit_on_the_drawn_body_and_flags_are_consistent() -> None:
    images = _render(10)
    joint_diff, bg_diff, flags = [], [], []
    cut = 0
    for s in images:
        h, w = s.image.shape[:2]
        # local mean colour change against the background (3x3, all channels)
        diff = cv2.blur(np.abs(s.image.astype(np.int16) - s.background.astype(np.int16)).mean(2)
                        .astype(np.float32), (3, 3))
        bg_diff.extend(diff[s.id_map == 0].tolist())
        for person in s.people:
            kp = person.keypoints
            flags.extend(kp[:, 2].tolist())
            assert (kp[kp[:, 2] == 0, :2] == 0).all()  # COCO: unlabelled joints are (0, 0, 0)
            on = kp[:, 2] > 0
            assert ((kp[on, 0] >= 0) & (kp[on, 0] <= w - 1) & (kp[on, 1] >= 0) & (kp[on, 1] <= h - 1)).all()
            cut += int((kp[:, 2] == 0).any())
            for x, y, v in kp:
                if v == 2:
                    joint_diff.append(diff[round(y), round(x)])
            x, y, bw, bh = person.bbox
            assert person.area > 0 and bw > 0 and bh > 0
            assert (kp[on, 0] >= x).all() and (kp[on, 0] <= x + bw).all()
    assert set(flags) == {0.0, 1.0, 2.0}  # outside, covered and visible all occur
    assert cut >= 3  # people cut by the image border
    joint_diff_arr, bg_diff_arr = np.array(joint_diff), np.array(bg_diff)
    assert len(joint_diff_arr) > 100
    assert (joint_diff_arr > 15).mean() > 0.9, "visible joints must lie on drawn limbs"
    assert (bg_diff_arr > 15).mean() < 0.1, "away from people the image is the background"


def test_covered_joints_are_under_another_drawing() -> None:
    covered = visible_other = 0
    for s in _render(10):
        owners = s.id_map >> 5
        for person in s.people:
            kp = person.keypoints
            vis = kp[kp[:, 2] == 2]
            pid = np.bincount(owners[np.rint(vis[:, 1]).astype(int), np.rint(vis[:, 0]).astype(int)]).argmax()
            for x, y, v in kp:
                owner = owners[round(y), round(x)]
                if v == 1 and owner not in (pid, 0):
                    covered += 1
                if v == 2:
                    visible_other += int(owner != pid)
    assert covered > 20  # mutual occlusion happens and is flagged v=1
    assert visible_other == 0  # a v=2 joint always shows its own person


def _json_and_images(root: Path) -> tuple[bytes, dict[str, bytes]]:
    return ((root / "annotations.json").read_bytes(),
            {p.name: p.read_bytes() for p in sorted((root / "images").iterdir())})


def test_generate_dataset_is_deterministic(tmp_path: Path) -> None:
    kw = {"image_size": (128, 96), "max_people": 6, "min_height": 20.0}
    a = synth.generate_dataset(tmp_path / "a", 4, "coco", seed=3, **kw)
    b = synth.generate_dataset(tmp_path / "b", 4, "coco", seed=3, **kw)
    c = synth.generate_dataset(tmp_path / "c", 4, "coco", seed=4, **kw)
    assert a == tmp_path / "a" / "annotations.json"
    ja, ia = _json_and_images(a.parent)
    jb, ib = _json_and_images(b.parent)
    jc, ic = _json_and_images(c.parent)
    assert ja == jb and ia == ib
    assert ja != jc and all(ia[k] != ic[k] for k in ia)
    assert sorted(ia) == [f"{i:012d}.jpg" for i in range(1, 5)]
    assert not [p for p in (tmp_path / "a").rglob("*") if p.name.endswith(".tmp")]


def test_workers_do_not_change_the_output(tmp_path: Path) -> None:
    kw = {"image_size": (96, 96), "max_people": 4, "min_height": 20.0}
    synth.generate_dataset(tmp_path / "one", 4, "crowdpose", seed=5, workers=1, **kw)
    synth.generate_dataset(tmp_path / "two", 4, "crowdpose", seed=5, workers=2, **kw)
    assert _json_and_images(tmp_path / "one") == _json_and_images(tmp_path / "two")


def _perfect_detections(anns: list[dict]) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": 1, "score": 1.0,
             "keypoints": [float(x) if i % 3 != 2 else 1.0 for i, x in enumerate(a["keypoints"])]}
            for a in anns if not a["iscrowd"]]


def test_coco_json_loads_in_pycocotools_and_evaluates(tmp_path: Path) -> None:
    from pycocotools.coco import COCO as CocoApi
    from pycocotools.cocoeval import COCOeval

    path = synth.generate_dataset(tmp_path, 5, "coco", seed=11, image_size=(160, 128), max_people=8,
                                  min_height=20.0, crowd_prob=1.0)
    raw = json.loads(path.read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        gt = CocoApi(str(path))
    cat = gt.loadCats(1)[0]
    assert cat["keypoints"] == list(COCO.keypoint_names)
    assert cat["skeleton"] == [[a + 1, b + 1] for a, b in COCO.limbs]
    assert len(gt.getImgIds()) == 5
    for img in gt.loadImgs(gt.getImgIds()):
        assert (tmp_path / "images" / img["file_name"]).is_file()
        assert (img["width"], img["height"]) == (160, 128) and "crowdIndex" not in img
    people = gt.loadAnns(gt.getAnnIds(iscrowd=False))
    crowds = gt.loadAnns(gt.getAnnIds(iscrowd=True))
    assert len(people) >= 10 and len(crowds) >= 1
    for a in people:
        kp = np.array(a["keypoints"]).reshape(-1, 3)
        assert kp.shape == (17, 3) and a["num_keypoints"] == int((kp[:, 2] > 0).sum())
        assert a["category_id"] == 1 and isinstance(a["segmentation"], list) and a["area"] > 0
        assert gt.annToMask(a).sum() == a["area"]  # COCO: area is the segmentation's area
    for a in crowds:  # iscrowd blob: compressed RLE that decodes to its area, no keypoints
        assert isinstance(a["segmentation"]["counts"], str) and a["num_keypoints"] == 0
        assert a["segmentation"]["size"] == [128, 160]
        assert gt.annToMask(a).sum() == a["area"] >= 50
    assert raw["info"]["seed"] == 11 and raw["licenses"]

    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(_perfect_detections(raw["annotations"])), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_crowdpose_json_has_crowd_index_and_evaluates_with_xtcocotools(tmp_path: Path) -> None:
    xt_coco = pytest.importorskip("xtcocotools.coco")
    xt_eval = pytest.importorskip("xtcocotools.cocoeval")
    path = synth.generate_dataset(tmp_path, 4, "crowdpose", seed=2, image_size=(160, 128), max_people=8,
                                  min_height=20.0, crowd_prob=0.5)
    raw = json.loads(path.read_text())
    assert all("crowdIndex" in im and im["crowdIndex"] >= 0 for im in raw["images"])
    assert any(im["crowdIndex"] > 0 for im in raw["images"])
    assert all("area" not in a for a in raw["annotations"])
    assert all(len(a["keypoints"]) == 42 for a in raw["annotations"])
    assert raw["categories"][0]["keypoints"] == list(CROWDPOSE.keypoint_names)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = xt_coco.COCO(str(path))
        ev = xt_eval.COCOeval(gt, gt.loadRes(_perfect_detections(raw["annotations"])), "keypoints_crowd",
                              sigmas=np.array(CROWDPOSE.oks_sigmas), use_area=False)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="min_people"):
        synth.SynthConfig(min_people=5, max_people=2)
    with pytest.raises(ValueError, match="image_size"):
        synth.SynthConfig(image_size=(8, 8))
    with pytest.raises(ValueError, match="crowd_prob"):
        synth.SynthConfig(crowd_prob=1.5)
    with pytest.raises(ValueError, match="num_images"):
        synth.generate_dataset("/nonexistent/never-written", 0)


def test_cli_writes_a_dataset(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    proc = subprocess.run(
        [sys.executable, "-m", "litepose", "synth", "--out", str(out), "--images", "3", "--seed", "1",
         "--size", "96x80", "--max-people", "4", "--min-height", "20", "--skeleton", "crowdpose"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 3 images" in proc.stdout and str(out / "annotations.json") in proc.stdout
    raw = json.loads((out / "annotations.json").read_text())
    assert len(raw["images"]) == 3 and len(list((out / "images").glob("*.jpg"))) == 3
    assert raw["images"][0]["width"] == 96 and raw["images"][0]["height"] == 80


@pytest.mark.parametrize(("argv", "message"), [
    (["--size", "12by5"], "--size"),
    (["--images", "0"], "--images"),
    (["--min-people", "5", "--max-people", "2"], "--min-people"),
    (["--skeleton", "no-such-skeleton.yaml"], "no-such-skeleton.yaml"),
    (["--size", "16x16"], "image_size"),
])
def test_cli_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                  message: str) -> None:
    assert cli_main(["synth", "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert "litepose synth: error:" in err and message in err and "Traceback" not in err
    assert not (tmp_path / "x" / "annotations.json").exists()


def test_cli_bad_argument_in_a_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "litepose", "synth", "--out", str(tmp_path), "--size", "abc"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--size" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_custom_skeleton_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "upper.yaml"
    spec.write_text("name: upper\nkeypoint_names: [head, neck, l_shoulder, r_shoulder, l_wrist, r_wrist]\n"
                    "limbs: [[0, 1], [1, 2], [1, 3], [2, 4], [3, 5]]\n")
    out = tmp_path / "ds"
    assert cli_main(["synth", "--out", str(out), "--images", "2", "--size", "96x96", "--skeleton", str(spec),
                     "--max-people", "3", "--min-height", "20", "--annotations", "train.json"]) == 0
    assert "wrote 2 images" in capsys.readouterr().out
    raw = json.loads((out / "train.json").read_text())
    assert raw["categories"][0]["keypoints"] == ["head", "neck", "l_shoulder", "r_shoulder", "l_wrist", "r_wrist"]
    assert raw["categories"][0]["skeleton"] == [[1, 2], [2, 3], [2, 4], [3, 5], [4, 6]]
    assert all(len(a["keypoints"]) == 18 for a in raw["annotations"])

"""litepose.skeleton: built-in layouts, skeleton files in every accepted form, and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from litepose.skeleton import (
    COCO,
    CROWDPOSE,
    Skeleton,
    get_skeleton,
    infer_flip_index,
    load_skeleton,
    skeleton_from_coco_category,
)


def test_builtins_by_name_and_joint_count() -> None:
    assert get_skeleton("COCO") is COCO and get_skeleton(14) is CROWDPOSE and load_skeleton("crowdpose") is CROWDPOSE
    assert COCO.flip_index[COCO.keypoint_names.index("left_wrist")] == COCO.keypoint_names.index("right_wrist")
    with pytest.raises(ValueError, match="no built-in skeleton has 5 keypoints"):
        get_skeleton(5)
    with pytest.raises(ValueError, match="unknown skeleton 'horse'"):
        get_skeleton("horse")


def test_flip_index_is_inferred_from_left_right_names() -> None:
    assert infer_flip_index(["head", "l_hand", "r_hand", "LeftFoot", "RightFoot"]) == (0, 2, 1, 4, 3)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_skeleton_file_round_trips(tmp_path: Path, suffix: str) -> None:
    original = Skeleton.from_dict({"name": "upper", "keypoint_names": ["head", "neck", "l_hand", "r_hand"],
                                   "limbs": [[0, 1], [1, 2], [1, 3]], "group_order": [1, 0, 2, 3]})
    assert original.flip_index == (0, 1, 3, 2) and original.anatomical_order == (1, 0, 2, 3)
    path = tmp_path / f"upper{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(original.to_dict()))
    else:
        import yaml

        path.write_text(yaml.safe_dump(original.to_dict()))
    assert load_skeleton(path) == original


def test_a_coco_annotation_file_gives_its_categorys_skeleton(tmp_path: Path) -> None:
    category = {"id": 1, "name": "hand", "keypoints": ["wrist", "thumb", "index"], "skeleton": [[1, 2], [1, 3]]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 2, "name": "bg"}, category]}))
    skeleton = load_skeleton(path)
    assert skeleton.name == "hand" and skeleton.limbs == ((0, 1), (0, 2))  # 1-based pairs become 0-based
    # a known layout is the built-in one, so the official grouping order and sigmas apply
    coco_category = {"name": "person", "keypoints": list(COCO.keypoint_names), "skeleton": [[16, 14]]}
    assert skeleton_from_coco_category(coco_category) is COCO


def test_null_fields_take_the_defaults() -> None:
    skeleton = Skeleton.from_dict({"keypoint_names": ["nose", "x"], "oks_sigmas": None, "limbs": None})
    assert skeleton.oks_sigmas[0] == COCO.oks_sigmas[0] and skeleton.limbs == ()


@pytest.mark.parametrize(("text", "needle"), [
    ("keypoint_names: [a, b\n", "not valid YAML"),
    ("- a\n- b\n", "must hold a mapping"),
    ("keypoint_names: [a, b]\ncolour: red\n", "unknown keys ['colour']"),
    ("keypoint_names: []\n", "'keypoint_names' must be a non-empty list"),
    ("keypoint_names: [a, b]\nlimbs: [0, 1]\n", "'limbs' is malformed"),
    ("keypoint_names: [a, b]\nflip_pairs: [[0, 5]]\n", "'flip_pairs' is malformed"),
    ("keypoint_names: [a, b]\noks_sigmas: [x, 0.1]\n", "'oks_sigmas' is malformed"),
    ("keypoint_names: [a, b]\nskeleton: [[1, 2, 3]]\n", "'skeleton' is malformed"),
    ("keypoint_names: [a, b]\nflip_index: [1, 1]\n", "flip_index must be a permutation"),
    ("keypoint_names: [a, b]\nlimbs: [[0, 2]]\n", "limb (0, 2) must join two different joints"),
])
def test_bad_skeleton_files_are_one_line_naming_the_file(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_skeleton(path)
    message = str(err.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_missing_file_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a built-in name"):
        load_skeleton(tmp_path / "nope.yaml")
    path = tmp_path / "bad.json"
    path.write_text("{")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: not valid JSON"):
        load_skeleton(path)

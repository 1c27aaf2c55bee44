"""Keypoint skeletons: joint names, flip index, OKS sigmas, limbs and grouping order.

Every dataset fact that the augmentation, the decoder, the evaluator and the drawing code need
lives in one frozen :class:`Skeleton`, passed explicitly. COCO-17 and CrowdPose-14 are built in;
custom skeletons come from a small YAML/JSON file or from a COCO json's ``categories`` entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litepose.config_io import read_yaml

__all__ = [
    "COCO",
    "CROWDPOSE",
    "Skeleton",
    "get_skeleton",
    "list_skeletons",
    "load_skeleton",
    "skeleton_from_coco_category",
]


@dataclass(frozen=True)
class Skeleton:
    """Facts about one keypoint layout.

    Attributes:
        name: short identifier (``"coco"``, ``"crowdpose"`` or a custom name).
        keypoint_names: one name per joint, in channel order.
        flip_index: ``flip_index[k]`` is the joint that joint ``k`` becomes after a horizontal flip.
        oks_sigmas: per-joint OKS sigmas (already divided by 10, as pycocotools uses them).
        limbs: pairs of joint indices drawn as bones.
        group_order: order in which the decoder's tag matching visits joints. For COCO and
            CrowdPose this is the official code's order; for CrowdPose that order is the COCO
            one truncated to 14 joints (reference §8.10), kept for parity.
        anatomical_order: an order that visits head/torso first and limbs outward; the decoder
            can use it instead of ``group_order`` (the fix for the CrowdPose order).
    """

    name: str
    keypoint_names: tuple[str, ...]
    flip_index: tuple[int, ...]
    oks_sigmas: tuple[float, ...]
    limbs: tuple[tuple[int, int], ...]
    group_order: tuple[int, ...]
    anatomical_order: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        k = len(self.keypoint_names)
        where = f"skeleton {self.name!r}"
        if k < 1:
            raise ValueError(f"{where}: needs at least one keypoint")
        if len(set(self.keypoint_names)) != k:
            raise ValueError(f"{where}: keypoint names must be unique")
        if sorted(self.flip_index) != list(range(k)):
            raise ValueError(f"{where}: flip_index must be a permutation of 0..{k - 1}, got {list(self.flip_index)}")
        for i, j in enumerate(self.flip_index):
            if self.flip_index[j] != i:
                raise ValueError(f"{where}: flip_index must be an involution (flip twice = identity); "
                                 f"joint {i} -> {j} -> {self.flip_index[j]}")
        if len(self.oks_sigmas) != k:
            raise ValueError(f"{where}: {len(self.oks_sigmas)} oks_sigmas for {k} keypoints")
        if not all(s > 0 for s in self.oks_sigmas):
            raise ValueError(f"{where}: oks_sigmas must be positive")
        for a, b in self.limbs:
            if not (0 <= a < k and 0 <= b < k) or a == b:
                raise ValueError(f"{where}: limb ({a}, {b}) must join two different joints in 0..{k - 1}")
        if sorted(self.group_order) != list(range(k)):
            raise ValueError(f"{where}: group_order must be a permutation of 0..{k - 1}")
        if not self.anatomical_order:
            object.__setattr__(self, "anatomical_order", self.group_order)
        elif sorted(self.anatomical_order) != list(range(k)):
            raise ValueError(f"{where}: anatomical_order must be a permutation of 0..{k - 1}")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "keypoint_names": list(self.keypoint_names),
            "flip_index": list(self.flip_index),
            "oks_sigmas": list(self.oks_sigmas),
            "limbs": [list(p) for p in self.limbs],
            "group_order": list(self.group_order),
            "anatomical_order": list(self.anatomical_order),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "skeleton") -> Skeleton:
        """Build a skeleton from a mapping; missing flip index is inferred from left_/right_ names."""
        known = {"name", "keypoint_names", "keypoints", "flip_index", "flip_pairs", "oks_sigmas",
                 "sigmas", "limbs", "skeleton", "group_order", "anatomical_order"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{source}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
        names = raw.get("keypoint_names", raw.get("keypoints"))
        if not isinstance(names, Sequence) or isinstance(names, str) or not names:
            raise ValueError(f"{source}: 'keypoint_names' must be a non-empty list of names")
        names = tuple(str(n) for n in names)
        fields = _skeleton_fields(raw, names, source)
        try:
            return cls(str(raw.get("name", "custom")), names, *fields)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None


def _skeleton_fields(raw: Mapping[str, Any], names: tuple[str, ...], source: str) -> tuple[Any, ...]:
    """flip_index, oks_sigmas, limbs, group_order and anatomical_order of a skeleton mapping, as tuples;
    a value of the wrong shape (a number where a pair belongs, a joint index past the end) names its key."""
    k = len(names)

    def convert(key: str, make: Any) -> Any:
        try:
            return make(raw[key])
        except (TypeError, ValueError, IndexError) as err:
            raise ValueError(f"{source}: {key!r} is malformed ({err}): {raw[key]!r}") from None

    def flip_from_pairs(pairs: Any) -> tuple[int, ...]:
        flip_list = list(range(k))
        for pair in pairs:
            a, b = (int(v) for v in pair)
            flip_list[a], flip_list[b] = b, a
        return tuple(flip_list)

    def int_pairs(pairs: Any, offset: int = 0) -> tuple[tuple[int, int], ...]:
        return tuple((int(a) - offset, int(b) - offset) for a, b in pairs)

    def ints(values: Any) -> tuple[int, ...]:
        return tuple(int(i) for i in values)

    def given(key: str) -> bool:  # a key set to null counts as left out
        return raw.get(key) is not None

    if given("flip_index"):
        flip = convert("flip_index", ints)
    elif given("flip_pairs"):
        flip = convert("flip_pairs", flip_from_pairs)
    else:
        flip = infer_flip_index(names)
    sigma_key = "oks_sigmas" if given("oks_sigmas") else "sigmas"
    sigmas = convert(sigma_key, lambda v: tuple(float(s) for s in v)) if given(sigma_key) else default_sigmas(names)
    limbs = convert("limbs", int_pairs) if given("limbs") else ()
    if given("skeleton"):  # COCO style: 1-based pairs
        limbs += convert("skeleton", lambda v: int_pairs(v, offset=1))
    order = convert("group_order", ints) if given("group_order") else tuple(range(k))
    anat = convert("anatomical_order", ints) if given("anatomical_order") else ()
    return flip, sigmas, limbs, order, anat


def infer_flip_index(names: Sequence[str]) -> tuple[int, ...]:
    """Pair joints whose names differ only by a left/right marker (``left_x``/``right_x``, ``l_x``/``r_x``)."""
    index = {n: i for i, n in enumerate(names)}
    swaps = (("left", "right"), ("Left", "Right"), ("l_", "r_"), ("L_", "R_"))
    flip = list(range(len(names)))
    for i, n in enumerate(names):
        for a, b in swaps:
            for x, y in ((a, b), (b, a)):
                if x in n:
                    other = n.replace(x, y, 1)
                    if other in index:
                        flip[i] = index[other]
                        break
            if flip[i] != i:
                break
    return tuple(flip)


def default_sigmas(names: Sequence[str]) -> tuple[float, ...]:
    """COCO sigmas for joints with a COCO name, else the mean COCO sigma (a neutral choice)."""
    coco = dict(zip(_COCO_NAMES, _COCO_SIGMAS, strict=True))
    mean = sum(_COCO_SIGMAS) / len(_COCO_SIGMAS)
    return tuple(coco.get(n, mean) for n in names)


_COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
_COCO_SIGMAS = tuple(s / 10.0 for s in (
    0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89,
))

COCO = Skeleton(
    name="coco",
    keypoint_names=_COCO_NAMES,
    flip_index=(0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15),
    oks_sigmas=_COCO_SIGMAS,
    # The COCO json's 1-based "skeleton", converted to 0-based pairs.
    limbs=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
           (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    # Official HeatmapParser order: head, shoulders, hips, then limbs.
    group_order=(0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16),
)

CROWDPOSE = Skeleton(
    name="crowdpose",
    keypoint_names=(
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck",
    ),
    flip_index=(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13),
    oks_sigmas=tuple(s / 10.0 for s in (0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89,
                                        0.89, 0.79, 0.79)),
    limbs=((12, 13), (13, 0), (13, 1), (0, 2), (2, 4), (1, 3), (3, 5), (0, 6), (1, 7), (6, 7), (6, 8),
           (8, 10), (7, 9), (9, 11)),
    # Official behaviour: the COCO order cut to 14 entries (reference §8.10). It is a valid
    # permutation by accident; head and neck (12, 13) come last.
    group_order=(0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13),
    # The fix: head and neck first, then shoulders and hips, then limbs outward.
    anatomical_order=(12, 13, 0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11),
)

_BUILTIN = {"coco": COCO, "crowdpose": CROWDPOSE}


def list_skeletons() -> list[str]:
    return sorted(_BUILTIN)


def get_skeleton(name_or_joints: str | int) -> Skeleton:
    """Built-in skeleton by name (``coco``/``crowdpose``) or by joint count (17/14)."""
    if isinstance(name_or_joints, int):
        for sk in _BUILTIN.values():
            if sk.num_keypoints == name_or_joints:
                return sk
        raise ValueError(f"no built-in skeleton has {name_or_joints} keypoints; built-in: "
                         f"{ {n: s.num_keypoints for n, s in _BUILTIN.items()} }")
    key = name_or_joints.lower()
    if key not in _BUILTIN:
        raise ValueError(f"unknown skeleton {name_or_joints!r}; choose from {list_skeletons()} "
                         "or give a YAML/JSON skeleton file")
    return _BUILTIN[key]


def skeleton_from_coco_category(category: Mapping[str, Any], *, name: str | None = None,
                                source: str = "COCO categories") -> Skeleton:
    """Skeleton from a COCO json ``categories`` entry (``keypoints`` names, 1-based ``skeleton``).

    Known layouts (COCO-17 and CrowdPose-14 by their joint names) return the built-in skeleton so
    the official grouping order and sigmas apply.
    """
    names = category.get("keypoints")
    if not names:
        raise ValueError(f"{source}: category {category.get('name', '?')!r} has no 'keypoints' list")
    for builtin in _BUILTIN.values():
        if tuple(names) == builtin.keypoint_names:
            return builtin
    raw: dict[str, Any] = {"name": name or str(category.get("name", "custom")), "keypoint_names": names}
    if category.get("skeleton"):
        raw["skeleton"] = category["skeleton"]
    return Skeleton.from_dict(raw, source=source)


def load_skeleton(spec: str | Path | Mapping[str, Any]) -> Skeleton:
    """A skeleton from a built-in name, a YAML/JSON file, or a mapping."""
    if isinstance(spec, Mapping):
        return Skeleton.from_dict(spec)
    text = str(spec)
    if text.lower() in _BUILTIN:
        return _BUILTIN[text.lower()]
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"skeleton {text!r}: not a built-in name ({list_skeletons()}) and no such file")
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
    else:
        raw = read_yaml(path)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: a skeleton file must hold a mapping")
    if "categories" in raw:  # a COCO annotation file
        cats = [c for c in raw["categories"] if c.get("keypoints")]
        if not cats:
            raise ValueError(f"{path}: no category with keypoints")
        return skeleton_from_coco_category(cats[0], source=str(path))
    return Skeleton.from_dict(raw, source=str(path))

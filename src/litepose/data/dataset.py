"""COCO-format keypoint datasets for training and validation (reference §4.1–4.3).

:class:`KeypointDataset` reads any COCO-format keypoint JSON (COCO-17, CrowdPose-14 with its
``crowdIndex`` and no ``area``, or a custom skeleton) through pycocotools and yields fixed-size
tensors, so PyTorch's default ``collate`` batches them.

Official behaviour kept: images are read with OpenCV (``IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION``,
which also turns grayscale and RGBA files into 3 channels) and converted to RGB, through
:func:`litepose.inference.preprocess.load_image`, the reader prediction uses (so a truncated or
corrupt file is an error naming it here too, never a partly grey training image); for training, images
without any annotation are dropped; annotations are kept if ``iscrowd == 0`` or ``num_keypoints > 0``;
the ignore mask (``mask_mode="coco"``) covers crowd regions (RLE or polygons) and the polygons of people
without keypoints; for CrowdPose (``mask_mode="none"``, chosen automatically for its JSON) it is all ones,
as the official CrowdPose dataset never ignores anything. Keypoints stay float64 from the JSON to the
target generators, as in the official code, so their truncation to pixels matches it.

Fixes of official bugs: more than ``max_people`` people no longer crashes (reference §8.13): every
person stays in the heatmaps and the largest ``max_people`` (by ``area``, else bbox area) get tag-loss
slots, with one warning per dataset. Bad input raises :class:`DatasetError` naming the file and the
annotation/image id, or with ``skip_bad=True`` is skipped and counted in :attr:`KeypointDataset.skipped`.

Randomness: each sample's augmentation comes from its own ``numpy.random.Generator``. With ``seed``
set, it is seeded from ``(seed, epoch, index)`` (call :meth:`KeypointDataset.set_epoch` every epoch), so
the data do not depend on the number of workers; without ``seed`` it is seeded from torch's RNG of
the calling process, which the DataLoader seeds per worker and per epoch.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from torch.utils.data import Dataset

from litepose.data.augment import AugmentConfig, random_affine_params, warp_sample
from litepose.data.targets import HEATMAP_CENTERS, pack_joints, render_heatmaps
from litepose.inference.preprocess import load_image
from litepose.skeleton import CROWDPOSE, Skeleton, skeleton_from_coco_category

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MASK_MODES", "DatasetError", "KeypointDataset"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MASK_MODES = ("coco", "none")

_MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)
_INV_STD_255 = (1.0 / (255.0 * np.array(IMAGENET_STD, dtype=np.float32))).astype(np.float32)
_MEAN_OVER_STD = (_MEAN / np.array(IMAGENET_STD, dtype=np.float32)).astype(np.float32)


class DatasetError(ValueError):
    """Bad annotation data or an unreadable image; the message names the file and the id."""


@dataclass(frozen=True)
class _Record:
    """What ``__getitem__`` needs about one image, precomputed at load time.

    ``joints`` holds the people with at least one labelled keypoint, ``(N, J, 3)`` float64 in original
    pixels;
    ``keep`` indexes the (at most ``max_people``) largest of them, who get tag-loss slots;
    ``mask_anns`` are the annotations whose regions are ignored (none with ``mask_mode="none"``).
    """

    image_id: int
    path: Path
    joints: np.ndarray
    keep: np.ndarray
    mask_anns: tuple[Mapping[str, Any], ...]


class KeypointDataset(Dataset):
    """A COCO-format keypoint dataset yielding network inputs and training targets.

    Args:
        ann_file: the annotation JSON.
        image_dir: folder the images' ``file_name`` entries are relative to.
        skeleton: the keypoint layout; ``None`` takes it from the JSON's keypoint category (COCO-17 and
            CrowdPose-14 are recognised by their joint names and get the built-in skeletons).
        input_size: side of the square network input ``S``.
        output_strides: strides of the output maps, the model's order (stride 4, then stride 2).
        train: random augmentation and the official training filter; ``False`` for validation (all
            images, a deterministic centre crop/pad whose side is the image's short side).
        augment: augmentation ranges (default: the official ones).
        max_people: tag-loss slots per image (official: 30).
        sigma: Gaussian sigma of the heatmaps at every output resolution (official: 2).
        heatmap_center: ``"truncated"`` (official: the Gaussian on the joint's truncated pixel) or
            ``"subpixel"`` (at its real position); see :mod:`litepose.data.targets`.
        skip_bad: skip (and count in :attr:`skipped`) bad annotations, images that hold one, and
            missing or unreadable image files, instead of raising :class:`DatasetError`.
        seed: makes the augmentation a function of ``(seed, epoch, index)``; see the module docstring.
        mask_mode: the ignore mask. ``"coco"``: crowd regions (RLE or polygons, or a crowd ``bbox`` without
            segmentation) and people with zero keypoints are ignored (official COCO); ``"none"``: all
            ones (official CrowdPose); ``None`` (default): ``"none"`` if the JSON's images carry
            ``crowdIndex`` or the skeleton is CrowdPose-14, else ``"coco"``. The mask's shape always comes
            from the decoded image, never from the JSON's ``width``/``height`` (some CrowdPose JSON
            releases swap them).

    Each item is a dict (shapes for ``S = input_size``, ``J`` joints, ``P = max_people``):

    * ``image``: float32 ``(3, S, S)``, RGB normalised with the ImageNet mean/std;
    * ``heatmaps``: tuple of float32 ``(J, S/4, S/4)`` and ``(J, S/2, S/2)``;
    * ``masks``: tuple of float32 ``(S/4, S/4)`` and ``(S/2, S/2)``, 1 = use, 0 = ignore;
    * ``joints``: tuple of int64 ``(P, J, 2)`` packed ``(k·r² + y·r + x, used)`` per resolution ``r``;
    * ``image_id``: int.

    Attributes:
        coco: the pycocotools ``COCO`` object (the cleaned annotations, for evaluation).
        image_ids: ids of the images this dataset yields, in order.
        skeleton: the keypoint layout.
        mask_mode: the resolved ignore-mask mode, ``"coco"`` or ``"none"``.
        skipped: counts of what ``skip_bad`` skipped: ``annotations``, ``images`` (dropped because of a
            bad annotation or a missing file) and ``unreadable`` (failed to decode while loading; counted
            in the process that read them).
    """

    def __init__(self, ann_file: str | Path, image_dir: str | Path, skeleton: Skeleton | None = None, *,
                 input_size: int = 256, output_strides: Sequence[int] = (4, 2), train: bool = True,
                 augment: AugmentConfig | None = None, max_people: int = 30, sigma: float = 2.0,
                 skip_bad: bool = False, seed: int | None = None, mask_mode: str | None = None,
                 heatmap_center: str = "truncated") -> None:
        self.ann_file = Path(ann_file)
        self.image_dir = Path(image_dir)
        if not self.ann_file.is_file():
            raise FileNotFoundError(f"annotation file not found: {self.ann_file}")
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"image folder not found: {self.image_dir} (for {self.ann_file})")
        strides = tuple(int(s) for s in output_strides)
        if input_size <= 0 or any(s <= 0 or input_size % s for s in strides):
            raise ValueError(f"input_size {input_size} must be a positive multiple of every output "
                             f"stride {strides}")
        if max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        if heatmap_center not in HEATMAP_CENTERS:
            raise ValueError(f"heatmap_center must be one of {HEATMAP_CENTERS}, got {heatmap_center!r}")
        if mask_mode is not None and mask_mode not in MASK_MODES:
            raise ValueError(f"mask_mode must be one of {MASK_MODES} or None (auto), got {mask_mode!r}")
        self.input_size = int(input_size)
        self.output_strides = strides
        self.output_sizes = tuple(self.input_size // s for s in strides)
        self.train = bool(train)
        self.augment = augment if augment is not None else AugmentConfig()
        self.max_people = int(max_people)
        self.sigma = float(sigma)
        self.heatmap_center = heatmap_center
        self.skip_bad = bool(skip_bad)
        self.seed = seed
        self.epoch = 0
        self.skipped: Counter[str] = Counter()
        self._warned_unreadable = False

        raw = self._load_json()
        self.skeleton = self._resolve_skeleton(raw, skeleton)
        self.mask_mode = mask_mode if mask_mode is not None else self._auto_mask_mode(raw)
        self.coco = self._build_coco(raw)
        self._records = self._build_records()
        self.image_ids = [r.image_id for r in self._records]
        self._index_of = {iid: i for i, iid in enumerate(self.image_ids)}
        if self.skipped:
            warnings.warn(f"{self.ann_file}: skip_bad skipped {dict(self.skipped)}", stacklevel=2)
        crowded = sum(len(r.joints) > self.max_people for r in self._records)
        if crowded:
            warnings.warn(f"{self.ann_file}: {crowded} image(s) have more than max_people="
                          f"{self.max_people} people; all stay in the heatmaps, the largest "
                          f"{self.max_people} get tag-loss slots", stacklevel=2)

    # ------------------------------------------------------------------ loading and validation
    def _load_json(self) -> dict[str, Any]:
        try:
            with self.ann_file.open("rb") as f:
                raw = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"{self.ann_file}: not valid JSON: {err}") from None
        if not isinstance(raw, dict):
            raise DatasetError(f"{self.ann_file}: the top level must be an object with 'images' and "
                               "'annotations'")
        for key in ("images", "annotations"):
            if not isinstance(raw.get(key), list):
                raise DatasetError(f"{self.ann_file}: missing or non-list field {key!r}")
        return raw

    def _resolve_skeleton(self, raw: Mapping[str, Any], skeleton: Skeleton | None) -> Skeleton:
        cats = [c for c in raw.get("categories") or [] if isinstance(c, Mapping) and c.get("keypoints")]
        self._kp_cat_ids = {c.get("id") for c in cats}
        if skeleton is None:
            if not cats:
                raise DatasetError(f"{self.ann_file}: no category with a 'keypoints' list; pass a skeleton")
            try:
                return skeleton_from_coco_category(cats[0], source=str(self.ann_file))
            except ValueError as err:
                raise DatasetError(str(err)) from None
        for c in cats:
            if len(c["keypoints"]) != skeleton.num_keypoints:
                raise DatasetError(f"{self.ann_file}: category id={c.get('id')} has "
                                   f"{len(c['keypoints'])} keypoints but skeleton {skeleton.name!r} "
                                   f"has {skeleton.num_keypoints}")
        return skeleton

    def _auto_mask_mode(self, raw: Mapping[str, Any]) -> str:
        """``"none"`` for CrowdPose (its images carry ``crowdIndex``, or the skeleton is CrowdPose-14)."""
        crowdpose_json = any(isinstance(img, Mapping) and "crowdIndex" in img for img in raw["images"])
        if crowdpose_json or self.skeleton.keypoint_names == CROWDPOSE.keypoint_names:
            return "none"
        return "coco"

    def _fail(self, message: str, n_more: int = 0) -> None:
        more = f" (and {n_more} more problem(s))" if n_more else ""
        raise DatasetError(f"{self.ann_file}: {message}{more}; pass skip_bad=True (--skip-bad) to "
                           "skip bad entries")

    def _build_coco(self, raw: dict[str, Any]) -> COCO:
        """Validate the raw JSON, drop (or reject) bad entries, and index the rest with pycocotools."""
        problems: list[str] = []
        images: dict[int, dict[str, Any]] = {}
        for pos, img in enumerate(raw["images"]):
            iid = img.get("id") if isinstance(img, Mapping) else None
            name = img.get("file_name") if isinstance(img, Mapping) else None
            if not _is_int(iid):
                problems.append(f"image #{pos}: missing or non-integer 'id'")
            elif not isinstance(name, str) or not name:
                problems.append(f"image id={iid}: missing 'file_name'")
            elif iid in images:
                problems.append(f"image id={iid}: duplicate image id")
            else:
                images[int(iid)] = img
        bad_images = len(problems)

        j = self.skeleton.num_keypoints
        anns: list[dict[str, Any]] = []
        bad_image_ids: set[int] = set()
        seen_ann_ids: set[int] = set()
        for pos, ann in enumerate(raw["annotations"]):
            err = self._check_annotation(ann, pos, images, j, seen_ann_ids)
            if err is None:
                if self._in_kp_category(ann):  # annotations of other categories are not ours
                    anns.append(ann)
                continue
            problems.append(err)
            iid = ann.get("image_id") if isinstance(ann, Mapping) else None
            if _is_int(iid) and int(iid) in images:
                bad_image_ids.add(int(iid))
        n_bad_anns = len(problems) - bad_images

        # Image files: checked once here for the images this dataset will yield.
        used_ids = set(images)
        if self.train:
            used_ids = {a["image_id"] for a in anns} | bad_image_ids
        missing = [iid for iid in used_ids - bad_image_ids
                   if not (self.image_dir / images[iid]["file_name"]).is_file()]
        for iid in sorted(missing):
            problems.append(f"image id={iid}: file not found: {self.image_dir / images[iid]['file_name']}")

        if problems and not self.skip_bad:
            self._fail(problems[0], len(problems) - 1)
        if problems:
            drop = bad_image_ids | set(missing)
            self.skipped.update({"annotations": n_bad_anns, "images": len(drop) + bad_images})
            images = {k: v for k, v in images.items() if k not in drop}
            anns = [a for a in anns if a["image_id"] not in drop]

        cleaned: dict[str, Any] = {k: v for k, v in raw.items() if k not in ("images", "annotations")}
        cleaned["images"] = list(images.values())
        cleaned["annotations"] = anns
        if not self._kp_cat_ids:
            cleaned.pop("categories", None)  # pycocotools then needs no category_id on annotations
        coco = COCO()
        coco.dataset = cleaned
        with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress lines
            coco.createIndex()
        return coco

    def _check_annotation(self, ann: Any, pos: int, images: Mapping[int, Any], j: int,
                          seen: set[int]) -> str | None:
        """``None`` if ``ann`` is well formed, else a message naming the annotation."""
        if not isinstance(ann, Mapping):
            return f"annotation #{pos}: not an object"
        aid = ann.get("id")
        if not _is_int(aid):
            return f"annotation #{pos} (image_id={ann.get('image_id')}): missing or non-integer 'id'"
        where = f"annotation id={aid} (image_id={ann.get('image_id')})"
        if int(aid) in seen:
            return f"{where}: duplicate annotation id"
        seen.add(int(aid))
        iid = ann.get("image_id")
        if not _is_int(iid):
            return f"{where}: missing or non-integer 'image_id'"
        if int(iid) not in images:
            return f"{where}: 'image_id' refers to no image in 'images'"
        if self._kp_cat_ids and "category_id" not in ann:
            return f"{where}: missing 'category_id'"
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1, True, False):
            return f"{where}: 'iscrowd' must be 0 or 1, got {crowd!r}"
        kps = ann.get("keypoints")
        if kps is None:
            if not crowd and self._in_kp_category(ann):
                return f"{where}: missing 'keypoints'"
        elif not isinstance(kps, list) or len(kps) != 3 * j:
            n = len(kps) if isinstance(kps, list) else type(kps).__name__
            return f"{where}: 'keypoints' has {n} values, expected {3 * j} ({j} keypoints x 3)"
        elif not all(isinstance(v, (int, float)) and math.isfinite(v) for v in kps):
            return f"{where}: 'keypoints' must be finite numbers"
        if "num_keypoints" in ann and not _is_int(ann["num_keypoints"]):
            return f"{where}: 'num_keypoints' must be an integer"
        if "bbox" in ann and not _is_box(ann["bbox"]):
            return f"{where}: 'bbox' must be 4 finite numbers"
        if crowd and "segmentation" not in ann and "bbox" not in ann:
            return f"{where}: a crowd annotation needs 'segmentation' or 'bbox'"
        seg = ann.get("segmentation")
        if seg is not None and not isinstance(seg, (list, dict)):
            return f"{where}: 'segmentation' must be polygons or an RLE"
        return None

    def _in_kp_category(self, ann: Mapping[str, Any]) -> bool:
        return not self._kp_cat_ids or ann.get("category_id") in self._kp_cat_ids

    def _build_records(self) -> list[_Record]:
        coco = self.coco
        j = self.skeleton.num_keypoints
        records: list[_Record] = []
        coco_mask = self.mask_mode == "coco"
        for iid in list(coco.imgs):  # JSON order, as the official dataset
            anns = [a for a in coco.imgToAnns.get(iid, []) if self._in_kp_category(a)]
            if self.train and not anns:  # official: images without any annotation are not trained on
                continue
            people, areas, mask_anns = [], [], []
            for a in anns:
                kps = a.get("keypoints")
                # float64, as the official code: the targets truncate these coordinates to pixels.
                pts = (np.asarray(kps, dtype=np.float64).reshape(j, 3) if kps is not None
                       else np.zeros((j, 3), np.float64))
                labelled = int((pts[:, 2] > 0).sum())
                num_kps = a.get("num_keypoints", labelled)
                crowd = bool(a.get("iscrowd", 0))
                if coco_mask and (crowd or num_kps == 0):
                    mask_anns.append(a)
                if (not crowd or num_kps > 0) and labelled > 0:  # official annotation filter
                    people.append(pts)
                    areas.append(_person_area(a, pts))
            joints = np.stack(people) if people else np.zeros((0, j, 3), np.float64)
            keep = np.arange(len(people))
            if len(people) > self.max_people:
                # The largest people get the slots; stable order among them, as annotated.
                keep = np.sort(np.argsort(-np.asarray(areas), kind="stable")[:self.max_people])
            path = self.image_dir / coco.imgs[iid]["file_name"]
            records.append(_Record(int(iid), path, joints, keep, tuple(mask_anns)))
        return records

    # ------------------------------------------------------------------ public helpers
    def __len__(self) -> int:
        return len(self._records)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's augmentations when ``seed`` is set (call before each epoch's loader)."""
        self.epoch = int(epoch)

    def image_path(self, image_id: int) -> Path:
        """The file of ``image_id``."""
        if image_id not in self._index_of:
            raise KeyError(f"{self.ann_file}: image id {image_id} is not in this dataset")
        return self._records[self._index_of[image_id]].path

    def read_image(self, image_id: int) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB pixels of ``image_id``; raises :class:`DatasetError` if unreadable."""
        image, reason = self._load(self.image_path(image_id))
        if image is None:
            raise DatasetError(f"{self.ann_file}: image id={image_id}: cannot read image file {reason}")
        return image

    @staticmethod
    def _load(path: Path) -> tuple[np.ndarray | None, str]:
        """The image, or ``None`` and why not (one line naming the file: missing, empty, truncated...)."""
        try:
            return load_image(path), ""
        except (OSError, ValueError) as err:
            return None, str(err)

    def ignore_mask(self, index: int, height: int, width: int) -> np.ndarray:
        """``(H, W)`` uint8 mask of sample ``index``: 1 = use, 0 = crowd or keypoint-less person.

        Pass the decoded image's ``height, width`` (not the JSON's, which some CrowdPose releases swap).
        With ``mask_mode="none"`` it is all ones.
        """
        return _ignore_mask(self._records[index], height, width, self.ann_file)

    # ------------------------------------------------------------------ sample
    def _rng(self, index: int) -> np.random.Generator:
        if self.seed is not None:
            return np.random.default_rng((int(self.seed), self.epoch, int(index)))
        # torch's RNG: seeded by the DataLoader per worker and per epoch (and by the trainer's seed).
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self._records)
        if not 0 <= index < len(self._records):
            raise IndexError(f"index {index} out of range for {len(self._records)} images")
        for attempt in range(len(self._records)):
            rec = self._records[(index + attempt) % len(self._records)]
            image, reason = self._load(rec.path)
            if image is not None:
                return self._make_sample(rec, image, (index + attempt) % len(self._records))
            if not self.skip_bad:
                raise DatasetError(f"{self.ann_file}: image id={rec.image_id}: cannot read image file {reason}")
            # skip_bad: substitute the next readable image, deterministically.
            self.skipped["unreadable"] += 1
            if not self._warned_unreadable:
                self._warned_unreadable = True
                warnings.warn(f"{self.ann_file}: image id={rec.image_id}: cannot read image file {reason}; skipping "
                              "unreadable images (counted in dataset.skipped['unreadable'])", stacklevel=2)
        raise DatasetError(f"{self.ann_file}: no readable image in the dataset")

    def _make_sample(self, rec: _Record, image: np.ndarray, index: int) -> dict[str, Any]:
        h, w = image.shape[:2]  # the decoded image's size, never the JSON's width/height
        mask = _ignore_mask(rec, h, w, self.ann_file)
        if self.train:
            center, scale, rot, flip = random_affine_params(self._rng(index), w, h, self.augment)
        else:  # validation: the centre crop/pad of the short side, no randomness
            center, scale, rot, flip = (w / 2.0, h / 2.0), min(w, h) / 200.0, 0.0, False
        img, masks, joints = warp_sample(image, mask, rec.joints, center, scale, rot, flip, self.input_size,
                                         self.output_sizes, self.skeleton.flip_index,
                                         joint_flip=self.augment.joint_flip)
        heatmaps = tuple(torch.from_numpy(render_heatmaps(jr, r, self.sigma, self.heatmap_center))
                         for jr, r in zip(joints, self.output_sizes, strict=True))
        packed = tuple(torch.from_numpy(pack_joints(jr[rec.keep], r, self.max_people))
                       for jr, r in zip(joints, self.output_sizes, strict=True))
        return {
            "image": _normalise(img),
            "heatmaps": heatmaps,
            "masks": tuple(torch.from_numpy(m) for m in masks),
            "joints": packed,
            "image_id": rec.image_id,
        }


def _normalise(img: np.ndarray) -> torch.Tensor:
    """``(S, S, 3)`` uint8 RGB -> ``(3, S, S)`` float32, ``(x/255 − mean)/std``."""
    out = img.astype(np.float32)
    out *= _INV_STD_255
    out -= _MEAN_OVER_STD
    return torch.from_numpy(out.transpose(2, 0, 1).copy())


def _ignore_mask(rec: _Record, height: int, width: int, source: Path) -> np.ndarray:
    """``(H, W)`` uint8, 1 = use. Crowd regions and people with no keypoints are 0; an annotation with
    no segmentation ignores nothing (CrowdPose), except a crowd box given only as ``bbox``."""
    mask = np.ones((height, width), dtype=np.uint8)
    for ann in rec.mask_anns:
        seg = ann.get("segmentation")
        region: np.ndarray | None = None
        if seg:
            region = _decode_segmentation(seg, height, width, ann, source)
        elif ann.get("iscrowd") and ann.get("bbox") is not None:
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            region = np.zeros((height, width), np.uint8)
            region[max(0, int(y)):max(0, math.ceil(y + bh)), max(0, int(x)):max(0, math.ceil(x + bw))] = 1
        if region is not None:
            mask[region > 0] = 0
    return mask


def _decode_segmentation(seg: Any, height: int, width: int, ann: Mapping[str, Any],
                         source: Path) -> np.ndarray:
    """Union of a COCO segmentation (polygons, uncompressed or compressed RLE) as ``(H, W)`` uint8."""
    where = f"{source}: annotation id={ann.get('id')} (image_id={ann.get('image_id')})"
    try:
        if isinstance(seg, list):
            polys = [p for p in seg if len(p) >= 6]  # pycocotools needs >= 3 points per polygon
            if not polys:
                return np.zeros((height, width), np.uint8)
            rles = mask_utils.frPyObjects(polys, height, width)
            rle = mask_utils.merge(rles)
        else:
            size = seg.get("size")
            if size is not None and list(size) != [height, width]:
                raise DatasetError(f"{where}: RLE size {list(size)} differs from the image's "
                                   f"{[height, width]}")
            rle = mask_utils.frPyObjects(seg, height, width) if isinstance(seg.get("counts"), list) else seg
        with warnings.catch_warnings():
            # pycocotools' Cython decode trips numpy 2's __array__(copy=) deprecation; harmless.
            warnings.simplefilter("ignore", DeprecationWarning)
            m = mask_utils.decode(rle)
    except DatasetError:
        raise
    except Exception as err:  # pycocotools raises bare TypeErrors/ValueErrors on malformed input
        raise DatasetError(f"{where}: malformed 'segmentation': {err}") from None
    return m if m.ndim == 2 else m.max(axis=2)


def _person_area(ann: Mapping[str, Any], pts: np.ndarray) -> float:
    """Size used to choose whom to keep: ``area``, else bbox area, else the labelled keypoints' box."""
    area = ann.get("area")
    if isinstance(area, (int, float)) and math.isfinite(area):
        return float(area)
    box = ann.get("bbox")
    if box is not None and _is_box(box):
        return float(box[2]) * float(box[3])
    lab = pts[pts[:, 2] > 0, :2]
    return float(np.prod(lab.max(axis=0) - lab.min(axis=0))) if len(lab) else 0.0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_box(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 4
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in value))

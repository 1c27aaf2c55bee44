"""A small dataset YAML: where the annotations and images are, and which skeleton they use.

Example (paths are relative to the YAML file)::

    name: my-dataset
    train:
      ann_file: annotations/train.json
      image_dir: images/train
    val:
      ann_file: annotations/val.json
      image_dir: images/val
    skeleton:                     # or a built-in name (coco, crowdpose), or a skeleton file,
      keypoint_names: [head, neck, left_hand, right_hand]  # or omitted: from the JSON's categories
      flip_pairs: [[2, 3]]
      oks_sigmas: [0.079, 0.079, 0.062, 0.062]
      limbs: [[0, 1], [1, 2], [1, 3]]

Unknown keys are an error naming the key and the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litepose.config_io import read_yaml
from litepose.skeleton import Skeleton, list_skeletons, load_skeleton

__all__ = ["DatasetConfig", "DatasetSplit", "load_dataset_config"]

_TOP_KEYS = ("name", "train", "val", "skeleton")
_SPLIT_KEYS = ("ann_file", "image_dir")


@dataclass(frozen=True)
class DatasetSplit:
    """One split: the COCO-format annotation JSON and the folder its ``file_name`` entries live in."""

    ann_file: Path
    image_dir: Path


@dataclass(frozen=True)
class DatasetConfig:
    """A resolved dataset description.

    Attributes:
        name: a label for logs and run folders.
        train: the training split, if any.
        val: the validation split, if any.
        skeleton: the keypoint layout, or ``None`` to read it from the annotation JSON's categories.
        source: the YAML file this came from.
    """

    name: str
    train: DatasetSplit | None
    val: DatasetSplit | None
    skeleton: Skeleton | None
    source: Path | None = None


def load_dataset_config(path: str | Path) -> DatasetConfig:
    """Read and check a dataset YAML; relative paths are resolved against the YAML's folder.

    Raises:
        FileNotFoundError: the YAML (or a skeleton file it names) does not exist.
        ValueError: malformed YAML, an unknown key, or a missing/ill-typed field (the message names
            the key and the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset config not found: {path}")
    raw = read_yaml(path)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: a dataset config must be a mapping with keys {list(_TOP_KEYS)}")
    _check_keys(raw, _TOP_KEYS, path, "")
    base = path.parent
    train = _split(raw.get("train"), "train", base, path)
    val = _split(raw.get("val"), "val", base, path)
    if train is None and val is None:
        raise ValueError(f"{path}: give at least one of 'train' and 'val'")
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}: 'name' must be a non-empty string")
    return DatasetConfig(name=name, train=train, val=val, skeleton=_skeleton(raw.get("skeleton"), base, path),
                         source=path)


def _check_keys(raw: Mapping[str, Any], allowed: tuple[str, ...], path: Path, prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ValueError(f"{path}: unknown key {prefix + str(key)!r}; allowed: {list(allowed)}")


def _split(raw: Any, name: str, base: Path, path: Path) -> DatasetSplit | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: {name!r} must be a mapping with keys {list(_SPLIT_KEYS)}")
    _check_keys(raw, _SPLIT_KEYS, path, f"{name}.")
    paths = []
    for key in _SPLIT_KEYS:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{path}: '{name}.{key}' must be a path (string)")
        p = Path(value).expanduser()
        paths.append(p if p.is_absolute() else base / p)
    return DatasetSplit(ann_file=paths[0], image_dir=paths[1])


def _skeleton(raw: Any, base: Path, path: Path) -> Skeleton | None:
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        try:
            return Skeleton.from_dict(raw, source=f"{path}: skeleton")
        except (ValueError, TypeError) as err:
            raise ValueError(str(err) if isinstance(err, ValueError) else f"{path}: skeleton: {err}") from None
    if isinstance(raw, str):
        if raw.lower() in list_skeletons():
            return load_skeleton(raw)
        file = Path(raw).expanduser()
        file = file if file.is_absolute() else base / file
        if not file.is_file():
            raise FileNotFoundError(f"{path}: skeleton {raw!r} is not a built-in name ({list_skeletons()}) "
                                    f"and {file} does not exist")
        return load_skeleton(file)
    raise ValueError(f"{path}: 'skeleton' must be a built-in name, a file, or a mapping")

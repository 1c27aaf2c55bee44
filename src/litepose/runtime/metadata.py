"""What an exported model file says about itself: enough to predict, evaluate and bench from the file alone.

``litepose export`` writes one JSON document into every file it produces, and the torch-free runtime
reads it back:

* ONNX: a ``metadata_props`` entry whose key is :data:`METADATA_KEY` (``"litepose"``);
* OpenVINO IR: the ``rt_info`` path ``["litepose", "metadata"]`` of the model (kept in the ``.xml``).

The document (:class:`ModelMetadata`) names the model family and architecture, the joint count and the
whole skeleton (names, flip index, OKS sigmas, limbs, grouping orders), the input size the network was
exported for (``None`` sides: dynamic), the normalisation the network expects, the numeric precision
and the output names. Nothing here imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from litepose.skeleton import Skeleton

__all__ = ["FORMAT_VERSION", "METADATA_KEY", "OPENVINO_RT_PATH", "PRECISIONS", "ModelMetadata"]

FORMAT_VERSION = 1
METADATA_KEY = "litepose"
OPENVINO_RT_PATH = ("litepose", "metadata")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# The network's input: RGB, (x / 255 - mean) / std, NCHW (the training and test pipelines' normalisation).
DEFAULT_MEAN = (0.485, 0.456, 0.406)
DEFAULT_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelMetadata:
    """The self-description of an exported pose network.

    Attributes:
        family: the model family (``"litepose"``; other families as they land).
        arch: the architecture as its JSON-able dict (``ArchSpec.to_dict()`` for LitePose), or None.
        skeleton: the joint layout; its joint count is the network's ``J``.
        input_size: ``(height, width)`` of the exported input; a ``None`` side is dynamic.
        test_size: the short side the model is meant to run at (the architecture's input size).
        precision: one of :data:`PRECISIONS` (what the weights/compute were exported as).
        mean, std: per-channel RGB normalisation after dividing by 255.
        outputs: the output names, stride-4 (``2J`` channels: heatmaps then tags) first, then stride-2 (``J``).
        input_name: the name of the image input.
        extra: anything else the exporter recorded (measured error, opset, producer version...).
    """

    family: str
    arch: Mapping[str, Any] | None
    skeleton: Skeleton
    input_size: tuple[int | None, int | None]
    test_size: int
    precision: str = "fp32"
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD
    outputs: tuple[str, str] = ("stride4", "stride2")
    input_name: str = "image"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"metadata: precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if len(self.input_size) != 2 or any(s is not None and (int(s) <= 0 or int(s) % 32) for s in self.input_size):
            raise ValueError(f"metadata: input_size must be two positive multiples of 32 or null, got "
                             f"{list(self.input_size)}")
        if int(self.test_size) <= 0:
            raise ValueError(f"metadata: test_size must be positive, got {self.test_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ValueError("metadata: mean and std must be three numbers each (std > 0)")

    @property
    def num_keypoints(self) -> int:
        return self.skeleton.num_keypoints

    @property
    def dynamic(self) -> bool:
        return any(s is None for s in self.input_size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "family": self.family,
            "arch": dict(self.arch) if self.arch is not None else None,
            "num_keypoints": self.num_keypoints,
            "skeleton": self.skeleton.to_dict(),
            "input_size": [None if s is None else int(s) for s in self.input_size],
            "test_size": int(self.test_size),
            "precision": self.precision,
            "normalization": {"color": "RGB", "scale": 1.0 / 255.0, "mean": list(self.mean), "std": list(self.std)},
            "outputs": list(self.outputs),
            "input_name": self.input_name,
            "extra": dict(self.extra),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "metadata") -> ModelMetadata:
        """Read a document written by :meth:`to_dict`; a missing or malformed field is a ``ValueError``
        naming ``source`` and the field."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"{source}: litepose metadata must be a JSON object")
        version = raw.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"{source}: litepose metadata format_version {version!r} is not supported "
                             f"(this litepose reads {FORMAT_VERSION})")
        try:
            skeleton = Skeleton.from_dict(raw["skeleton"], source=f"{source}: skeleton")
            if int(raw["num_keypoints"]) != skeleton.num_keypoints:
                raise ValueError(f"num_keypoints {raw['num_keypoints']} but the skeleton has {skeleton.num_keypoints}")
            norm = raw.get("normalization", {})
            size = raw["input_size"]
            outputs = tuple(str(o) for o in raw.get("outputs", ("stride4", "stride2")))
            if len(outputs) != 2:
                raise ValueError(f"outputs must name two outputs, got {list(outputs)}")
            return cls(
                family=str(raw["family"]),
                arch=raw.get("arch"),
                skeleton=skeleton,
                input_size=(_side(size[0]), _side(size[1])),
                test_size=int(raw["test_size"]),
                precision=str(raw.get("precision", "fp32")),
                mean=_triple(norm.get("mean", DEFAULT_MEAN)),
                std=_triple(norm.get("std", DEFAULT_STD)),
                outputs=(outputs[0], outputs[1]),
                input_name=str(raw.get("input_name", "image")),
                extra=dict(raw.get("extra", {})),
            )
        except KeyError as err:
            raise ValueError(f"{source}: litepose metadata lacks the field {err.args[0]!r}") from None
        except (TypeError, IndexError) as err:
            raise ValueError(f"{source}: malformed litepose metadata ({err})") from None
        except ValueError as err:
            text = str(err)
            raise ValueError(text if text.startswith(source) else f"{source}: {text}") from None

    @classmethod
    def from_json(cls, text: str, *, source: str = "metadata") -> ModelMetadata:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{source}: litepose metadata is not valid JSON ({err.msg})") from None
        return cls.from_dict(raw, source=source)


def _side(value: Any) -> int | None:
    return None if value is None else int(value)


def _triple(values: Sequence[Any]) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return a, b, c

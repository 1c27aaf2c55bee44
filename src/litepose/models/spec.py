"""Architecture specs: frozen, hashable, JSON-serialisable descriptions of a LitePose network.

An :class:`ArchSpec` holds everything that shapes the network: stem width, four stages of inverted
bottlenecks (channels, stride, per-block expansion and depthwise kernel), the three deconv widths of
the fusion head, the default input size, and the ablation switches. It reads and writes the official
``mobile_configs`` JSON format (``img_size``, ``input_channel``, ``deconv_setting``,
``backbone_setting``), so architectures move both ways between this project and the official repo.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["ArchSpec", "BlockSpec", "StageSpec", "make_divisible"]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor`` without dropping more than 10 % (official ``_make_divisible``)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@dataclass(frozen=True)
class BlockSpec:
    """One inverted bottleneck: expansion ratio ``t`` and depthwise kernel size ``k``."""

    expand_ratio: int = 6
    kernel_size: int = 7

    def __post_init__(self) -> None:
        if self.expand_ratio < 1:
            raise ValueError(f"expand_ratio must be >= 1, got {self.expand_ratio}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {self.kernel_size}")


@dataclass(frozen=True)
class StageSpec:
    """A stage of inverted bottlenecks; block 0 carries the stride, the others stride 1."""

    channels: int
    stride: int
    blocks: tuple[BlockSpec, ...]

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise ValueError(f"stage channels must be >= 1, got {self.channels}")
        if self.stride not in (1, 2):
            raise ValueError(f"stage stride must be 1 or 2, got {self.stride}")
        if not self.blocks:
            raise ValueError("a stage needs at least one block")

    @property
    def depth(self) -> int:
        return len(self.blocks)


@dataclass(frozen=True)
class ArchSpec:
    """A LitePose architecture.

    Attributes:
        stem_channels: C0, the width of the stride-2 stem output (the stem's first two convs are 32 wide).
        stages: four stages; their cumulative strides must be 4, 8, 16, 16 relative to the input.
        deconv_channels: F0, F1, F2, the widths of the three 2x deconvs of the head.
        input_size: default square input side (the official ``img_size``).
        fusion: fusion deconv head (True, the paper's design) or a plain deconv head without the raw
            branches (the paper's "w/o fusion" ablation, official ``pose_simplenet``).
        head_kernel: depthwise kernel of the final separable convs (5 in the official code).
        name: a label for tables and checkpoints. Equality and hashing ignore it: two specs that
            build the same network are equal whatever they are called (``scaled`` and the other
            knobs rename), so caches keyed by architecture hit.
    """

    stem_channels: int
    stages: tuple[StageSpec, ...]
    deconv_channels: tuple[int, int, int]
    input_size: int = 256
    fusion: bool = True
    head_kernel: int = 5
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        if len(self.stages) != 4:
            raise ValueError(f"{self.name}: LitePose needs exactly 4 stages, got {len(self.stages)}")
        if len(self.deconv_channels) != 3 or min(self.deconv_channels) < 1:
            raise ValueError(f"{self.name}: deconv_channels must be three positive widths, got {self.deconv_channels}")
        strides = [s.stride for s in self.stages]
        if strides[:3] != [2, 2, 2] or strides[3] != 1:
            # The head fuses s4 with s3 at 1/16, then s2 at 1/8 and s1 at 1/4: only 2/2/2/1 lines up.
            raise ValueError(f"{self.name}: stage strides must be [2, 2, 2, 1] (fusion head alignment), got {strides}")
        if self.stem_channels < 1:
            raise ValueError(f"{self.name}: stem_channels must be >= 1")
        if self.input_size % 32 != 0 or self.input_size <= 0:
            raise ValueError(f"{self.name}: input_size must be a positive multiple of 32, got {self.input_size}")
        if self.head_kernel < 1 or self.head_kernel % 2 == 0:
            raise ValueError(f"{self.name}: head_kernel must be a positive odd number")

    # -- derived ---------------------------------------------------------------------------------
    @property
    def channels(self) -> tuple[int, ...]:
        """``[C0, C1, C2, C3, C4]``: widths of the stem and the four stage outputs."""
        return (self.stem_channels, *(s.channels for s in self.stages))

    # -- ablation knobs ----------------------------------------------------------------------------
    def with_kernel_size(self, kernel_size: int) -> ArchSpec:
        """Every backbone depthwise conv uses ``kernel_size`` (the paper's 3/5/7/9 ablation)."""
        stages = tuple(replace(s, blocks=tuple(replace(b, kernel_size=kernel_size) for b in s.blocks))
                       for s in self.stages)
        return replace(self, stages=stages, name=f"{self.name}-k{kernel_size}")

    def with_fusion(self, fusion: bool) -> ArchSpec:
        return replace(self, fusion=fusion, name=self.name if fusion else f"{self.name}-nofusion")

    def scaled(self, width: float) -> ArchSpec:
        """Uniform width multiplier on stem, stages and deconvs (``make_divisible(c·width, 8)``)."""
        if width <= 0:
            raise ValueError(f"width multiplier must be positive, got {width}")
        if width == 1.0:
            return self
        stages = tuple(replace(s, channels=make_divisible(s.channels * width)) for s in self.stages)
        deconv = tuple(make_divisible(c * width) for c in self.deconv_channels)
        return replace(self, stem_channels=make_divisible(self.stem_channels * width), stages=stages,
                       deconv_channels=deconv, name=f"{self.name}-w{width:g}")  # type: ignore[arg-type]

    def with_input_size(self, input_size: int) -> ArchSpec:
        return replace(self, input_size=input_size)

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Project format: the official JSON keys plus this project's extra switches."""
        return {"name": self.name, **self.to_official(), "fusion": self.fusion, "head_kernel": self.head_kernel}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "arch") -> ArchSpec:
        extra = {k: raw[k] for k in ("name", "fusion", "head_kernel") if k in raw}
        spec = cls.from_official({k: v for k, v in raw.items() if k not in extra}, source=source)
        return replace(spec, **extra)

    def to_official(self) -> dict[str, Any]:
        """The official ``mobile_configs`` JSON object (same keys and key order)."""
        return {
            "img_size": self.input_size,
            "input_channel": self.stem_channels,
            "deconv_setting": list(self.deconv_channels),
            "backbone_setting": [
                {"num_blocks": s.depth, "stride": s.stride, "channel": s.channels,
                 "block_setting": [[b.expand_ratio, b.kernel_size] for b in s.blocks]}
                for s in self.stages
            ],
        }

    @classmethod
    def from_official(cls, raw: Mapping[str, Any], *, name: str = "custom", source: str = "arch") -> ArchSpec:
        """Parse an official ``mobile_configs`` JSON object."""
        known = {"img_size", "input_channel", "deconv_setting", "backbone_setting"}
        missing = known - set(raw)
        if missing:
            raise ValueError(f"{source}: missing keys {sorted(missing)} (official arch JSON needs {sorted(known)})")
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{source}: unknown keys {sorted(unknown)}")
        stages = []
        for i, st in enumerate(raw["backbone_setting"]):
            where = f"{source}: backbone_setting[{i}]"
            try:
                blocks = tuple(BlockSpec(int(t), int(k)) for t, k in st["block_setting"])
                n = int(st.get("num_blocks", len(blocks)))
                if n != len(blocks):
                    raise ValueError(f"num_blocks {n} but {len(blocks)} block_setting entries")
                # Stage widths go through _make_divisible in the official code (a no-op for official values).
                stages.append(StageSpec(make_divisible(float(st["channel"])), int(st["stride"]), blocks))
            except KeyError as err:
                raise ValueError(f"{where}: missing key {err.args[0]!r}") from None
            except (TypeError, ValueError) as err:
                raise ValueError(f"{where}: {err}") from None
        try:
            return cls(stem_channels=make_divisible(float(raw["input_channel"])), stages=tuple(stages),
                       deconv_channels=tuple(int(c) for c in raw["deconv_setting"]),  # type: ignore[arg-type]
                       input_size=int(raw["img_size"]), name=name)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    @classmethod
    def from_json(cls, path: str | Path, *, name: str | None = None) -> ArchSpec:
        """Read an official (or project-format) arch JSON file."""
        p = Path(path)
        try:
            raw = json.loads(p.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"arch file {p} does not exist") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{p}: not valid JSON ({err})") from None
        if not isinstance(raw, Mapping):
            raise ValueError(f"{p}: an arch JSON must hold an object")
        spec = cls.from_dict(raw, source=str(p))
        return replace(spec, name=name) if name else (spec if "name" in raw else replace(spec, name=p.stem))

    def to_json(self, path: str | Path, *, official: bool = True) -> None:
        """Write the official JSON format (default) or the project format, atomically."""
        from litepose.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_official() if official else self.to_dict()) + "\n")

"""HigherHRNet and the paper's Scaled-HigherHRNet baselines, with the official module layout.

The network is the one of the LitePose repository's ``pose_higher_hrnet.py`` (reference §6), which is
HigherHRNet with two changes this module keeps: the stem's Bottleneck width (``STEM_INPLANES``) is
configurable, and **a branch with 0 blocks is one 3×3 conv-BN-ReLU6** instead of residual blocks (how
the paper's gradual-shrinking variants remove high-resolution computation)::

    stem     conv 3×3/2 (64) → BN → ReLU → conv 3×3/2 (64) → BN → ReLU → 4 Bottlenecks (planes P, out 4P)
    stage 2  1 module,  branches at 1/4, 1/8                 (BASIC blocks, multi-resolution fusion)
    stage 3  4 modules, branches at 1/4, 1/8, 1/16
    stage 4  3 modules, branches at 1/4 ... 1/32; the last module fuses into the 1/4 branch only
    head     final_layers[0]: 1×1 conv (bias) on the 1/4 branch          → stride4 [B, 2J, H/4, W/4]
             concat(features, stride4) → deconv 4×4/2 → BN → ReLU (→ BASIC blocks)
             final_layers[1]: 1×1 conv (bias)                             → stride2 [B, J, H/2, W/2]

so it returns the same :class:`~litepose.models.LitePoseOutput` as LitePose (heatmaps then per-joint
tags at stride 4, heatmaps at stride 2) and trains, predicts, evaluates, distils and exports through
the same code. Its ``state_dict`` keys are the official ones (``conv1``, ``layer1.0.downsample.0``,
``transition1.0.0``, ``stage2.0.branches.0.0.conv1``, ``stage2.0.fuse_layers.1.0.0.0``,
``final_layers.0``, ``deconv_layers.0.0.0``, ...) for both the LitePose repository's checkpoints and
the original HigherHRNet releases (which are this network with all blocks present and 64 stem planes).

A :class:`HigherHRNetSpec` (frozen, hashable) describes one network; :data:`HIGHERHRNET_ZOO` holds the
paper's configurations (reference §6): Scaled-HigherHRNet-W16 (the gradual-shrinking baseline C1) and
its shrunk variants C2–C4, Scaled-HigherHRNet-W24, and the original HigherHRNet-W32 (512) and -W48 (640).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from litepose.models.blocks import conv_bn_relu6
from litepose.models.litepose import LitePoseOutput

__all__ = [
    "HIGHERHRNET_FAMILY",
    "HIGHERHRNET_ZOO",
    "BasicBlock",
    "Bottleneck",
    "HighResolutionModule",
    "HigherHRNet",
    "HigherHRNetSpec",
    "scaled_higherhrnet",
]

HIGHERHRNET_FAMILY = "higherhrnet"  # the ``family`` field of a project checkpoint holding a HigherHRNet
STEM_WIDTH = 64  # the two stride-2 stem convs are 64 wide in every official config
STEM_BLOCKS = 4  # ``layer1``: four Bottlenecks in every official config
NUM_BRANCHES = (2, 3, 4)  # branches of stages 2, 3, 4


# --------------------------------------------------------------------------------------------------
# Spec
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HigherHRNetSpec:
    """A HigherHRNet architecture (the ``MODEL.EXTRA`` section of an official experiment YAML).

    Attributes:
        stem_planes: ``STEM_INPLANES``, the Bottleneck width of ``layer1`` (which outputs 4× as many).
        channels: widths of the four branches (1/4, 1/8, 1/16, 1/32).
        blocks: BASIC blocks per branch in stages 2, 3 and 4 (2, 3 and 4 numbers); 0 makes that branch a
            single 3×3 conv-BN-ReLU6.
        modules: high-resolution modules in stages 2, 3 and 4.
        deconv_channels: width of the head's deconv (the stride-2 feature).
        deconv_blocks: BASIC blocks after the deconv (``NUM_BASIC_BLOCKS``).
        input_size: default square input side.
        name: a label for tables and checkpoints; equality and hashing ignore it.
    """

    stem_planes: int
    channels: tuple[int, int, int, int]
    blocks: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    modules: tuple[int, int, int] = (1, 4, 3)
    deconv_channels: int = 32
    deconv_blocks: int = 0
    input_size: int = 512
    name: str = field(default="custom-higherhrnet", compare=False)

    def __post_init__(self) -> None:
        where = self.name
        if self.stem_planes < 1:
            raise ValueError(f"{where}: stem_planes must be >= 1, got {self.stem_planes}")
        if len(self.channels) != 4 or min(self.channels) < 1:
            raise ValueError(f"{where}: channels must be four positive widths, got {self.channels}")
        if len(self.blocks) != 3 or [len(b) for b in self.blocks] != list(NUM_BRANCHES):
            raise ValueError(f"{where}: blocks must give 2, 3 and 4 block counts for stages 2, 3 and 4, "
                             f"got {self.blocks}")
        if any(n < 0 for stage in self.blocks for n in stage):
            raise ValueError(f"{where}: block counts must be >= 0, got {self.blocks}")
        if len(self.modules) != 3 or min(self.modules) < 1:
            raise ValueError(f"{where}: modules must be three counts >= 1, got {self.modules}")
        if self.deconv_channels < 1 or self.deconv_blocks < 0:
            raise ValueError(f"{where}: deconv_channels must be >= 1 and deconv_blocks >= 0")
        if self.input_size <= 0 or self.input_size % 32:
            raise ValueError(f"{where}: input_size must be a positive multiple of 32, got {self.input_size}")

    def with_input_size(self, input_size: int) -> HigherHRNetSpec:
        return replace(self, input_size=input_size)

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Project format (JSON-able); ``family`` makes an arch file self-describing."""
        return {"family": HIGHERHRNET_FAMILY, "name": self.name, "input_size": self.input_size,
                "stem_planes": self.stem_planes, "channels": list(self.channels),
                "blocks": [list(b) for b in self.blocks], "modules": list(self.modules),
                "deconv_channels": self.deconv_channels, "deconv_blocks": self.deconv_blocks}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "arch") -> HigherHRNetSpec:
        fields = {"name", "input_size", "stem_planes", "channels", "blocks", "modules", "deconv_channels",
                  "deconv_blocks"}
        if raw.get("family", HIGHERHRNET_FAMILY) != HIGHERHRNET_FAMILY:
            raise ValueError(f"{source}: family {raw.get('family')!r} is not {HIGHERHRNET_FAMILY!r}")
        unknown = set(raw) - fields - {"family"}
        if unknown:
            raise ValueError(f"{source}: unknown keys {sorted(unknown)}")
        missing = {"stem_planes", "channels", "blocks"} - set(raw)
        if missing:
            raise ValueError(f"{source}: missing keys {sorted(missing)}")
        try:
            kwargs: dict[str, Any] = {
                "stem_planes": int(raw["stem_planes"]),
                "channels": tuple(int(c) for c in raw["channels"]),
                "blocks": tuple(tuple(int(n) for n in stage) for stage in raw["blocks"]),
            }
            if "modules" in raw:
                kwargs["modules"] = tuple(int(m) for m in raw["modules"])
            for key in ("deconv_channels", "deconv_blocks", "input_size"):
                if key in raw:
                    kwargs[key] = int(raw[key])
            if "name" in raw:
                kwargs["name"] = str(raw["name"])
            return cls(**kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None

    def to_official(self) -> dict[str, Any]:
        """The official ``MODEL.EXTRA`` mapping (``pose_higher_hrnet`` with ``FINAL_CONV_KERNEL`` 1)."""
        extra: dict[str, Any] = {"FINAL_CONV_KERNEL": 1, "PRETRAINED_LAYERS": ["*"], "STEM_INPLANES": self.stem_planes}
        for s, (n, blocks, modules) in enumerate(zip(NUM_BRANCHES, self.blocks, self.modules, strict=True)):
            extra[f"STAGE{s + 2}"] = {"NUM_MODULES": modules, "NUM_BRANCHES": n, "BLOCK": "BASIC",
                                      "NUM_BLOCKS": list(blocks), "NUM_CHANNELS": list(self.channels[:n]),
                                      "FUSE_METHOD": "SUM"}
        extra["DECONV"] = {"NUM_DECONVS": 1, "NUM_CHANNELS": [self.deconv_channels], "KERNEL_SIZE": [4],
                           "NUM_BASIC_BLOCKS": self.deconv_blocks, "CAT_OUTPUT": [True]}
        return extra

    @classmethod
    def from_official(cls, extra: Mapping[str, Any], *, input_size: int = 512, name: str = "custom-higherhrnet",
                      source: str = "MODEL.EXTRA") -> HigherHRNetSpec:
        """Parse the ``MODEL.EXTRA`` section of an official ``pose_higher_hrnet`` experiment YAML.

        Only what this project's output contract allows is accepted: BASIC branch blocks, one 4×4
        deconv whose input concatenates the stride-4 predictions, 1×1 final convs.
        """
        def get(mapping: Mapping[str, Any], key: str, where: str) -> Any:
            if not isinstance(mapping, Mapping) or key not in mapping:
                raise ValueError(f"{source}: missing {where}{key}")
            return mapping[key]

        channels: list[int] = []
        blocks, modules = [], []
        for s, n in zip((2, 3, 4), NUM_BRANCHES, strict=True):
            stage = get(extra, f"STAGE{s}", "")
            where = f"STAGE{s}."
            if int(get(stage, "NUM_BRANCHES", where)) != n:
                raise ValueError(f"{source}: {where}NUM_BRANCHES must be {n}")
            if str(get(stage, "BLOCK", where)).upper() != "BASIC":
                raise ValueError(f"{source}: {where}BLOCK must be BASIC (the HigherHRNet branches)")
            if str(stage.get("FUSE_METHOD", "SUM")).upper() != "SUM":
                raise ValueError(f"{source}: {where}FUSE_METHOD must be SUM")
            widths = [int(c) for c in get(stage, "NUM_CHANNELS", where)]
            if widths[:len(channels)] != channels[:len(widths)]:
                raise ValueError(f"{source}: {where}NUM_CHANNELS {widths} changes the width of an existing branch")
            channels = widths
            blocks.append(tuple(int(b) for b in get(stage, "NUM_BLOCKS", where)))
            modules.append(int(get(stage, "NUM_MODULES", where)))
        deconv = get(extra, "DECONV", "")
        if int(get(deconv, "NUM_DECONVS", "DECONV.")) != 1 or list(deconv.get("KERNEL_SIZE", [4])) != [4] \
                or [bool(c) for c in deconv.get("CAT_OUTPUT", [True])] != [True]:
            raise ValueError(f"{source}: DECONV must be one 4x4 deconv with CAT_OUTPUT [True] (stride-4 and "
                             "stride-2 outputs)")
        if int(extra.get("FINAL_CONV_KERNEL", 1)) != 1:
            raise ValueError(f"{source}: FINAL_CONV_KERNEL must be 1")
        try:
            return cls(stem_planes=int(get(extra, "STEM_INPLANES", "")), channels=tuple(channels),  # type: ignore[arg-type]
                       blocks=tuple(blocks), modules=tuple(modules),  # type: ignore[arg-type]
                       deconv_channels=int(get(deconv, "NUM_CHANNELS", "DECONV.")[0]),
                       deconv_blocks=int(deconv.get("NUM_BASIC_BLOCKS", 0)), input_size=input_size, name=name)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None


def scaled_higherhrnet(base: int, blocks: Sequence[Sequence[int]] | None = None, *, name: str,
                       input_size: int = 512) -> HigherHRNetSpec:
    """The paper's Scaled-HigherHRNet-W``base``: branches base/2·base/4·base/8·base, stem planes 2·base,
    modules 1/4/3, one 32-wide deconv without BASIC blocks; ``blocks`` defaults to 4 everywhere."""
    blocks = blocks or ((4, 4), (4, 4, 4), (4, 4, 4, 4))
    return HigherHRNetSpec(stem_planes=2 * base, channels=(base, 2 * base, 4 * base, 8 * base),
                           blocks=tuple(tuple(b) for b in blocks),  # type: ignore[arg-type]
                           deconv_channels=32, deconv_blocks=0, input_size=input_size, name=name)


def _original(base: int, input_size: int, name: str) -> HigherHRNetSpec:
    """The original HigherHRNet-W``base`` (its ``w32_512``/``w48_640`` YAMLs): 64 stem planes, 4 blocks
    everywhere, a ``base``-wide deconv (32 for W32, 48 for W48) followed by 4 BASIC blocks."""
    return HigherHRNetSpec(stem_planes=64, channels=(base, 2 * base, 4 * base, 8 * base),
                           blocks=((4, 4), (4, 4, 4), (4, 4, 4, 4)), deconv_channels=base, deconv_blocks=4,
                           input_size=input_size, name=name)


#: The paper's baselines (reference §6). C1–C4 are the gradual-shrinking configurations of paper §3.2
#: (C4 is the LitePose repository's ``w16_512_adam_lr1e-3.yaml``, which has base 18 despite its name).
HIGHERHRNET_ZOO: dict[str, HigherHRNetSpec] = {
    "scaled-higherhrnet-w16": scaled_higherhrnet(16, name="scaled-higherhrnet-w16"),
    "scaled-higherhrnet-shrink1": scaled_higherhrnet(16, ((3, 4), (2, 3, 4), (1, 2, 3, 4)),
                                                     name="scaled-higherhrnet-shrink1"),
    "scaled-higherhrnet-shrink2": scaled_higherhrnet(18, ((1, 4), (1, 1, 4), (1, 1, 1, 4)),
                                                     name="scaled-higherhrnet-shrink2"),
    "scaled-higherhrnet-shrink3": scaled_higherhrnet(18, ((0, 4), (0, 0, 4), (0, 0, 0, 4)),
                                                     name="scaled-higherhrnet-shrink3"),
    "scaled-higherhrnet-w24": scaled_higherhrnet(24, name="scaled-higherhrnet-w24"),
    "higherhrnet-w32": _original(32, 512, "higherhrnet-w32"),
    "higherhrnet-w48": _original(48, 640, "higherhrnet-w48"),
}


# --------------------------------------------------------------------------------------------------
# Blocks (official attribute names: conv1/bn1/conv2/bn2[/conv3/bn3], downsample)
# --------------------------------------------------------------------------------------------------
def _conv3x3(inp: int, oup: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inp, oup, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN with a residual and ReLU (the HRNet branch block; widths never change here)."""

    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"))  # for models.fuse.fold_batchnorm

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4 expansion) with a residual, projected by ``downsample`` when widths differ."""

    expansion = 4
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))  # for models.fuse.fold_batchnorm

    def __init__(self, inp: int, planes: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(inp, out, 1, bias=False), nn.BatchNorm2d(out)) if inp != out \
            else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


def _strided_conv(inp: int, oup: int, relu: bool) -> nn.Sequential:
    """3×3 stride-2 conv → BN (→ ReLU): one halving step of a transition or a fuse path."""
    layers: list[nn.Module] = [nn.Conv2d(inp, oup, 3, 2, 1, bias=False), nn.BatchNorm2d(oup)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches, then every output resolution sums all branches resampled to it.

    ``fuse_layers[i][j]`` brings branch ``j`` to resolution ``i``: for ``j > i`` 1×1 conv → BN →
    nearest upsampling ×2^(j−i); for ``j < i`` a chain of ``i − j`` 3×3 stride-2 conv-BN (ReLU between
    them, none after the last); ``None`` for ``j == i``. With ``multi_scale_output=False`` only the
    highest resolution is produced (the last module of the network).
    """

    def __init__(self, channels: Sequence[int], blocks: Sequence[int], multi_scale_output: bool = True) -> None:
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(b))) if b > 0 else conv_bn_relu6(c, c, 3)
            for c, b in zip(channels, blocks, strict=True))
        fuse: list[nn.ModuleList] = []
        for i in range(n if multi_scale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(channels[j], channels[i], 1, bias=False),
                                             nn.BatchNorm2d(channels[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:
                    steps = [_strided_conv(channels[j], channels[j], relu=True) for _ in range(i - j - 1)]
                    steps.append(_strided_conv(channels[j], channels[i], relu=False))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        fused = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + (xs[j] if i == j else row[j](xs[j]))
            fused.append(self.relu(y))
        return fused


def _transition(pre: Sequence[int], cur: Sequence[int]) -> nn.ModuleList:
    """Between stages: existing branches get a 3×3 conv-BN-ReLU where their width changes (else
    ``None``); each new branch comes from the lowest-resolution one by 3×3 stride-2 conv-BN-ReLU steps."""
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(None if pre[i] == c else nn.Sequential(
                nn.Conv2d(pre[i], c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
        else:
            steps = [_strided_conv(pre[-1], c if k == i - len(pre) else pre[-1], relu=True)
                     for k in range(i + 1 - len(pre))]
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


# --------------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------------
class HigherHRNet(nn.Module):
    """A HigherHRNet built from a :class:`HigherHRNetSpec` for ``num_keypoints`` joints.

    ``forward(x)`` returns :class:`~litepose.models.LitePoseOutput`: ``stride4`` [B, 2J, H/4, W/4]
    (heatmaps, then one AE tag per joint) and ``stride2`` [B, J, H/2, W/2] (heatmaps). Input sides must
    be multiples of 32 (the lowest branch is at 1/32).
    """

    family = HIGHERHRNET_FAMILY
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"))  # the stem, for models.fuse.fold_batchnorm

    def __init__(self, spec: HigherHRNetSpec, num_keypoints: int = 14) -> None:
        super().__init__()
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
        self.spec = spec
        self.num_keypoints = num_keypoints
        j = num_keypoints

        self.conv1 = nn.Conv2d(3, STEM_WIDTH, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_WIDTH)
        self.conv2 = nn.Conv2d(STEM_WIDTH, STEM_WIDTH, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM_WIDTH)
        self.relu = nn.ReLU(inplace=True)
        stem_out = spec.stem_planes * Bottleneck.expansion
        self.layer1 = nn.Sequential(*(Bottleneck(STEM_WIDTH if b == 0 else stem_out, spec.stem_planes)
                                      for b in range(STEM_BLOCKS)))

        pre: list[int] = [stem_out]
        for s, (n, blocks, modules) in enumerate(zip(NUM_BRANCHES, spec.blocks, spec.modules, strict=True)):
            cur = list(spec.channels[:n])
            last_stage = s == len(NUM_BRANCHES) - 1
            setattr(self, f"transition{s + 1}", _transition(pre, cur))
            setattr(self, f"stage{s + 2}", nn.Sequential(*(
                HighResolutionModule(cur, blocks, multi_scale_output=not (last_stage and m == modules - 1))
                for m in range(modules))))
            pre = cur

        c0, d = spec.channels[0], spec.deconv_channels
        self.final_layers = nn.ModuleList([nn.Conv2d(c0, 2 * j, 1), nn.Conv2d(d, j, 1)])
        deconv = nn.Sequential(nn.ConvTranspose2d(c0 + 2 * j, d, 4, 2, 1, output_padding=0, bias=False),
                               nn.BatchNorm2d(d), nn.ReLU(inplace=True))
        self.deconv_layers = nn.ModuleList([nn.Sequential(
            deconv, *(nn.Sequential(BasicBlock(d)) for _ in range(spec.deconv_blocks)))])

    def forward(self, x: Tensor) -> LitePoseOutput:
        h, w = x.shape[-2:]
        if not torch.jit.is_tracing() and (int(h) % 32 or int(w) % 32):
            raise ValueError(f"HigherHRNet input sides must be multiples of 32, got {int(h)}x{int(w)} "
                             "(resize or pad the image; the predictor pads to multiples of 64)")
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for transition, stage in ((self.transition1, self.stage2), (self.transition2, self.stage3),
                                  (self.transition3, self.stage4)):
            # A new branch starts from the lowest-resolution output of the previous stage.
            xs = [ys[i] if t is None else t(ys[min(i, len(ys) - 1)]) for i, t in enumerate(transition)]
            ys = stage(xs)
        features = ys[0]
        stride4 = self.final_layers[0](features)
        up = self.deconv_layers[0](torch.cat((features, stride4), 1))
        return LitePoseOutput(stride4, self.final_layers[1](up))

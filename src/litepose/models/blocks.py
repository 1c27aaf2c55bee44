"""Layers of LitePose, with the official module layout so official state-dict keys line up.

None of the convolutions has a bias; every BatchNorm uses PyTorch defaults (reference §1.1).
"""

from __future__ import annotations

from torch import Tensor, nn

from litepose.models.spec import make_divisible

__all__ = ["STEM_WIDTH", "InvertedBottleneck", "SepConv2d", "conv_bn_relu6", "deconv2x", "stem"]

STEM_WIDTH = 32  # the stem's first two convs are fixed at 32 channels in every official config


def conv_bn_relu6(inp: int, oup: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) → BN → ReLU6; indices 0/1/2 as in the official ``convbnrelu``."""
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


def stem(out_channels: int) -> nn.Sequential:
    """The stride-2 stem (``first``): conv 3×3/2 → depthwise 3×3 → 1×1 to ``out_channels`` → BN (linear)."""
    return nn.Sequential(
        conv_bn_relu6(3, STEM_WIDTH, 3, 2),
        conv_bn_relu6(STEM_WIDTH, STEM_WIDTH, 3, 1, groups=STEM_WIDTH),
        nn.Conv2d(STEM_WIDTH, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),  # no activation after the stem's projection
    )


def deconv2x(inp: int, oup: int) -> nn.ConvTranspose2d:
    """The head's 2× upsampling: transposed conv 4×4, stride 2, padding 1, no bias (weight ``[inp, oup, 4, 4]``)."""
    return nn.ConvTranspose2d(inp, oup, 4, 2, 1, output_padding=0, bias=False)


class InvertedBottleneck(nn.Module):
    """MobileNetV2 inverted residual with a large depthwise kernel (official ``InvBottleneck``).

    The 1×1 expansion exists even for ``expand_ratio == 1``; the projection is linear; the residual
    is added iff ``stride == 1 and inp == oup``. ``hidden`` overrides the expanded width (official
    ``make_divisible(round(inp · expand_ratio), 8)``; the supernet's blocks use ``round(inp · 6)``).
    """

    def __init__(self, inp: int, oup: int, stride: int, kernel_size: int, expand_ratio: int,
                 hidden: int | None = None) -> None:
        super().__init__()
        hidden = make_divisible(round(inp * expand_ratio), 8) if hidden is None else hidden
        self.use_residual = stride == 1 and inp == oup
        self.inv = nn.Sequential(nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True))
        self.depth_conv = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel_size, stride, kernel_size // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
        )
        self.point_conv = nn.Sequential(nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x: Tensor) -> Tensor:
        out = self.point_conv(self.depth_conv(self.inv(x)))
        return out + x if self.use_residual else out


class SepConv2d(nn.Module):
    """Depthwise k×k → BN → ReLU → 1×1 (no bias, no BN): the prediction layer (keys ``conv.0/1/3``)."""

    def __init__(self, inp: int, oup: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(inp, inp, kernel_size, 1, kernel_size // 2, groups=inp, bias=False),
            nn.BatchNorm2d(inp),
            nn.ReLU(inplace=True),
            nn.Conv2d(inp, oup, 1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)

"""The LitePose network: single-branch large-kernel MobileNetV2 backbone + fusion deconv head.

``forward`` returns the official two raw outputs and does no decoding (reference §1.3–1.4)::

    stride4: [B, 2J, H/4, W/4]   channels [0, J) heatmaps, [J, 2J) per-joint AE tags
    stride2: [B, J,  H/2, W/2]   heatmaps

The paper's "concatenate" fusion is implemented as the official code does it: a sum of two deconvs
(``deconv_refined`` on the refined path, ``deconv_raw`` on the backbone feature of the same
resolution) and a sum of two separable prediction convs. Both are exactly a single layer on the
channel concatenation, and they keep official checkpoints loadable key for key.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from litepose.models.blocks import STEM_WIDTH, InvertedBottleneck, SepConv2d, deconv2x, stem
from litepose.models.spec import ArchSpec

__all__ = ["STEM_WIDTH", "LitePose", "LitePoseOutput"]


class LitePoseOutput(NamedTuple):
    """Raw network outputs. Shapes: stride4 [B, 2J, H/4, W/4]; stride2 [B, J, H/2, W/2]."""

    stride4: Tensor
    stride2: Tensor


class LitePose(nn.Module):
    """LitePose built from an :class:`ArchSpec` for ``num_keypoints`` joints (14 CrowdPose, 17 COCO)."""

    def __init__(self, spec: ArchSpec, num_keypoints: int = 14) -> None:
        super().__init__()
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
        self.spec = spec
        self.num_keypoints = num_keypoints
        c0, c1, c2, c3, c4 = spec.channels
        f0, f1, f2 = spec.deconv_channels
        j = num_keypoints

        self.first = stem(c0)
        stages = []
        inp = c0
        for st in spec.stages:
            blocks = []
            for b, block in enumerate(st.blocks):
                blocks.append(InvertedBottleneck(inp, st.channels, st.stride if b == 0 else 1,
                                                 block.kernel_size, block.expand_ratio))
                inp = st.channels
            stages.append(nn.Sequential(*blocks))
        self.stage = nn.ModuleList(stages)

        self.deconv_refined = nn.ModuleList([deconv2x(c4, f0), deconv2x(f0, f1), deconv2x(f1, f2)])
        if spec.fusion:
            self.deconv_raw = nn.ModuleList([deconv2x(c3, f0), deconv2x(c2, f1), deconv2x(c1, f2)])
        self.deconv_bnrelu = nn.ModuleList(
            [nn.Sequential(nn.BatchNorm2d(f), nn.ReLU(inplace=True)) for f in (f0, f1, f2)]
        )
        k = spec.head_kernel
        self.final_refined = nn.ModuleList([SepConv2d(f1, 2 * j, k), SepConv2d(f2, j, k)])
        if spec.fusion:
            self.final_raw = nn.ModuleList([SepConv2d(c1, 2 * j, k), SepConv2d(c0, j, k)])

    def forward(self, x: Tensor) -> LitePoseOutput:
        h, w = x.shape[-2:]
        if not torch.jit.is_tracing() and (int(h) % 32 or int(w) % 32):
            raise ValueError(f"LitePose input sides must be multiples of 32, got {int(h)}x{int(w)} "
                             "(resize or pad the image; the predictor pads to multiples of 64)")
        feats = [self.first(x)]
        for stage in self.stage:
            feats.append(stage(feats[-1]))
        stem, s1, s2, s3, s4 = feats
        raws = (s3, s2, s1)  # backbone features that meet the refined path at 1/16, 1/8, 1/4
        refined = s4
        outputs = []
        for i in range(3):
            up = self.deconv_refined[i](refined)
            if self.spec.fusion:
                up = up + self.deconv_raw[i](raws[i])
            refined = self.deconv_bnrelu[i](up)
            if i >= 1:  # predictions at 1/4 (after deconv 1) and 1/2 (after deconv 2)
                raw = s1 if i == 1 else stem
                out = self.final_refined[i - 1](refined)
                if self.spec.fusion:
                    out = out + self.final_raw[i - 1](raw)
                outputs.append(out)
        return LitePoseOutput(outputs[0], outputs[1])

"""The once-for-all supernet: one set of weights for every sub-network of the search space.

:class:`SuperLitePose` is the official max network (reference §2: C0 24; stages (32, 6, 2), (64, 8, 2),
(96, 10, 2), (160, 10, 1); kernel 7, expansion 6; deconvs 64/48/32; stem convs 32) with the official
module layout, so its ``state_dict()`` keys are the official supernet's (815 keys for J = 14, the unused
``Linear5x5``/``Linear3x3`` kernel transforms included) and checkpoints move both ways.

``supernet(x, arch)`` runs the sub-network ``arch`` (an :class:`ArchSpec`) by slicing leading channels,
exactly as the official ``Super*`` layers do: conv ``w[:out, :in]``, deconv ``w[:in, :out]``, depthwise
and BatchNorm ``[:C]`` (in training the running statistics of those channels are updated in place), a
stage runs its first ``num_blocks`` blocks, the hidden width is ``round(Cin · t)``. The arch is an
argument, never hidden state: two calls with two archs in one step are independent (the official
model re-samples an arch inside ``forward``). ``supernet.extract(arch)`` copies the slices into a
standalone :class:`LitePose` (the official ``weight_transfer``), whose outputs equal the supernet's.

:func:`create_supernet` builds it, loads official or project supernet weights (every wrapper form), or
warm-starts it from a max-size LitePose checkpoint with the official rule (``deconv``/``final`` dropped)
followed by the official importance re-organisation (:meth:`SuperLitePose.reorganize_channels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litepose.models.blocks import InvertedBottleneck, SepConv2d, deconv2x, stem
from litepose.models.litepose import LitePose, LitePoseOutput
from litepose.models.space import SUPERNET_ARCH, SearchSpace
from litepose.models.spec import ArchSpec

__all__ = [
    "SUPERNET_FAMILY",
    "LoadedSupernet",
    "SuperInvertedBottleneck",
    "SuperLitePose",
    "SuperSepConv2d",
    "create_supernet",
    "load_supernet",
]

SUPERNET_FAMILY = "supernet"  # the ``family`` field of a project checkpoint that holds a supernet
_MAX_EXPANSION = 6
_MAX_KERNEL = 7


# --------------------------------------------------------------------------------------------------
# Sliced operations (the official Super* layers as functions of plain modules)
# --------------------------------------------------------------------------------------------------
def _conv(conv: nn.Conv2d, x: Tensor, out_channels: int) -> Tensor:
    """A dense conv on the first ``out_channels`` filters and the input's leading channels."""
    return F.conv2d(x, conv.weight[:out_channels, :x.shape[1]], None, conv.stride, conv.padding)


def _depthwise(conv: nn.Conv2d, x: Tensor, kernel_size: int | None = None,
               transforms: Mapping[int, nn.Linear] | None = None) -> Tensor:
    """A depthwise conv on the input's leading channels; a smaller kernel is the centre crop (transformed
    by the OFA matrix of that size when there is one, as the official block does)."""
    channels = x.shape[1]
    full = conv.kernel_size[0]
    k = full if kernel_size is None else kernel_size
    lo = full // 2 - k // 2
    weight = conv.weight[:channels, :, lo:lo + k, lo:lo + k]
    if transforms and k in transforms:
        shape = weight.shape
        weight = transforms[k](weight.reshape(shape[0], shape[1], -1)).reshape(shape)
    return F.conv2d(x, weight, None, conv.stride, k // 2, groups=channels)


def _deconv(deconv: nn.ConvTranspose2d, x: Tensor, out_channels: int) -> Tensor:
    return F.conv_transpose2d(x, deconv.weight[:x.shape[1], :out_channels], None, deconv.stride, deconv.padding,
                              deconv.output_padding)


def _batch_norm(bn: nn.BatchNorm2d, x: Tensor) -> Tensor:
    """BatchNorm on the input's leading channels; in training, their running statistics update in place.

    With ``bn.momentum = None`` the statistics become cumulative averages (``num_batches_tracked``
    counts the batches), as in :class:`torch.nn.BatchNorm2d`; BN recalibration uses that.
    """
    c = x.shape[1]
    momentum = bn.momentum
    if bn.training and momentum is None:
        bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(bn.num_batches_tracked)
    running_mean = bn.running_mean[:c] if bn.running_mean is not None else None
    running_var = bn.running_var[:c] if bn.running_var is not None else None
    return F.batch_norm(x, running_mean, running_var, bn.weight[:c], bn.bias[:c], bn.training,
                        momentum if momentum is not None else 0.0, bn.eps)


# --------------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------------
class SuperInvertedBottleneck(InvertedBottleneck):
    """The official ``SuperInvBottleneck``: max-size inverted bottleneck run at any width, kernel and expansion.

    The residual is fixed from the max widths (``stride == 1 and inp == oup``), as official; it agrees
    with every sub-network of the search space because a stage's input and output widths never meet.
    """

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__(inp, oup, stride, _MAX_KERNEL, _MAX_EXPANSION, hidden=round(inp * _MAX_EXPANSION))
        self.stride = stride
        # OFA kernel-transform matrices for 5x5 and 3x3 centre crops (unused by the 7x7-only search space,
        # kept so that official supernet checkpoints load key for key).
        self.Linear5x5 = nn.Linear(25, 25)
        self.Linear3x3 = nn.Linear(9, 9)

    def forward(self, x: Tensor, out_channels: int, kernel_size: int = _MAX_KERNEL,
                expand_ratio: int = _MAX_EXPANSION) -> Tensor:
        hidden = round(x.shape[1] * expand_ratio)
        out = F.relu6(_batch_norm(self.inv[1], _conv(self.inv[0], x, hidden)))
        out = _depthwise(self.depth_conv[0], out, kernel_size, {5: self.Linear5x5, 3: self.Linear3x3})
        out = F.relu6(_batch_norm(self.depth_conv[1], out))
        out = _batch_norm(self.point_conv[1], _conv(self.point_conv[0], out, out_channels))
        return out + x if self.use_residual else out

    def depthwise_weight(self, hidden: int, kernel_size: int) -> Tensor:
        """The depthwise kernel a sub-network block of ``hidden`` channels and ``kernel_size`` uses."""
        lo = _MAX_KERNEL // 2 - kernel_size // 2
        weight = self.depth_conv[0].weight[:hidden, :, lo:lo + kernel_size, lo:lo + kernel_size]
        transform = {5: self.Linear5x5, 3: self.Linear3x3}.get(kernel_size)
        if transform is not None:
            shape = weight.shape
            weight = transform(weight.reshape(shape[0], shape[1], -1)).reshape(shape)
        return weight


class SuperSepConv2d(SepConv2d):
    """The official ``SuperSepConv2d``: depthwise k×k → BN → ReLU → 1×1 on the input's leading channels."""

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(_batch_norm(self.conv[1], _depthwise(self.conv[0], x)))
        return _conv(self.conv[3], out, self.conv[3].out_channels)


# --------------------------------------------------------------------------------------------------
# The supernet
# --------------------------------------------------------------------------------------------------
class SuperLitePose(nn.Module):
    """The max LitePose network whose sub-networks share its leading channels.

    Args:
        num_keypoints: ``J`` (14 CrowdPose, 17 COCO).
        spec: the maximum architecture (default: the official supernet).
    """

    family = SUPERNET_FAMILY

    def __init__(self, num_keypoints: int = 14, spec: ArchSpec = SUPERNET_ARCH) -> None:
        super().__init__()
        if num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
        if not spec.fusion:
            raise ValueError("the supernet needs the fusion head")
        for st in spec.stages:
            if any(b != st.blocks[0] or b.expand_ratio != _MAX_EXPANSION or b.kernel_size != _MAX_KERNEL
                   for b in st.blocks):
                raise ValueError(f"supernet blocks must all be expansion {_MAX_EXPANSION}, kernel {_MAX_KERNEL}")
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
            for b in range(st.depth):
                blocks.append(SuperInvertedBottleneck(inp, st.channels, st.stride if b == 0 else 1))
                inp = st.channels
            stages.append(nn.Sequential(*blocks))
        self.stage = nn.ModuleList(stages)

        self.deconv_refined = nn.ModuleList([deconv2x(c4, f0), deconv2x(f0, f1), deconv2x(f1, f2)])
        self.deconv_raw = nn.ModuleList([deconv2x(c3, f0), deconv2x(c2, f1), deconv2x(c1, f2)])
        self.deconv_bnrelu = nn.ModuleList([nn.Sequential(nn.BatchNorm2d(f), nn.ReLU(inplace=True))
                                            for f in (f0, f1, f2)])
        k = spec.head_kernel
        self.final_refined = nn.ModuleList([SuperSepConv2d(f1, 2 * j, k), SuperSepConv2d(f2, j, k)])
        self.final_raw = nn.ModuleList([SuperSepConv2d(c1, 2 * j, k), SuperSepConv2d(c0, j, k)])

    # -- checks ---------------------------------------------------------------------------------------
    def check_arch(self, arch: ArchSpec, *, source: str = "arch") -> None:
        """Raise ``ValueError`` naming the field when ``arch`` is not a sub-network of this supernet."""
        top = self.spec
        where = f"{source}: not a sub-network of the supernet"
        if arch.stem_channels > top.stem_channels:
            raise ValueError(f"{where}: input_channel {arch.stem_channels} > {top.stem_channels}")
        for i, (st, mx) in enumerate(zip(arch.stages, top.stages, strict=True)):
            f = f"backbone_setting[{i}]"
            if st.channels > mx.channels:
                raise ValueError(f"{where}: {f}.channel {st.channels} > {mx.channels}")
            if st.depth > mx.depth:
                raise ValueError(f"{where}: {f}.num_blocks {st.depth} > {mx.depth}")
            if st.stride != mx.stride:
                raise ValueError(f"{where}: {f}.stride {st.stride} != {mx.stride}")
            for b in st.blocks:
                if b.expand_ratio > _MAX_EXPANSION or b.kernel_size not in (3, 5, 7):
                    raise ValueError(f"{where}: {f}.block_setting {[b.expand_ratio, b.kernel_size]}: expansion "
                                     f"<= {_MAX_EXPANSION} and kernel 3, 5 or 7")
        for i, (c, mx) in enumerate(zip(arch.deconv_channels, top.deconv_channels, strict=True)):
            if c > mx:
                raise ValueError(f"{where}: deconv_setting[{i}] {c} > {mx}")
        if not arch.fusion or arch.head_kernel != top.head_kernel:
            raise ValueError(f"{where}: the fusion head with {top.head_kernel}x{top.head_kernel} prediction kernels")

    # -- forward ----------------------------------------------------------------------------------------
    def forward(self, x: Tensor, arch: ArchSpec | None = None) -> LitePoseOutput:
        """Run the sub-network ``arch`` (default: the whole supernet); outputs as :class:`LitePose`'s."""
        arch = self.spec if arch is None else arch
        h, w = x.shape[-2:]
        if int(h) % 32 or int(w) % 32:
            raise ValueError(f"input sides must be multiples of 32, got {int(h)}x{int(w)}")
        stem = self.first[1](self.first[0](x))
        stem = _batch_norm(self.first[3], _conv(self.first[2], stem, arch.stem_channels))
        feats = [stem]
        for stage, st in zip(self.stage, arch.stages, strict=True):
            out = feats[-1]
            for b, block in enumerate(st.blocks):
                out = stage[b](out, st.channels, block.kernel_size, block.expand_ratio)
            feats.append(out)
        stem, s1, s2, s3, s4 = feats
        raws = (s3, s2, s1)
        refined = s4
        outputs = []
        for i, width in enumerate(arch.deconv_channels):
            up = _deconv(self.deconv_refined[i], refined, width) + _deconv(self.deconv_raw[i], raws[i], width)
            refined = F.relu(_batch_norm(self.deconv_bnrelu[i][0], up))
            if i >= 1:
                raw = s1 if i == 1 else stem
                outputs.append(self.final_refined[i - 1](refined) + self.final_raw[i - 1](raw))
        return LitePoseOutput(outputs[0], outputs[1])

    # -- sub-network extraction ---------------------------------------------------------------------
    @torch.no_grad()
    def extract(self, arch: ArchSpec) -> LitePose:
        """A standalone :class:`LitePose` of ``arch`` with the supernet's leading slices (official
        ``weight_transfer``: BN ``num_batches_tracked`` starts at 0); its outputs equal ``self(x, arch)``."""
        self.check_arch(arch)
        net = LitePose(arch, num_keypoints=self.num_keypoints)
        device = next(self.parameters()).device

        def conv(src: nn.Conv2d, dst: nn.Conv2d) -> None:
            o, i = dst.weight.shape[:2]
            dst.weight.copy_(src.weight[:o, :i])

        def deconv(src: nn.ConvTranspose2d, dst: nn.ConvTranspose2d) -> None:
            i, o = dst.weight.shape[:2]
            dst.weight.copy_(src.weight[:i, :o])

        def depthwise(src: nn.Conv2d, dst: nn.Conv2d) -> None:
            dst.weight.copy_(src.weight[:dst.weight.shape[0]])

        def bn(src: nn.BatchNorm2d, dst: nn.BatchNorm2d) -> None:
            c = dst.num_features
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(dst, name).copy_(getattr(src, name)[:c])

        def sep(src: SuperSepConv2d, dst: nn.Module) -> None:
            depthwise(src.conv[0], dst.conv[0])
            bn(src.conv[1], dst.conv[1])
            conv(src.conv[3], dst.conv[3])

        net.to(device)
        net.first[0].load_state_dict(self.first[0].state_dict())
        net.first[1].load_state_dict(self.first[1].state_dict())
        conv(self.first[2], net.first[2])
        bn(self.first[3], net.first[3])
        for s, (super_stage, stage) in enumerate(zip(self.stage, net.stage, strict=True)):
            for b, block in enumerate(stage):
                sup: SuperInvertedBottleneck = super_stage[b]
                hidden = block.inv[0].out_channels
                inp = block.inv[0].in_channels
                t = arch.stages[s].blocks[b].expand_ratio
                if hidden != round(inp * t) or block.use_residual != sup.use_residual:
                    raise ValueError(f"stage {s} block {b}: the standalone block ({hidden} hidden, residual "
                                     f"{block.use_residual}) differs from the supernet's slice ({round(inp * t)} "
                                     f"hidden, residual {sup.use_residual})")
                conv(sup.inv[0], block.inv[0])
                bn(sup.inv[1], block.inv[1])
                block.depth_conv[0].weight.copy_(sup.depthwise_weight(hidden, block.depth_conv[0].kernel_size[0]))
                bn(sup.depth_conv[1], block.depth_conv[1])
                conv(sup.point_conv[0], block.point_conv[0])
                bn(sup.point_conv[1], block.point_conv[1])
        for i in range(3):
            deconv(self.deconv_refined[i], net.deconv_refined[i])
            deconv(self.deconv_raw[i], net.deconv_raw[i])
            bn(self.deconv_bnrelu[i][0], net.deconv_bnrelu[i][0])
        for i in range(2):
            sep(self.final_refined[i], net.final_refined[i])
            sep(self.final_raw[i], net.final_raw[i])
        return net.train(self.training)

    # -- importance re-organisation --------------------------------------------------------------------
    @torch.no_grad()
    def reorganize_channels(self, *, permute_running_stats: bool = False) -> None:
        """The official ``re_organize_weights``: put the most important channels first.

        For C0 and the outputs of stages 1..3, importance is the L1 norm of the consuming 1×1 conv's
        weights per input channel (``stage[s+1][0].inv[0]``; ``stage[0][0].inv[0]`` for C0); channels are
        permuted in descending order (``torch.sort``, as official) in the producers (``first[2]``, every
        block's ``point_conv``, and their BatchNorms), the consumer's input columns and the input columns
        of the stage's residual blocks. Hidden widths, the last stage and the head are left as they are
        (the head is freshly initialised when this runs after a backbone warm start, as official).

        Args:
            permute_running_stats: also permute the BatchNorms' running mean and variance. The official
                code means to (``adjust_bn_according_to_idx``) but its type test skips them for its
                ``SuperBatchNorm2d``, so the statistics stay with the old channel order; that is the
                default here for parity. They are re-estimated within the first steps of supernet
                training either way; ``True`` keeps the network's function exactly.
        """
        stats = ("running_mean", "running_var") if permute_running_stats else ()

        def permute_bn(norm: nn.BatchNorm2d, idx: Tensor) -> None:
            for name in ("weight", "bias", *stats):
                t = getattr(norm, name)
                t.copy_(t.index_select(0, idx))

        def order(consumer: nn.Conv2d) -> Tensor:
            importance = consumer.weight.abs().sum(dim=(0, 2, 3))
            return torch.sort(importance, dim=0, descending=True)[1]

        consumer = self.stage[0][0].inv[0]
        idx = order(consumer)
        self.first[2].weight.copy_(self.first[2].weight.index_select(0, idx))
        permute_bn(self.first[3], idx)
        consumer.weight.copy_(consumer.weight.index_select(1, idx))
        for s in range(len(self.stage) - 1):
            consumer = self.stage[s + 1][0].inv[0]
            idx = order(consumer)
            consumer.weight.copy_(consumer.weight.index_select(1, idx))
            for b, block in enumerate(self.stage[s]):
                permute_bn(block.point_conv[1], idx)
                block.point_conv[0].weight.copy_(block.point_conv[0].weight.index_select(0, idx))
                if b > 0:  # residual blocks read the stage's output
                    block.inv[0].weight.copy_(block.inv[0].weight.index_select(1, idx))


# --------------------------------------------------------------------------------------------------
# Building, loading, warm start
# --------------------------------------------------------------------------------------------------
def create_supernet(num_keypoints: int = 14, weights: str | Path | Mapping[str, Any] | None = None,
                    init_from: str | Path | None = None) -> SuperLitePose:
    """The official supernet for ``num_keypoints`` joints.

    Args:
        num_keypoints: 14 (CrowdPose) or 17 (COCO).
        weights: supernet weights: an official supernet checkpoint in any form the official code writes
            (flat, ``state_dict``/``best_state_dict``, ``module.``/``1.`` prefixes, fp16) or a project
            supernet checkpoint; loaded strictly.
        init_from: a max-size LitePose checkpoint (C0 24, stages 32/64/96/160) to warm-start from with the
            official rule: ``deconv``/``final`` weights dropped, the rest loaded, then
            :meth:`SuperLitePose.reorganize_channels`. The paper pre-trains that network without the AE loss.
    """
    from litepose.models.checkpoint import load_weights

    model = SuperLitePose(num_keypoints)
    if weights is not None and init_from is not None:
        raise ValueError("give either weights (a supernet) or init_from (a max-size LitePose), not both")
    if weights is not None:
        load_weights(model, weights, keep_supernet_keys=True)
    elif init_from is not None:
        warm_start_supernet(model, init_from)
    return model


def warm_start_supernet(model: SuperLitePose, path: str | Path) -> int:
    """Load the backbone of a max-size LitePose checkpoint into ``model`` and re-organise its channels.

    Returns:
        How many tensors were loaded.

    Raises:
        CheckpointError: a backbone tensor has another shape than the supernet's (not a max-size net).
    """
    from litepose.models.checkpoint import CheckpointError, normalize_state_dict, read_checkpoint, select_state_dict

    state = normalize_state_dict(select_state_dict(read_checkpoint(path), str(path)))
    body = {k: v for k, v in state.items() if "deconv" not in k and "final" not in k}
    own = model.state_dict()
    wrong = [f"{k} is {tuple(v.shape)} in the file but {tuple(own[k].shape)} in the supernet"
             for k, v in body.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        raise CheckpointError(f"{path}: not a max-size LitePose (C0 24, stages 32/64/96/160): {len(wrong)} "
                              f"backbone tensors differ in shape, e.g. {wrong[0]}")
    unknown = [k for k in body if k not in own]
    if unknown or not body:
        raise CheckpointError(f"{path}: {len(unknown)} tensors have no place in the supernet "
                              f"(e.g. {unknown[0] if unknown else 'none loaded'})")
    model.load_state_dict(body, strict=False)
    model.reorganize_channels()
    return len(body)


@dataclass
class LoadedSupernet:
    """A supernet read from a project checkpoint, with what trained it."""

    model: SuperLitePose
    skeleton: Any
    space: SearchSpace | None
    meta: dict[str, Any] = field(default_factory=dict)


def load_supernet(path: str | Path, num_keypoints: int | None = None) -> LoadedSupernet:
    """A supernet from a project checkpoint (``litepose train`` with ``model.supernet: true``, with its
    skeleton and search space) or from an official supernet file (joint count read from it unless given).
    """
    from litepose.models.checkpoint import (
        FORMAT,
        CheckpointError,
        keypoints_of,
        load_weights,
        normalize_state_dict,
        read_checkpoint,
        select_state_dict,
    )
    from litepose.skeleton import Skeleton

    obj = read_checkpoint(path)
    source = str(path)
    if not (isinstance(obj, Mapping) and obj.get("format") == FORMAT):  # an official file: weights only
        state = normalize_state_dict(select_state_dict(obj, source), keep_supernet_keys=True)
        model = SuperLitePose(num_keypoints if num_keypoints is not None else keypoints_of(state, source))
        load_weights(model, state, source=source, keep_supernet_keys=True)
        return LoadedSupernet(model, None, None, {"source": source, "format": "official"})
    if obj.get("family") != SUPERNET_FAMILY:
        raise CheckpointError(f"{source}: holds a {obj.get('family', 'litepose')} model, not a supernet")
    spec = ArchSpec.from_dict(obj["arch"], source=f"{source}: arch")
    if num_keypoints is not None and num_keypoints != int(obj["num_keypoints"]):
        raise CheckpointError(f"{source}: the supernet predicts {obj['num_keypoints']} keypoints, not {num_keypoints}")
    model = SuperLitePose(int(obj["num_keypoints"]), spec)
    load_weights(model, obj, source=source, keep_supernet_keys=True)
    skeleton = Skeleton.from_dict(obj["skeleton"], source=f"{source}: skeleton") if obj.get("skeleton") else None
    space = SearchSpace.from_dict(obj["search_space"], source=f"{source}: search_space") \
        if obj.get("search_space") else None
    return LoadedSupernet(model, skeleton, space, dict(obj.get("meta", {})))

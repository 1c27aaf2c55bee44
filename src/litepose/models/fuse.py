"""BatchNorm folded into the convolutions before it: the network deployment runs (reference §1.7, ``fuse_bn.py``).

In eval mode a BatchNorm is a per-channel affine map ``y = s·x + t`` with ``s = γ/√(σ²+ε)`` and
``t = β − s·μ``. :func:`fold_batchnorm` moves it into the layer that feeds it:

* a conv followed by a BN in a ``Sequential`` (every conv-BN of the backbone, the stem and the
  prediction convs) becomes one conv with weight ``w·s`` (per output channel) and bias ``t``
  (``b·s + t`` if it had a bias);
* LitePose's fusion head sums two deconvs before its BN: ``BN(refined(x) + raw(y))``. The scale goes
  into **both** ``deconv_refined[i]`` and ``deconv_raw[i]`` (weight ``[Cin, Cout, k, k]``, scaled along
  ``Cout``) and the shift only into ``deconv_refined[i]``, as the official ``fuse_bn.py`` does
  (``op=0`` for the raw branch), so the sum carries it once. The stock ONNX exporter fuses only
  conv → BN chains and leaves these three BNs in the graph.
* a module that names its conv → BN pairs in a ``conv_bn_pairs`` attribute (``(("conv1", "bn1"), ...)``:
  the HigherHRNet blocks and stem, whose official layout keeps them as attributes) gets each pair folded.

Each folded BN is replaced by ``nn.Identity`` so the module tree (and the forward) stays the same.
The result is a new eval-mode module; the model passed in is not touched.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["batchnorm_layers", "fold_batchnorm"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_DECONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batchnorm_layers(model: nn.Module) -> list[str]:
    """The qualified names of the BatchNorm layers still in ``model``."""
    return [name for name, m in model.named_modules() if isinstance(m, _BATCHNORMS)]


def _scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    """``(s, t)`` with ``bn(x) == s·x + t`` per channel in eval mode (float64 for an exact fold)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics (track_running_stats=False)")
    var = bn.running_var.double()
    mean = bn.running_mean.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    return scale, beta - scale * mean


def _set_bias(layer: nn.Module, bias: Tensor) -> None:
    weight = layer.weight
    layer.bias = nn.Parameter(bias.to(dtype=weight.dtype, device=weight.device), requires_grad=weight.requires_grad)


def _fold_into_conv(conv: nn.Module, bn: nn.modules.batchnorm._BatchNorm, *, with_shift: bool = True) -> None:
    """Fold ``bn`` into ``conv`` (a conv or a transposed conv) in place; ``with_shift=False`` folds the scale only."""
    scale, shift = _scale_shift(bn)
    weight = conv.weight.detach().double()
    # Output channels: dim 0 of a conv weight [Cout, Cin/g, k...], dim 1 of a transposed conv [Cin, Cout/g, k...].
    if isinstance(conv, _DECONVS):
        if conv.groups != 1:
            raise ValueError("folding a BatchNorm into a grouped transposed convolution is not supported")
        shape = (1, -1) + (1,) * (weight.dim() - 2)
    else:
        shape = (-1,) + (1,) * (weight.dim() - 1)
    with torch.no_grad():
        conv.weight.copy_((weight * scale.reshape(shape)).to(conv.weight.dtype))
        bias = conv.bias.detach().double() * scale if conv.bias is not None else torch.zeros_like(scale)
        if with_shift:
            bias = bias + shift
        if conv.bias is not None:
            conv.bias.copy_(bias.to(conv.bias.dtype))
        elif with_shift:
            _set_bias(conv, bias)


def _fold_sequentials(model: nn.Module) -> None:
    """Every ``conv, BN`` pair of consecutive entries of a ``Sequential``."""
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        layers = list(seq)
        for i in range(len(layers) - 1):
            conv, bn = layers[i], layers[i + 1]
            if isinstance(conv, _CONVS + _DECONVS) and isinstance(bn, _BATCHNORMS) \
                    and bn.num_features == conv.out_channels:
                _fold_into_conv(conv, bn)
                seq[i + 1] = nn.Identity()


def _fold_fusion_head(model: nn.Module) -> None:
    """LitePose's ``BN_i(deconv_refined[i](x) + deconv_raw[i](y))`` (the official ``fuse_bn.py`` rule)."""
    refined = getattr(model, "deconv_refined", None)
    bnrelu = getattr(model, "deconv_bnrelu", None)
    if not isinstance(refined, nn.ModuleList) or not isinstance(bnrelu, nn.ModuleList):
        return
    raw = getattr(model, "deconv_raw", None)
    for i, block in enumerate(bnrelu):
        if not (isinstance(block, nn.Sequential) and len(block) and isinstance(block[0], _BATCHNORMS)):
            continue
        bn = block[0]
        _fold_into_conv(refined[i], bn)
        if isinstance(raw, nn.ModuleList):
            _fold_into_conv(raw[i], bn, with_shift=False)  # the sum carries the shift once
        block[0] = nn.Identity()


def _fold_declared_pairs(model: nn.Module) -> None:
    """The ``(conv, BN)`` attribute pairs a module lists in ``conv_bn_pairs`` (the BN directly follows the conv)."""
    for module in list(model.modules()):
        for conv_name, bn_name in getattr(module, "conv_bn_pairs", ()):
            bn = getattr(module, bn_name)
            if isinstance(bn, _BATCHNORMS):
                _fold_into_conv(getattr(module, conv_name), bn)
                setattr(module, bn_name, nn.Identity())


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every BatchNorm folded into the convolution that feeds it.

    Handles conv → BN pairs inside ``Sequential`` containers (all of LitePose's conv-BN layers),
    LitePose's summed deconvs and the pairs a module declares in ``conv_bn_pairs`` (see the module
    docstring). BatchNorms of other layouts are left in place; :func:`batchnorm_layers` lists what
    remains. ``model`` itself is not modified.

    Raises:
        ValueError: a BatchNorm to fold has no running statistics.
    """
    folded = copy.deepcopy(model).eval()
    _fold_fusion_head(folded)
    _fold_sequentials(folded)
    _fold_declared_pairs(folded)
    return folded

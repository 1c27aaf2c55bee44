"""BatchNorm recalibration of a sub-network before it is scored.

The supernet's BatchNorm statistics are running averages over every sub-network it trained: a given
sub-network's activations have other statistics, so its accuracy is only meaningful after the
statistics are re-estimated on a few batches of training images (reference §2, ``calibrate_test.py``).

Two semantics:

* ``official``: forwards in train mode starting from the inherited statistics, which move by the BN
  momentum (0.1) per batch: after ``n`` batches the inherited values still weigh ``0.9ⁿ``.
* ``exact`` (once-for-all's ``set_running_statistics``): the statistics are reset, then each becomes the
  plain average over the calibration batches of the batch means and (unbiased) variances, so nothing
  inherited remains and every batch counts the same.

Both run without gradients; the model ends in eval mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["BN_MODES", "recalibrate_bn"]

BN_MODES = ("exact", "official")
BnMode = Literal["exact", "official"]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[Tensor], num_batches: int | None = None, *,
                   mode: BnMode = "exact") -> int:
    """Re-estimate the BatchNorm statistics of ``model`` on image batches (``(B, 3, H, W)`` tensors).

    Args:
        model: a network with ``nn.BatchNorm2d`` layers (a :class:`~litepose.models.LitePose`, or a
            supernet whose forward takes no other argument).
        batches: image batches already on the model's device, normalised as for training.
        num_batches: use at most this many batches (``None``: all).
        mode: ``exact`` or ``official`` (see the module docstring).

    Returns:
        The number of batches used.

    Raises:
        ValueError: an unknown mode, or no batch to calibrate on.
    """
    if mode not in BN_MODES:
        raise ValueError(f"BN recalibration mode must be one of {BN_MODES}, got {mode!r}")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved_momentum = [m.momentum for m in norms]
    if mode == "exact":
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: batch n enters with weight 1/n
    model.train()
    used = 0
    try:
        for images in batches:
            if num_batches is not None and used >= num_batches:
                break
            model(images)
            used += 1
    finally:
        for m, momentum in zip(norms, saved_momentum, strict=True):
            m.momentum = momentum
        model.eval()
    if used == 0:
        raise ValueError("BN recalibration needs at least one batch of images")
    return used

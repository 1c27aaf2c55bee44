"""Exponential moving average (EMA) of a model's weights, for evaluation and the saved checkpoints.

Averaging the weights of the last few hundred optimizer steps removes most of the step-to-step noise of
a short, high-learning-rate run: the averaged model is what ``optim.ema_decay`` makes the trainer
validate and store as the checkpoint's ``state_dict`` (the raw weights go to ``train_state_dict`` so a
resumed run continues exactly). Parameters and floating-point buffers (BatchNorm running statistics)
are averaged; integer buffers (``num_batches_tracked``) are copied.

The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the first steps, when
the weights move fast, do not drag the random initialisation along.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """An averaged copy of ``model`` (kept in eval mode, without gradients).

    Args:
        model: the plain (unwrapped) model being trained; the copy has its device and memory format.
        decay: the long-run decay per update, in (0, 1); the average spans about ``1 / (1 - decay)`` steps.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self._float_pairs, self._other_pairs = self._pairs(model)

    def _pairs(self, model: nn.Module) -> tuple[tuple[list[Tensor], list[Tensor]], list[tuple[Tensor, Tensor]]]:
        """(averaged, source) float tensors as two lists for the fused ops, and the other tensors."""
        mine = dict(self.module.state_dict(keep_vars=True))
        theirs = dict(model.state_dict(keep_vars=True))
        if mine.keys() != theirs.keys():
            raise ValueError("the averaged copy and the model have different state dict keys")
        avg: list[Tensor] = []
        src: list[Tensor] = []
        other: list[tuple[Tensor, Tensor]] = []
        for name, tensor in mine.items():
            if tensor.is_floating_point():
                avg.append(tensor.data)
                src.append(theirs[name].data)
            else:
                other.append((tensor.data, theirs[name].data))
        return (avg, src), other

    def current_decay(self) -> float:
        """The decay the next update uses (ramped up over the first updates)."""
        n = self.updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the model's current weights (call after each optimizer step)."""
        d = self.current_decay()
        avg, src = self._float_pairs
        if avg:
            torch._foreach_lerp_(avg, src, 1.0 - d)
        for mine, theirs in self._other_pairs:
            mine.copy_(theirs)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        """Counters only; the averaged weights themselves are the checkpoint's ``state_dict``."""
        return {"decay": self.decay, "updates": int(self.updates)}

    def load_state_dict(self, state: Mapping[str, Any], weights: Mapping[str, Tensor]) -> None:
        """Restore the counter and the averaged weights (``weights``: a checkpoint's ``state_dict``)."""
        self.module.load_state_dict(weights)
        self.updates = int(state["updates"])

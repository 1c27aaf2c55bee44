"""Parameter and MAC counting with forward hooks.

Two conventions are reported (reference §7):

* **true MACs** — multiply-accumulates of the convolutions and linear layers only:
  conv ``out_elems · (Cin/groups) · kh · kw``; transposed conv ``in_elems · (Cout/groups) · kh · kw``.
* **paper MACs** — the rule of the ptflops version the LitePose authors used, which reproduces every
  official "#MACs" figure: transposed convs counted over *output* pixels (4× their true cost at
  stride 2), BatchNorm counted as ``2 · numel``, ReLU/ReLU6 as ``numel``, residual adds not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Complexity", "count_params", "profile_model"]

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.Hardswish, nn.SiLU)


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int  # true MACs
    macs_paper: int  # official (old ptflops) convention


def count_params(model: nn.Module) -> int:
    """Number of parameters (BN running statistics are buffers and are not counted)."""
    return sum(p.numel() for p in model.parameters())


def _conv_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> tuple[int, int]:
    if isinstance(module, nn.ConvTranspose2d | nn.ConvTranspose1d | nn.ConvTranspose3d):
        kernel = int(torch.tensor(module.kernel_size).prod())
        per_pixel = module.in_channels * (module.out_channels // module.groups) * kernel
        true = inp.shape[0] * int(torch.tensor(inp.shape[2:]).prod()) * per_pixel
        paper = out.shape[0] * int(torch.tensor(out.shape[2:]).prod()) * per_pixel
        return true, paper
    kernel = int(torch.tensor(module.kernel_size).prod())
    macs = out.numel() * (module.in_channels // module.groups) * kernel
    macs_paper = macs + out.numel() if module.bias is not None else macs
    return macs, macs_paper


def profile_model(model: nn.Module, input_size: int | tuple[int, int], batch: int = 1) -> Complexity:
    """Count params and MACs of one forward pass at ``input_size`` (side or ``(H, W)``), batch 1 by default."""
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    totals = {"true": 0, "paper": 0}

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        inp = args[0]
        if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose1d | nn.ConvTranspose2d
                      | nn.ConvTranspose3d):
            true, paper = _conv_macs(module, inp, out)
        elif isinstance(module, nn.Linear):
            true = out.numel() * module.in_features
            paper = true + (out.numel() if module.bias is not None else 0)
        elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d | nn.SyncBatchNorm):
            true, paper = 0, 2 * inp.numel()
        elif isinstance(module, _ACTIVATIONS):
            true, paper = 0, inp.numel()
        else:
            return
        totals["true"] += int(true)
        totals["paper"] += int(paper)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(batch, 3, h, w, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return Complexity(count_params(model), totals["true"] // batch, totals["paper"] // batch)

"""Starting from other weights: the official backbone warm start and a re-drawn prediction head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from litepose.models.checkpoint import normalize_state_dict, read_checkpoint, select_state_dict

__all__ = ["WarmStartReport", "init_head", "warm_start_backbone"]


@dataclass(frozen=True)
class WarmStartReport:
    """What a backbone warm start loaded and why the rest was left out."""

    path: str
    loaded: int
    skipped_head: int
    skipped_shape: tuple[str, ...]
    unexpected: tuple[str, ...]
    missing_backbone: tuple[str, ...]

    def summary(self) -> str:
        parts = [f"warm start from {self.path}: loaded {self.loaded} tensors",
                 f"skipped {self.skipped_head} deconv/final tensors (official rule)"]
        if self.skipped_shape:
            parts.append(f"{len(self.skipped_shape)} with a different shape (e.g. {self.skipped_shape[0]})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} not in this model (e.g. {self.unexpected[0]})")
        if self.missing_backbone:
            parts.append(f"{len(self.missing_backbone)} backbone tensors kept their initialisation "
                         f"(e.g. {self.missing_backbone[0]})")
        return "; ".join(parts)


def warm_start_backbone(model: nn.Module, path: str | Path) -> WarmStartReport:
    """Load the backbone of a checkpoint into ``model`` (official rule, reference §1.7).

    Keys containing ``deconv`` or ``final`` are dropped, prefixes (``module.``, ``1.``) stripped, and the
    rest loaded with ``strict=False``. Tensors whose shape differs from the model's are skipped and
    reported (the official code would crash on them).
    """
    state = normalize_state_dict(select_state_dict(read_checkpoint(path), f"init.backbone {path}"))
    head = [k for k in state if "deconv" in k or "final" in k]
    body = {k: v for k, v in state.items() if k not in set(head)}
    own = model.state_dict()
    wrong_shape = tuple(k for k, v in body.items() if k in own and tuple(own[k].shape) != tuple(v.shape))
    body = {k: v for k, v in body.items() if k not in set(wrong_shape)}
    result = model.load_state_dict(body, strict=False)
    missing = tuple(k for k in result.missing_keys if "deconv" not in k and "final" not in k)
    return WarmStartReport(str(path), len(body) - len(result.unexpected_keys), len(head), wrong_shape,
                           tuple(result.unexpected_keys), missing)


def init_head(model: nn.Module, std: float) -> int:
    """Re-draw the final 1x1 prediction convs (``final_*.conv.3``) from ``N(0, std²)``; returns how many."""
    count = 0
    for name, module in model.named_modules():
        if name.startswith("final") and isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            count += 1
    return count

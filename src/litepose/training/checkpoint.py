"""Training checkpoints: ``last.pt`` every epoch (and optionally every N steps), ``best.pt`` by val AP.

A training checkpoint is a superset of the project checkpoint of :mod:`litepose.models.checkpoint`
(``format``/``arch``/``num_keypoints``/``skeleton``/``state_dict``/``meta``), so ``litepose.load(
"runs/x/best.pt")`` works on it directly. On top it stores what ``--resume`` needs to continue exactly
where the run stopped::

    optimizer     optimizer.state_dict()
    scheduler     the LR schedule's state (planned epochs, milestones, step counter)
    scaler        GradScaler state (AMP on CUDA)
    epoch         completed epochs
    step_in_epoch batches already done in epoch ``epoch`` (non-zero for mid-epoch checkpoints)
    global_step   optimizer steps so far
    rng           RNG states of python, numpy, torch (and CUDA), as tensors and plain types
    config        the resolved training config (plain dict)
    best_metric   best validation AP so far (``None`` before the first validation)

With ``optim.ema_decay`` set, ``state_dict`` holds the averaged weights (what inference, warm starts and
teachers should use), ``train_state_dict`` the raw weights the optimizer works on, and ``ema`` the
average's counters (:mod:`litepose.training.ema`).

Everything is tensors and plain containers, so it loads with ``torch.load(weights_only=True)``. Files are
written through :func:`litepose.io.atomic_save_torch` (temporary file + rename): a failed or killed
write leaves the previous ``last.pt`` intact.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from litepose.io import atomic_save_torch
from litepose.models.checkpoint import FORMAT, CheckpointError, checkpoint_dict, cpu_state_dict, read_checkpoint
from litepose.training.ema import WeightAverage

__all__ = [
    "BEST",
    "LAST",
    "capture_rng_state",
    "load_training_checkpoint",
    "make_training_checkpoint",
    "resolve_resume_path",
    "restore_rng_state",
    "save_checkpoint",
]

LAST = "last.pt"
BEST = "best.pt"
_TRAINING_KEYS = ("optimizer", "scheduler", "epoch", "global_step", "config")


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy and torch (CPU and CUDA) as tensors and plain types."""
    version, py_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"name": str(np_name), "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), int(npst["pos"]),
                         int(npst["has_gauss"]), float(npst["cached_gaussian"])))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = list(state["cuda"])
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def make_training_checkpoint(model: torch.nn.Module, *, skeleton: Any, optimizer: torch.optim.Optimizer,
                             scheduler: Mapping[str, Any], scaler: torch.amp.GradScaler | None, epoch: int,
                             step_in_epoch: int, global_step: int, config: Mapping[str, Any],
                             best_metric: float | None, meta: Mapping[str, Any] | None = None,
                             ema: WeightAverage | None = None) -> dict[str, Any]:
    """The full resumable state, as a superset of the project checkpoint dict.

    Args:
        model: the plain (unwrapped) LitePose model.
        skeleton: the :class:`~litepose.skeleton.Skeleton` of the training data.
        optimizer: the optimizer.
        scheduler: the LR schedule's ``state_dict()``.
        scaler: the AMP GradScaler (``None`` or disabled on CPU).
        epoch: completed epochs.
        step_in_epoch: batches already done inside epoch ``epoch``.
        global_step: optimizer steps so far.
        config: the resolved config as a plain dict.
        best_metric: best validation AP so far.
        meta: extra metadata (kept under ``meta``).
        ema: the weight average, when training keeps one: its weights become ``state_dict``.
    """
    ckpt = checkpoint_dict(model if ema is None else ema.module, skeleton=skeleton, meta={
        "epoch": int(epoch), "global_step": int(global_step), "best_metric": best_metric,
        "trained_with": "litepose train", **dict(meta or {})})
    ckpt.update({
        "optimizer": optimizer.state_dict(),
        "scheduler": dict(scheduler),
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "epoch": int(epoch),
        "step_in_epoch": int(step_in_epoch),
        "global_step": int(global_step),
        "rng": capture_rng_state(),
        "config": dict(config),
        "best_metric": None if best_metric is None else float(best_metric),
    })
    if ema is not None:
        ckpt["train_state_dict"] = cpu_state_dict(model)
        ckpt["ema"] = ema.state_dict()
    return ckpt


def save_checkpoint(ckpt: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``ckpt`` atomically; the previous file at ``path`` survives any failure."""
    atomic_save_torch(dict(ckpt), path)
    return Path(path)


def resolve_resume_path(path: str | Path) -> Path:
    """A checkpoint file, or a run folder holding ``last.pt``."""
    p = Path(path)
    if p.is_dir():
        candidate = p / LAST
        if not candidate.is_file():
            raise FileNotFoundError(f"--resume {p}: the folder has no {LAST} (nothing to resume)")
        return candidate
    if not p.is_file():
        raise FileNotFoundError(f"--resume {p}: no such checkpoint file or run folder")
    return p


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint with ``weights_only=True`` and check it can resume a run."""
    obj = read_checkpoint(path)
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a litepose training checkpoint (no 'format': 'litepose')")
    missing = [k for k in _TRAINING_KEYS if k not in obj]
    if missing:
        raise CheckpointError(f"{path}: a model-only checkpoint cannot resume training (missing {missing}); "
                              "use it as init.backbone or distill.teacher instead")
    return dict(obj)

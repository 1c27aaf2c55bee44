"""The training engine: plain ``build_*`` functions, :func:`train_one_epoch` and :func:`fit`.

One process trains on the CPU or one GPU; ``torchrun --nproc_per_node N -m litepose train CFG`` trains
on N GPUs (or N CPU processes with gloo) with no change: every ``torch.distributed`` call lives in
:mod:`litepose.training.distributed`, and only rank 0 logs and writes files.

Reproducibility and ``--resume``: the model is initialised from ``train.seed``; the data order is a
seeded :class:`~torch.utils.data.distributed.DistributedSampler` shuffle per epoch; each sample's
augmentation is seeded from ``(seed, epoch, index)`` inside the worker that loads it (the sampler hands
the epoch to the worker with every index). So a run killed after a checkpoint and resumed from it
produces the same weights as the uninterrupted run, whatever the number of workers. (Runs with
``train.time_budget_minutes`` follow the clock instead, so they resume but not bit for bit.)

What the official code does and this trainer keeps (reference §4.5): Adam with no weight decay,
LR steps at epoch boundaries (``MultiStepLR``), heatmap loss at both strides and AE loss at stride 4,
backbone warm start that skips ``deconv``/``final`` layers, heatmap distillation from a teacher.
Fixed: distillation can actually be switched on (official ``args.teacher == True`` on a string,
reference §8.9), the missing ``WarmupMultiStepLR`` is a working linear warm-up, and NaN/inf losses stop
the run with a message instead of silently training on.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from litepose.data.dataset import KeypointDataset
from litepose.models.checkpoint import FORMAT, normalize_state_dict, read_checkpoint
from litepose.models.litepose import LitePose, LitePoseOutput
from litepose.models.zoo import create_model
from litepose.skeleton import Skeleton, load_skeleton
from litepose.training import distributed as D
from litepose.training.checkpoint import (
    BEST,
    LAST,
    load_training_checkpoint,
    make_training_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from litepose.training.config import Config, ConfigError, config_to_dict, save_config
from litepose.training.ema import WeightAverage
from litepose.training.losses import LitePoseLoss, LossBreakdown, distill_heatmap_loss
from litepose.training.metrics_log import MetricsLogger

__all__ = [
    "DataPaths",
    "EpochStats",
    "FitResult",
    "LrSchedule",
    "TrainingDiverged",
    "WarmStartReport",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_train_dataset",
    "build_train_loader",
    "fit",
    "init_head",
    "load_teacher",
    "resolve_data",
    "scaled_lr",
    "train_one_epoch",
    "warm_start_backbone",
]

Log = Callable[[str], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says where and which checkpoint is intact."""


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataPaths:
    """Resolved dataset locations and skeleton (``skeleton`` is ``None``: take it from the train JSON)."""

    train_ann: Path
    train_images: Path
    val_ann: Path | None
    val_images: Path | None
    skeleton: Skeleton | None


def resolve_data(cfg: Config) -> DataPaths:
    """Combine ``data.dataset`` (a dataset YAML) with the explicit ``data.*`` paths and skeleton."""
    d = cfg.data
    train_ann, train_images, val_ann, val_images = d.train_ann, d.train_images, d.val_ann, d.val_images
    skeleton: Skeleton | None = None
    if d.dataset is not None:
        from litepose.data.config_dataset import load_dataset_config

        ds = load_dataset_config(d.dataset)
        if ds.train is not None:
            train_ann = train_ann or str(ds.train.ann_file)
            train_images = train_images or str(ds.train.image_dir)
        if ds.val is not None:
            val_ann = val_ann or str(ds.val.ann_file)
            val_images = val_images or str(ds.val.image_dir)
        skeleton = ds.skeleton
    if d.skeleton is not None:
        skeleton = load_skeleton(d.skeleton)
    if not train_ann or not train_images:
        raise ConfigError("data: no training set; set data.dataset (a dataset YAML) or data.train_ann and "
                          "data.train_images")
    if (val_ann is None) != (val_images is None):
        raise ConfigError("data: data.val_ann and data.val_images must be given together")
    return DataPaths(Path(train_ann), Path(train_images), Path(val_ann) if val_ann else None,
                     Path(val_images) if val_images else None, skeleton)


class _EpochSeeded(Dataset):
    """Feeds :class:`~litepose.training.distributed.EpochSampler` keys ``(epoch, index)`` to a dataset.

    Setting the epoch inside the worker (rather than on the main process's copy) is what makes the
    augmentation follow the epoch even with persistent workers.
    """

    def __init__(self, dataset: KeypointDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        if self.dataset.epoch != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


def _seed_worker(worker_id: int) -> None:
    # Python's and NumPy's global RNGs are not reseeded by the DataLoader in every PyTorch version;
    # derive them from the per-worker torch seed so no two workers share a stream.
    import random

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_train_dataset(cfg: Config, paths: DataPaths, input_size: int) -> KeypointDataset:
    """The augmented training set (targets at strides 4 and 2 of ``input_size``)."""
    d = cfg.data
    return KeypointDataset(paths.train_ann, paths.train_images, paths.skeleton, input_size=input_size,
                           output_strides=(4, 2), train=True, augment=d.augment, max_people=d.max_people,
                           sigma=d.sigma, heatmap_center=d.heatmap_center, skip_bad=d.skip_bad,
                           seed=cfg.train.seed)


def build_train_loader(dataset: KeypointDataset, cfg: Config, info: D.DistInfo, device: torch.device
                       ) -> tuple[DataLoader, D.EpochSampler]:
    """A DataLoader over ``dataset`` with a seeded distributed sampler, workers and pinned memory."""
    sampler = D.EpochSampler(dataset, info, shuffle=True, seed=cfg.train.seed)
    per_rank = math.ceil(len(dataset) / info.world_size)
    bs = cfg.optim.batch_size
    workers = cfg.data.workers
    generator = torch.Generator()
    generator.manual_seed(cfg.train.seed)
    loader = DataLoader(
        _EpochSeeded(dataset),
        batch_size=bs,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        # A partial last batch is dropped (BatchNorm statistics of a handful of images are noisy),
        # unless the data are so few that nothing would be left.
        drop_last=per_rank >= bs,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=_seed_worker if workers > 0 else None,
        generator=generator,
    )
    return loader, sampler


# --------------------------------------------------------------------------------------------------
# Model, loss, optimiser, schedule
# --------------------------------------------------------------------------------------------------
def build_model(cfg: Config, num_keypoints: int, input_size: int | None = None) -> LitePose:
    """The LitePose network of ``cfg.model`` (seeded by the caller), recording ``input_size`` in its spec."""
    m = cfg.model
    return create_model(m.arch, num_keypoints=num_keypoints, width=m.width, kernel_size=m.kernel_size,
                        fusion=m.fusion, input_size=input_size)


def build_loss(cfg: Config, num_keypoints: int) -> LitePoseLoss:
    lc = cfg.loss
    return LitePoseLoss(num_keypoints, heatmap_factors=lc.heatmap_factors,
                        ae_factors=((lc.push_factor, lc.pull_factor), None), heatmap_weighting=lc.heatmap_weighting)


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    o = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    # The fused kernels compute the same update as the per-parameter loop (up to float rounding) in one
    # pass: on 2 CPU threads an XS model's Adam update takes 2.9 ms instead of 9.8 ms (bench_train.py).
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    kind = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
    return kind(params, lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, fused=fused or None)


def scaled_lr(cfg: Config, world_size: int = 1) -> float:
    """``optim.lr``, linearly scaled to the total batch when ``optim.lr_reference_batch`` is set."""
    o = cfg.optim
    if o.lr_reference_batch is None:
        return o.lr
    return o.lr * o.batch_size * world_size / o.lr_reference_batch


class LrSchedule:
    """Per-step learning rate: linear warm-up, then epoch-wise steps (official) or cosine.

    The ``step`` schedule changes the rate only at epoch boundaries, exactly as the official
    ``MultiStepLR`` stepped once per epoch. With a time budget (``train.time_budget_minutes``) the
    schedule follows the fraction of the budget used instead of the step count: ``optim.epochs``
    and the milestones then describe the whole budget, whatever speed the machine turns out to have.
    """

    def __init__(self, cfg: Config, steps_per_epoch: int, world_size: int = 1) -> None:
        self.cfg = cfg.optim
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.base_lr = scaled_lr(cfg, world_size)

    def factor(self, step: int, progress: float | None = None) -> float:
        """LR multiplier at optimizer step ``step`` (or at ``progress`` ∈ [0, 1] of a time budget)."""
        o = self.cfg
        if progress is None:
            epochs_done = step / self.steps_per_epoch
            whole = step // self.steps_per_epoch
        else:
            epochs_done = min(1.0, max(0.0, progress)) * o.epochs
            whole = int(epochs_done)
        if o.schedule == "cosine":
            frac = min(1.0, epochs_done / o.epochs)
            f = o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))
        else:
            f = o.gamma ** sum(whole >= m for m in o.milestones)
        warm = o.warmup_epochs * self.steps_per_epoch
        if warm > 0 and step < warm:
            f *= (step + 1) / warm
        return f

    def lr(self, step: int, progress: float | None = None) -> float:
        return self.base_lr * self.factor(step, progress)

    def apply(self, optimizer: torch.optim.Optimizer, step: int, progress: float | None = None) -> float:
        lr = self.lr(step, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.cfg.schedule, "base_lr": self.base_lr, "steps_per_epoch": self.steps_per_epoch,
                "milestones": list(self.cfg.milestones), "epochs": self.cfg.epochs}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore: the rate is a pure function of the step (kept for symmetry and checks)."""
        del state


# --------------------------------------------------------------------------------------------------
# Warm start and distillation
# --------------------------------------------------------------------------------------------------
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


def _state_dict_of(obj: Any, source: str) -> Mapping[str, Tensor]:
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        return obj["state_dict"]
    if isinstance(obj, Mapping):
        for key in ("best_state_dict", "state_dict", "model_state_dict"):
            if isinstance(obj.get(key), Mapping):
                return obj[key]
        if obj and all(isinstance(v, Tensor) for v in obj.values()):
            return obj
    raise ConfigError(f"init.backbone {source}: no state_dict in the file")


def warm_start_backbone(model: nn.Module, path: str | Path) -> WarmStartReport:
    """Load the backbone of a checkpoint into ``model`` (official rule, reference §1.7).

    Keys containing ``deconv`` or ``final`` are dropped, prefixes (``module.``, ``1.``) stripped, and the
    rest loaded with ``strict=False``. Tensors whose shape differs from the model's are skipped and
    reported (the official code would crash on them).
    """
    state = normalize_state_dict(_state_dict_of(read_checkpoint(path), str(path)))
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


@dataclass
class Teacher:
    """A frozen teacher network and the input side it sees."""

    model: LitePose
    input_size: int
    weight: float


def load_teacher(cfg: Config, num_keypoints: int, device: torch.device) -> Teacher | None:
    """The distillation teacher of ``cfg.distill`` (``None`` when distillation is off)."""
    dc = cfg.distill
    if dc.teacher is None or dc.weight == 0:
        return None
    from litepose.models.checkpoint import load_checkpoint

    teacher = load_checkpoint(dc.teacher).model
    if teacher.num_keypoints != num_keypoints:
        raise ConfigError(f"distill.teacher {dc.teacher}: the teacher predicts {teacher.num_keypoints} keypoints, "
                          f"the student {num_keypoints}")
    teacher.eval().requires_grad_(False).to(device)
    if cfg.train.channels_last:
        teacher.to(memory_format=torch.channels_last)
    return Teacher(teacher, dc.teacher_input_size or teacher.spec.input_size, dc.weight)


def distill_loss(teacher: Teacher, images: Tensor, student: LitePoseOutput, masks: list[Tensor],
                 num_keypoints: int) -> Tensor:
    """Official distillation: the input nearest-resized to the teacher's size, the teacher's heatmaps
    nearest-resized to each student output, masked MSE per stage, times the weight."""
    with torch.no_grad():
        x = images
        if x.shape[-1] != teacher.input_size or x.shape[-2] != teacher.input_size:
            x = F.interpolate(x, size=(teacher.input_size, teacher.input_size), mode="nearest")
        t_out = teacher.model(x)
    return teacher.weight * distill_heatmap_loss(list(student), list(t_out), masks, num_keypoints)


# --------------------------------------------------------------------------------------------------
# One epoch
# --------------------------------------------------------------------------------------------------
@dataclass
class TrainState:
    """Counters that a checkpoint stores and ``--resume`` restores."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # batches done inside epoch ``epoch``
    global_step: int = 0
    best_metric: float | None = None
    budget_used_s: float = 0.0  # seconds of train.time_budget_minutes already spent


@dataclass
class EpochStats:
    """Means over one epoch (this process's batches, averaged over processes by the caller)."""

    losses: dict[str, float]
    images: int
    seconds: float
    lr: float
    budget_exhausted: bool = False  # the time budget ended this epoch early

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Engine:
    """Everything :func:`train_one_epoch` needs, built once by :func:`fit`."""

    cfg: Config
    model: nn.Module  # possibly DDP-wrapped
    loss_fn: LitePoseLoss
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    scaler: torch.amp.GradScaler
    device: torch.device
    info: D.DistInfo
    num_keypoints: int
    teacher: Teacher | None = None
    logger: MetricsLogger | None = None
    log: Log = print
    on_checkpoint: Callable[[TrainState], None] | None = None
    progress: bool = True
    eta: dict[str, float] = field(default_factory=dict)
    budget_progress: Callable[[], float] | None = None  # fraction of the time budget used
    ema: WeightAverage | None = None  # updated after every optimizer step


def _to_device(batch: Mapping[str, Any], device: torch.device, channels_last: bool
               ) -> tuple[Tensor, list[Tensor], list[Tensor], list[Tensor]]:
    nb = device.type == "cuda"
    images = batch["image"].to(device, non_blocking=nb)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    heatmaps = [h.to(device, non_blocking=nb) for h in batch["heatmaps"]]
    masks = [m.to(device, non_blocking=nb) for m in batch["masks"]]
    joints = [j.to(device, non_blocking=nb) for j in batch["joints"]]
    return images, heatmaps, masks, joints


def _diverged_message(state: TrainState, parts: Mapping[str, float], run_dir: Path | None) -> str:
    detail = ", ".join(f"{k}={v:.4g}" for k, v in parts.items())
    where = f"epoch {state.epoch + 1}, step {state.global_step + 1}"
    kept = ""
    if run_dir is not None and (run_dir / LAST).is_file():
        kept = f" The last good checkpoint is kept: {run_dir / LAST}."
    return (f"training diverged: the loss became non-finite at {where} ({detail}); stopped without saving.{kept}"
            " Try a lower optim.lr, optim.grad_clip, or train.amp=false.")


def train_one_epoch(engine: Engine, loader: DataLoader, state: TrainState, *, skip_batches: int = 0,
                    run_dir: Path | None = None) -> EpochStats:
    """Run the batches of epoch ``state.epoch`` (after ``skip_batches`` already done) and update ``state``.

    Raises:
        TrainingDiverged: a loss became NaN/inf (on any process); nothing is saved for this step.
    """
    cfg = engine.cfg
    model, opt, scaler, device = engine.model, engine.optimizer, engine.scaler, engine.device
    model.train()
    use_amp = scaler.is_enabled()
    channels_last = cfg.train.channels_last
    total_batches = len(loader)
    sums: dict[str, Tensor] = {}
    images_seen = 0
    count = 0
    lr = engine.schedule.lr(state.global_step)
    start = time.perf_counter()
    bar = None
    if engine.progress and engine.info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_batches, initial=skip_batches, leave=False, dynamic_ncols=True,
                   desc=f"epoch {state.epoch + 1}/{cfg.optim.epochs}", unit="batch")
    iterator: Iterator[Mapping[str, Any]] = iter(loader)
    stopped = False
    try:
        for batch in iterator:
            progress = engine.budget_progress() if engine.budget_progress is not None else None
            if progress is not None and D.any_flag(progress >= 1.0, device):
                stopped = True
                break
            images, heatmaps, masks, joints = _to_device(batch, device, channels_last)
            lr = engine.schedule.apply(opt, state.global_step, progress)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                outputs = model(images)
            outputs = LitePoseOutput(*(o.float() for o in outputs))
            losses: LossBreakdown = engine.loss_fn(outputs, heatmaps, masks, joints)
            total = losses.total
            parts = {"heatmap": losses.heatmap, "push": losses.push, "pull": losses.pull}
            if engine.teacher is not None:
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    dl = distill_loss(engine.teacher, images, outputs, masks, engine.num_keypoints)
                total = total + dl
                parts["distill"] = dl
            parts = {"loss": total, **parts}
            bad = not bool(torch.isfinite(total.detach()))
            if D.any_flag(bad, device):
                raise TrainingDiverged(_diverged_message(
                    state, {k: float(v.detach()) for k, v in parts.items()}, run_dir))

            opt.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            grad_norm = None
            if cfg.optim.grad_clip is not None:
                scaler.unscale_(opt)
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            scaler.step(opt)
            scaler.update()
            if engine.ema is not None:
                engine.ema.update()

            state.global_step += 1
            state.step_in_epoch += 1
            count += 1
            images_seen += images.shape[0]
            for k, v in parts.items():
                sums[k] = sums.get(k, torch.zeros((), device=device)) + v.detach().float()

            if state.global_step % cfg.train.log_interval == 0 or bar is not None:
                loss_now = float(total.detach())
                if state.global_step % cfg.train.log_interval == 0 and engine.logger is not None:
                    row = {"epoch": state.epoch, "lr": lr, **{k: float(v.detach()) for k, v in parts.items()}}
                    if grad_norm is not None:
                        row["grad_norm"] = float(grad_norm)
                    engine.logger.log_step(state.global_step, row)
                if bar is not None:
                    bar.update(1)
                    if count % 5 == 1 or count == total_batches - skip_batches:
                        elapsed = time.perf_counter() - start
                        post = {"loss": f"{loss_now:.4g}", "lr": f"{lr:.2e}",
                                "img/s": f"{images_seen / max(elapsed, 1e-9):.1f}"}
                        remaining = engine.eta.get("remaining_steps")
                        if engine.budget_progress is not None:
                            used = engine.budget_progress()
                            post["budget"] = f"{min(used, 1.0):.0%}"
                        elif remaining is not None:
                            left = remaining - count
                            post["eta"] = _fmt_seconds(left * elapsed / max(count, 1))
                        bar.set_postfix(post, refresh=False)
            interval = cfg.train.checkpoint_interval
            if interval and state.global_step % interval == 0 and state.step_in_epoch < total_batches \
                    and engine.on_checkpoint is not None:
                engine.on_checkpoint(state)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    means = {k: float(v) / max(count, 1) for k, v in sums.items()}
    return EpochStats(means, images_seen, seconds, lr, stopped)


def _fmt_seconds(s: float) -> str:
    s = max(0, int(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


# --------------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """Where a run's files are and how it ended."""

    run_dir: Path
    last: Path
    best: Path | None
    best_metric: float | None
    epochs: int
    global_step: int
    final_metrics: dict[str, float] = field(default_factory=dict)
    stopped: str | None = None  # "time budget" when the budget ended the run early
    is_main: bool = True  # False on the other torchrun processes (they write nothing)


def _check_run_dir(run_dir: Path, resuming: bool) -> None:
    if not resuming and (run_dir / LAST).exists():
        raise ConfigError(f"{run_dir} already holds a run ({LAST}); continue it with --resume {run_dir}, "
                          "or choose another --output")


def fit(cfg: Config, *, resume: str | Path | None = None, log: Log | None = None, progress: bool = True,
        stop_after_epochs: int | None = None) -> FitResult:
    """Train according to ``cfg`` (``resume``: continue from that checkpoint).

    Args:
        cfg: the resolved config. On resume it should be the checkpoint's config (the CLI takes it from
            the checkpoint unless another is given).
        resume: a ``last.pt`` (or any training checkpoint) to continue from.
        log: where progress lines go (default: ``tqdm.write`` on the main process).
        progress: show tqdm progress bars.
        stop_after_epochs: return after this many epochs of *this call* (tests use it to emulate a kill
            between epochs; the schedule is the full run's).

    Returns:
        A :class:`FitResult` (on every process; paths are meaningful on rank 0).

    Raises:
        TrainingDiverged: the loss became non-finite; ``last.pt`` of the last good epoch is kept.
    """
    info, device = D.init_distributed(cfg.train.device)
    try:
        return _fit(cfg, info, device, resume=resume, log=log, progress=progress,
                    stop_after_epochs=stop_after_epochs)
    finally:
        D.cleanup()


def _fit(cfg: Config, info: D.DistInfo, device: torch.device, *, resume: str | Path | None, log: Log | None,
         progress: bool, stop_after_epochs: int | None) -> FitResult:
    from tqdm.auto import tqdm

    if log is None:
        log = tqdm.write if info.is_main else (lambda _msg: None)
    elif not info.is_main:
        log = lambda _msg: None  # noqa: E731
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    run_dir = Path(cfg.train.output_dir)
    ckpt = load_training_checkpoint(resume) if resume is not None else None
    if info.is_main:
        _check_run_dir(run_dir, ckpt is not None)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
    D.barrier()

    # -- data
    paths = resolve_data(cfg)
    torch.manual_seed(cfg.train.seed)
    probe_spec = build_model(cfg, 1).spec  # arch only, to know the default input size
    input_size = cfg.data.input_size or probe_spec.input_size
    # The test-time input side (validation, and the size recorded in the model's spec for inference).
    test_size = cfg.data.test_input_size or input_size
    train_ds = build_train_dataset(cfg, paths, input_size)
    skeleton = train_ds.skeleton
    num_kp = cfg.model.num_keypoints or skeleton.num_keypoints
    if num_kp != skeleton.num_keypoints:
        raise ConfigError(f"model.num_keypoints={num_kp} but the skeleton {skeleton.name!r} has "
                          f"{skeleton.num_keypoints} keypoints")
    if train_ds.skipped:
        log(f"data.skip_bad: skipped {dict(train_ds.skipped)} in {paths.train_ann}")
    loader, sampler = build_train_loader(train_ds, cfg, info, device)
    if len(loader) == 0:
        raise ConfigError(f"{paths.train_ann}: no training batches (empty dataset?)")

    # -- model
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, num_kp, test_size)
    if cfg.init.head_std is not None:
        init_head(model, cfg.init.head_std)
    if cfg.init.backbone is not None and ckpt is None:
        report = warm_start_backbone(model, cfg.init.backbone)
        log(report.summary())
    if ckpt is not None:  # the raw weights when the run kept an average (then "state_dict" is the average)
        model.load_state_dict(normalize_state_dict(ckpt.get("train_state_dict") or ckpt["state_dict"]))
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    ema: WeightAverage | None = None
    if cfg.optim.ema_decay is not None:
        ema = WeightAverage(model, cfg.optim.ema_decay)
        if ckpt is not None and ckpt.get("ema"):
            ema.load_state_dict(ckpt["ema"], normalize_state_dict(ckpt["state_dict"]))
    # DDP broadcasts rank 0's weights when it wraps; the optimizer is built on the final modules.
    train_model = D.wrap_model(model, info, device, sync_bn=cfg.train.sync_bn)
    if cfg.train.sync_bn and info.is_distributed and device.type != "cuda":
        log("note: train.sync_bn is ignored on the CPU (SyncBatchNorm needs CUDA); BatchNorm stays per process")
    optimizer = build_optimizer(model, cfg)
    schedule = LrSchedule(cfg, len(loader), world_size=info.world_size)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.amp and device.type == "cuda")
    state = TrainState()
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(ckpt["scaler"])
        state = TrainState(int(ckpt["epoch"]), int(ckpt.get("step_in_epoch", 0)), int(ckpt["global_step"]),
                           ckpt.get("best_metric"), float(ckpt.get("meta", {}).get("budget_used_s", 0.0)))
        if ckpt.get("rng"):
            restore_rng_state(ckpt["rng"])
        log(f"resumed from {resume}: {state.epoch} epochs done, step {state.global_step}")
    teacher = load_teacher(cfg, num_kp, device)
    if teacher is not None:
        log(f"distilling from {cfg.distill.teacher} (input {teacher.input_size}, weight {teacher.weight})")

    logger = MetricsLogger(run_dir, enabled=info.is_main,
                           resume_epoch=state.epoch if ckpt is not None else None,
                           resume_step=state.global_step if ckpt is not None else None)
    config_dict = config_to_dict(cfg)
    budget_s = cfg.train.time_budget_minutes * 60 if cfg.train.time_budget_minutes else None
    used_before = state.budget_used_s
    loop_start = time.perf_counter()

    def save_last(st: TrainState) -> dict[str, Any] | None:
        if budget_s is not None:
            st.budget_used_s = used_before + time.perf_counter() - loop_start
        if not info.is_main:
            return None
        ck = make_training_checkpoint(model, skeleton=skeleton, optimizer=optimizer,
                                      scheduler=schedule.state_dict(), scaler=scaler, epoch=st.epoch,
                                      step_in_epoch=st.step_in_epoch, global_step=st.global_step,
                                      config=config_dict, best_metric=st.best_metric,
                                      meta={"input_size": test_size, "train_input_size": input_size,
                                            "budget_used_s": st.budget_used_s}, ema=ema)
        save_checkpoint(ck, run_dir / LAST)
        logger.flush()
        return ck

    engine = Engine(cfg, train_model, build_loss(cfg, num_kp).to(device), optimizer, schedule, scaler, device,
                    info, num_kp, teacher, logger, log, on_checkpoint=save_last, progress=progress, ema=ema)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device.type == "cpu" and cfg.data.workers > 0 and torch.get_num_threads() + cfg.data.workers > cores:
        log(f"note: {torch.get_num_threads()} compute threads + {cfg.data.workers} loader workers on {cores} cores; "
            "workers then steal cores from the training step (measured 2x slower on 2 cores): consider "
            "data.workers=0 (see benchmarks/bench_train.py)")
    if info.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        sizes = f"input {input_size}" + (f", tested at {test_size}" if test_size != input_size else "")
        log(f"training {model.spec.name} ({n_params / 1e6:.2f}M params, {sizes}, {num_kp} keypoints) "
            f"on {len(train_ds)} images, {info.world_size} process(es) x batch {cfg.optim.batch_size}, "
            f"{len(loader)} steps/epoch, device {device}{', AMP' if scaler.is_enabled() else ''}"
            f"{', channels_last' if cfg.train.channels_last else ''}"
            f"{f', weight average (EMA {ema.decay:g})' if ema is not None else ''} -> {run_dir}")

    loop_start = time.perf_counter()
    if budget_s is not None:
        # The schedule follows the used fraction of the budget (a resumed run continues the clock).
        engine.budget_progress = lambda: (used_before + time.perf_counter() - loop_start) / budget_s
        log(f"time budget: {cfg.train.time_budget_minutes:g} min of training"
            + (f" ({used_before / 60:.1f} min used before the resume)" if used_before else "")
            + f"; the LR schedule follows the budget (at most {cfg.optim.epochs} epochs)")
    final_metrics: dict[str, float] = {}
    stopped: str | None = None
    epochs_this_call = 0
    validated_epoch: int | None = None
    best_path: Path | None = run_dir / BEST if (run_dir / BEST).is_file() else None

    while state.epoch < cfg.optim.epochs:
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
            break
        epoch_start = time.perf_counter()
        sampler.set_epoch(state.epoch)
        skip = state.step_in_epoch
        sampler.skip_next(skip * cfg.optim.batch_size)
        engine.eta["remaining_steps"] = ((cfg.optim.epochs - state.epoch) * len(loader) - skip)
        stats = train_one_epoch(engine, loader, state, skip_batches=skip, run_dir=run_dir)
        trained = stats.images > 0 or skip > 0
        if trained:  # an epoch cut short by the time budget still counts as the last one
            state.epoch += 1
            state.step_in_epoch = 0
        epochs_this_call += 1
        if stats.budget_exhausted or (engine.budget_progress is not None
                                      and D.any_flag(engine.budget_progress() >= 1.0, device)):
            stopped = "time budget"
        losses = D.reduce_mean(stats.losses, device)
        last_epoch = state.epoch >= cfg.optim.epochs or stopped is not None

        val_metrics: dict[str, float] = {}
        interval = cfg.train.eval_interval
        want_val = paths.val_ann is not None and validated_epoch != state.epoch and (
            last_epoch or (interval > 0 and state.epoch % interval == 0))
        if want_val:
            validated_epoch = state.epoch
            from litepose.training.validate import validate

            val_metrics = validate(model if ema is None else ema.module, paths.val_ann, paths.val_images,
                                   skeleton=skeleton, input_size=test_size, flip=cfg.train.val_flip,
                                   detection_threshold=cfg.train.val_detection_threshold,
                                   subset=cfg.train.val_subset, info=info, work_dir=run_dir, progress=progress)
            val_metrics = D.broadcast_object(val_metrics)
            final_metrics = val_metrics
        improved = bool(val_metrics) and (state.best_metric is None or val_metrics["AP"] > state.best_metric)
        if improved:
            state.best_metric = val_metrics["AP"]

        ck = save_last(state)
        if improved and ck is not None:
            save_checkpoint(ck, run_dir / BEST)
            best_path = run_dir / BEST
        epoch_seconds = time.perf_counter() - epoch_start
        if info.is_main and not trained:  # the budget ran out between epochs: only the validation is new
            if val_metrics:
                logger.log_epoch(state.epoch, {f"val_{k}": v for k, v in val_metrics.items()
                                               if k in ("AP", "AP50", "AP75", "AR")})
                log(f"epoch {state.epoch}: val AP {val_metrics['AP']:.3f}"
                    + (" (best, saved best.pt)" if improved else ""))
        elif info.is_main:
            row: dict[str, Any] = {"global_step": state.global_step, "lr": stats.lr, **losses,
                                   "images_per_s": stats.images_per_s * info.world_size,
                                   "epoch_seconds": epoch_seconds}
            row.update({f"val_{k}": v for k, v in val_metrics.items() if k in ("AP", "AP50", "AP75", "AR")})
            logger.log_epoch(state.epoch, row)
            msg = (f"epoch {state.epoch}/{cfg.optim.epochs}: loss {losses.get('loss', float('nan')):.5f} "
                   f"(heatmap {losses.get('heatmap', 0):.5f}, push {losses.get('push', 0):.2e}, "
                   f"pull {losses.get('pull', 0):.2e}"
                   + (f", distill {losses['distill']:.5f}" if "distill" in losses else "")
                   + f") lr {stats.lr:.2e}, {stats.images_per_s * info.world_size:.1f} img/s, {epoch_seconds:.0f}s")
            if val_metrics:
                msg += (f" | val AP {val_metrics['AP']:.3f} AP50 {val_metrics.get('AP50', float('nan')):.3f}"
                        + (" (best, saved best.pt)" if improved else f" (best {state.best_metric:.3f})"))
            log(msg)

        if stopped:
            log(f"time budget reached after {state.epoch} epochs ({state.budget_used_s:.0f}s)")
            break
    logger.close()
    D.barrier()
    return FitResult(run_dir, run_dir / LAST, best_path, state.best_metric, state.epoch, state.global_step,
                     final_metrics, stopped, info.is_main)

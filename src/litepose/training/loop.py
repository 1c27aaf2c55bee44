"""One epoch of training, and the decisions every process must take together.

Under ``torchrun`` the processes must never disagree about anything that changes training: the learning
rate, stopping at the end of a time budget, stopping on a non-finite loss. :class:`StepChecks` makes
those decisions from one all-reduce of ``[budget progress, first non-finite step]`` (the maximum over
processes), so every rank takes the same rate and stops at the same step.

Host synchronisation: on the CPU the checks run after every step (they cost microseconds). On CUDA a
check is a device-to-host copy that stalls the queue of kernels, so the non-finite flag is kept on the
device and read every :data:`CUDA_CHECK_INTERVAL` steps (and always before a checkpoint is written,
so a non-finite step is never saved); the tag-loss index check runs on the loader's CPU tensors before
they are copied to the GPU; the loss is read for the progress bar only at checks and for ``steps.csv``
every ``train.log_interval`` steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from litepose.models.litepose import LitePoseOutput
from litepose.training import distributed as D
from litepose.training.checkpoint import LAST
from litepose.training.config import Config
from litepose.training.distill import Teacher, distill_loss
from litepose.training.ema import WeightAverage
from litepose.training.losses import LitePoseLoss, LossBreakdown, check_joint_indices
from litepose.training.metrics_log import MetricsLogger
from litepose.training.schedule import LrSchedule

__all__ = [
    "CUDA_CHECK_INTERVAL",
    "Batch",
    "Engine",
    "EpochStats",
    "Objective",
    "PoseObjective",
    "StepChecks",
    "TrainState",
    "TrainingDiverged",
    "Verdict",
    "train_one_epoch",
]

Log = Callable[[str], None]

# Steps between the host-side checks on CUDA. Long enough that the GPU never idles on a sync (a step of
# a LitePose model is ~10-100 ms), short enough that a time budget overshoots by a few steps at most.
CUDA_CHECK_INTERVAL = 16

_NO_BAD_STEP = -1.0e18  # "no non-finite step" in the max-reduced vector (steps are stored negated)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says where and which checkpoint is intact."""


@dataclass
class TrainState:
    """Counters that a checkpoint stores and ``--resume`` restores.

    The position inside an epoch is kept in samples (over all processes), not only in steps, so that a
    run resumed with another batch size or process count continues at the same place in the data.
    """

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # optimizer steps done inside epoch ``epoch``
    global_step: int = 0
    best_metric: float | None = None
    budget_used_s: float = 0.0  # seconds of train.time_budget_minutes already spent
    samples_in_epoch: int = 0  # samples of epoch ``epoch`` already trained on, all processes together


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


@dataclass(frozen=True)
class Verdict:
    """What all processes agreed on at a check."""

    progress: float | None  # used fraction of the time budget (the maximum over processes); None: no budget
    diverged_at: int | None  # the first global step (1-based) with a non-finite loss on any process

    @property
    def budget_exhausted(self) -> bool:
        return self.progress is not None and self.progress >= 1.0


class StepChecks:
    """Non-finite losses and the time budget, decided identically on every process.

    Args:
        device: the training device (the all-reduce runs there, as NCCL requires).
        interval: steps between checks (1 on the CPU, :data:`CUDA_CHECK_INTERVAL` on CUDA).
        budget_progress: this process's used fraction of the time budget (``None``: no budget).
    """

    def __init__(self, device: torch.device, interval: int, budget_progress: Callable[[], float] | None) -> None:
        self.device = device
        self.interval = max(1, int(interval))
        self.budget_progress = budget_progress
        self.progress: float | None = None if budget_progress is None else 0.0  # the last agreed value
        self._first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self.unchecked = 0  # steps recorded since the last check

    @classmethod
    def for_device(cls, device: torch.device, budget_progress: Callable[[], float] | None) -> StepChecks:
        return cls(device, CUDA_CHECK_INTERVAL if device.type == "cuda" else 1, budget_progress)

    def record(self, loss: Tensor, step: int) -> None:
        """Note whether ``loss`` of global step ``step`` (1-based) is finite, without a host sync."""
        bad = ~torch.isfinite(loss.detach())
        self._first_bad.masked_fill_(bad & (self._first_bad < 0), step)
        self.unchecked += 1

    @property
    def due(self) -> bool:
        return self.unchecked >= self.interval

    def agree(self) -> Verdict:
        """One all-reduce: the same :class:`Verdict` on every process (call it on all of them)."""
        local = 0.0 if self.budget_progress is None else float(self.budget_progress())
        bad_key = torch.where(self._first_bad >= 0, -self._first_bad.double(),
                              torch.full((), _NO_BAD_STEP, dtype=torch.float64, device=self.device))
        packed = torch.stack([torch.tensor(local, dtype=torch.float64, device=self.device), bad_key])
        progress, key = D.agree_max(packed)
        self.unchecked = 0
        if self.budget_progress is not None:
            self.progress = progress
        return Verdict(self.progress, None if key <= _NO_BAD_STEP / 2 else int(-key))


class Batch(NamedTuple):
    """One training batch on the device: images ``(B, 3, S, S)``; per output stage the target heatmaps
    ``(B, J, r, r)``, the loss masks ``(B, r, r)`` and the packed joint indices ``(B, P, J, 2)``."""

    images: Tensor
    heatmaps: list[Tensor]
    masks: list[Tensor]
    joints: list[Tensor]


class Objective(Protocol):
    """What one step minimises: ``(model, batch, global_step) -> (total loss, named parts)``."""

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict[str, Tensor]]: ...


@dataclass
class PoseObjective:
    """The LitePose loss (heatmaps at both strides, AE tags at stride 4), plus a teacher's heatmaps."""

    loss_fn: LitePoseLoss
    num_keypoints: int
    teacher: Teacher | None = None
    amp: bool = False  # float16 autocast (CUDA)

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        device_type = batch.images.device.type
        with torch.autocast(device_type=device_type, dtype=torch.float16, enabled=self.amp):
            outputs = model(batch.images)
        return self.loss_of(outputs, batch, batch.images)

    def loss_of(self, outputs: LitePoseOutput, batch: Batch, teacher_images: Tensor | None
                ) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss of ``outputs`` against ``batch`` (and the teacher on ``teacher_images``)."""
        outputs = LitePoseOutput(*(o.float() for o in outputs))
        losses: LossBreakdown = self.loss_fn(outputs, batch.heatmaps, batch.masks, batch.joints)
        total = losses.total
        parts = {"heatmap": losses.heatmap, "push": losses.push, "pull": losses.pull}
        if self.teacher is not None and teacher_images is not None:
            with torch.autocast(device_type=teacher_images.device.type, dtype=torch.float16, enabled=self.amp):
                dl = distill_loss(self.teacher, teacher_images, outputs, batch.masks, self.num_keypoints)
            total = total + dl
            parts["distill"] = dl
        return total, parts


@dataclass
class Engine:
    """Everything :func:`train_one_epoch` needs, built once by :func:`~litepose.training.trainer.fit`."""

    cfg: Config
    model: nn.Module  # possibly DDP-wrapped
    objective: Objective
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    scaler: torch.amp.GradScaler
    device: torch.device
    info: D.DistInfo
    num_keypoints: int
    checks: StepChecks
    epoch_samples: int  # samples of a whole epoch, all processes together (the LR's epoch fraction)
    logger: MetricsLogger | None = None
    log: Log = print
    on_checkpoint: Callable[[TrainState], None] | None = None
    progress: bool = True
    eta: dict[str, float] = field(default_factory=dict)
    ema: WeightAverage | None = None  # updated after every optimizer step

    def epoch_fraction(self, state: TrainState) -> float:
        return min(state.samples_in_epoch / max(self.epoch_samples, 1), 1.0)


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


def _check_batch_indices(batch: Mapping[str, Any], num_keypoints: int) -> None:
    """The tag loss's index check, on the CPU tensors of the loader (stage 0 carries the tags)."""
    joints, heatmaps = batch["joints"][0], batch["heatmaps"][0]
    height, width = heatmaps.shape[-2:]
    check_joint_indices(joints, num_keypoints * height * width)


def _diverged_message(state: TrainState, verdict: Verdict, parts: Mapping[str, float], run_dir: Path | None) -> str:
    detail = ", ".join(f"{k}={v:.4g}" for k, v in parts.items())
    where = f"epoch {state.epoch + 1}, step {verdict.diverged_at}"
    kept = ""
    if run_dir is not None and (run_dir / LAST).is_file():
        kept = f" The last good checkpoint is kept: {run_dir / LAST}."
    return (f"training diverged: the loss became non-finite at {where} (now: {detail}); stopped without saving."
            f"{kept} Try a lower optim.lr, optim.grad_clip, or train.amp=false.")


def _fmt_seconds(s: float) -> str:
    s = max(0, int(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def train_one_epoch(engine: Engine, loader: DataLoader, state: TrainState, *, skip_batches: int = 0,
                    run_dir: Path | None = None) -> EpochStats:
    """Run the batches of epoch ``state.epoch`` and update ``state``.

    ``skip_batches``: batches of this epoch already done before a resume (only for the progress bar;
    the sampler skips the samples).

    Raises:
        TrainingDiverged: a loss became NaN/inf (on any process); nothing is saved after that step.
    """
    cfg = engine.cfg
    model, opt, scaler, device, checks = engine.model, engine.optimizer, engine.scaler, engine.device, engine.checks
    world = engine.info.world_size
    model.train()
    channels_last = cfg.train.channels_last
    total_batches = len(loader)
    sums: dict[str, Tensor] = {}
    images_seen = 0
    count = 0
    lr = engine.schedule.lr(state.epoch, engine.epoch_fraction(state), checks.progress)
    loss_now = float("nan")
    start = time.perf_counter()
    bar = None
    if engine.progress and engine.info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_batches, initial=skip_batches, leave=False, dynamic_ncols=True,
                   desc=f"epoch {state.epoch + 1}/{cfg.optim.epochs}", unit="batch")

    def check(parts: Mapping[str, Tensor]) -> Verdict:
        verdict = checks.agree()
        if verdict.diverged_at is not None:
            raise TrainingDiverged(_diverged_message(
                state, verdict, {k: float(v.detach()) for k, v in parts.items()}, run_dir))
        return verdict

    iterator: Iterator[Mapping[str, Any]] = iter(loader)
    stopped = False
    parts: dict[str, Tensor] = {}
    try:
        for batch in iterator:
            _check_batch_indices(batch, engine.num_keypoints)
            images, heatmaps, masks, joints = _to_device(batch, device, channels_last)
            # Cleared before the objective: a supernet objective runs some of its backward passes itself.
            opt.zero_grad(set_to_none=True)
            total, parts = engine.objective(model, Batch(images, heatmaps, masks, joints), state.global_step)
            parts = {"loss": total, **parts}
            checks.record(total, state.global_step + 1)
            checkpoint_due = bool(cfg.train.checkpoint_interval) and \
                (state.global_step + 1) % cfg.train.checkpoint_interval == 0
            if checks.due or checkpoint_due:  # a checkpoint is written only after a check
                verdict = check(parts)
                loss_now = float(total.detach())  # free: the check has just synchronised
                if verdict.budget_exhausted:
                    stopped = True
                    break
            # Every process computes the same rate: the epoch position is counted in global samples and
            # the budget progress is the agreed one.
            lr = engine.schedule.apply(opt, state.epoch, engine.epoch_fraction(state), checks.progress)

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
            state.samples_in_epoch += images.shape[0] * world
            count += 1
            images_seen += images.shape[0]
            for k, v in parts.items():
                sums[k] = sums.get(k, torch.zeros((), device=device)) + v.detach().float()

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
                    if checks.progress is not None:
                        post["budget"] = f"{min(checks.progress, 1.0):.0%}"
                    elif remaining is not None:
                        left = remaining - count
                        post["eta"] = _fmt_seconds(left * elapsed / max(count, 1))
                    bar.set_postfix(post, refresh=False)
            # (the epoch's end writes its own checkpoint)
            if checkpoint_due and state.samples_in_epoch < engine.epoch_samples and engine.on_checkpoint is not None:
                engine.on_checkpoint(state)
        if not stopped and checks.unchecked:  # the epoch's last steps, before its checkpoint is written
            check(parts)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    means = {k: float(v) / max(count, 1) for k, v in sums.items()}
    return EpochStats(means, images_seen, seconds, lr, stopped)

"""The training entry point :func:`fit`: set-up checked on every process, the epoch loop, validation, checkpoints.

One process trains on the CPU or one GPU; ``torchrun --nproc_per_node N -m litepose train CFG`` trains
on N GPUs (or N CPU processes with gloo) with no change: every ``torch.distributed`` call lives in
:mod:`litepose.training.distributed`, and only rank 0 logs and writes files.

The rooms of the trainer: :mod:`~litepose.training.loader` (data), :mod:`~litepose.training.schedule`
(optimizer, learning rate), :mod:`~litepose.training.warm_start` and :mod:`~litepose.training.distill`
(other weights), :mod:`~litepose.training.loop` (one epoch and the decisions all processes share).

Reproducibility and ``--resume``: the model is initialised from ``train.seed``, the data order and
augmentation follow ``(seed, epoch, index)``, and the learning rate is a function of the position in
epochs (counted in samples), so a run killed after a checkpoint and resumed from it produces the same
weights as the uninterrupted run, whatever the number of workers. Resuming with another batch size or
number of processes continues at the same sample of the same epoch with the same LR milestones. (Runs
with ``train.time_budget_minutes`` follow the clock instead, so they resume but not bit for bit.)

Under DDP: the set-up (paths, data, checkpoint, model) is checked on every process before any collective
and a failure anywhere stops all of them with the failing process's message; every decision that changes
training is agreed by all processes (:class:`~litepose.training.loop.StepChecks`); before validating and
saving, BatchNorm statistics are copied from rank 0 to all processes, so the validated model is the
saved one on every rank.

What the official code does and this trainer keeps (reference §4.5): Adam with no weight decay,
LR steps at epoch boundaries (``MultiStepLR``), heatmap loss at both strides and AE loss at stride 4,
backbone warm start that skips ``deconv``/``final`` layers, heatmap distillation from a teacher.
Fixed: distillation can actually be switched on (official ``args.teacher == True`` on a string,
reference §8.9), the missing ``WarmupMultiStepLR`` is a working linear warm-up, and NaN/inf losses stop
the run with a message instead of silently training on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn
from torch.utils.data import DataLoader

from litepose.data.dataset import KeypointDataset
from litepose.io import check_output_dir
from litepose.models.checkpoint import load_weights, normalize_state_dict
from litepose.models.families import PoseNetwork
from litepose.models.space import SearchSpace
from litepose.models.supernet import SuperInvertedBottleneck, SuperLitePose, warm_start_supernet
from litepose.models.zoo import create_model
from litepose.skeleton import Skeleton
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
from litepose.training.distill import Teacher, distill_loss, load_teacher
from litepose.training.ema import WeightAverage
from litepose.training.loader import (
    DataPaths,
    EpochSeeded,
    build_train_dataset,
    build_train_loader,
    epoch_samples,
    resolve_data,
)
from litepose.training.loop import (
    Engine,
    EpochStats,
    Objective,
    PoseObjective,
    StepChecks,
    TrainingDiverged,
    TrainState,
    Verdict,
    train_one_epoch,
)
from litepose.training.losses import LitePoseLoss
from litepose.training.metrics_log import MetricsLogger
from litepose.training.schedule import LrSchedule, build_optimizer, scaled_lr
from litepose.training.supernet import SupernetObjective
from litepose.training.warm_start import WarmStartReport, init_head, warm_start_backbone

__all__ = [
    "DataPaths",
    "Engine",
    "EpochSeeded",
    "EpochStats",
    "FitResult",
    "LrSchedule",
    "Teacher",
    "TrainState",
    "TrainingDiverged",
    "Verdict",
    "WarmStartReport",
    "build_loss",
    "build_model",
    "build_optimizer",
    "build_train_dataset",
    "build_train_loader",
    "check_run_dir",
    "distill_loss",
    "fit",
    "init_head",
    "load_teacher",
    "resolve_data",
    "scaled_lr",
    "train_one_epoch",
    "warm_start_backbone",
]

Log = Callable[[str], None]
T = TypeVar("T")


def build_model(cfg: Config, num_keypoints: int, input_size: int | None = None) -> PoseNetwork | SuperLitePose:
    """The network of ``cfg.model`` (seeded by the caller): a LitePose or a HigherHRNet (any family
    :func:`~litepose.models.zoo.create_model` builds) recording ``input_size`` in its spec,
    or with ``model.supernet`` the official supernet (its never-used kernel transforms frozen, so that
    DDP and the optimizer skip them)."""
    m = cfg.model
    if m.supernet:
        supernet = SuperLitePose(num_keypoints)
        for block in supernet.modules():
            if isinstance(block, SuperInvertedBottleneck):
                block.Linear5x5.requires_grad_(False)
                block.Linear3x3.requires_grad_(False)
        return supernet
    return create_model(m.arch, num_keypoints=num_keypoints, width=m.width, kernel_size=m.kernel_size,
                        fusion=m.fusion, input_size=input_size)


def _init_weights(model: nn.Module, cfg: Config, log: Log) -> None:
    """``init.head_std`` and ``init.backbone`` (official backbone rule, the whole network, or a supernet's
    warm start from a max-size LitePose with the channel re-organisation)."""
    if cfg.init.head_std is not None:
        init_head(model, cfg.init.head_std)
    path = cfg.init.backbone
    if path is None:
        return
    if isinstance(model, SuperLitePose):
        loaded = warm_start_supernet(model, path)
        log(f"warm start from {path}: loaded {loaded} backbone tensors (deconv/final dropped, official rule), "
            "channels re-organised by importance")
    elif cfg.init.backbone_only:
        log(warm_start_backbone(model, path).summary())
    else:
        load_weights(model, path, source=f"init.backbone {path}")
        log(f"initialised the whole network from {path} (init.backbone_only: false)")


def build_loss(cfg: Config, num_keypoints: int, *, check_indices: bool = True) -> LitePoseLoss:
    lc = cfg.loss
    return LitePoseLoss(num_keypoints, heatmap_factors=lc.heatmap_factors,
                        ae_factors=((lc.push_factor, lc.pull_factor), None), heatmap_weighting=lc.heatmap_weighting,
                        check_indices=check_indices)


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
    model: nn.Module | None = None  # the weights saved as the checkpoint's state_dict (the average with EMA)


def check_run_dir(run_dir: Path, *, resuming: bool, inputs: list[Path]) -> None:
    """The run folder can be written, is none of the inputs, and holds no other run (unless resuming).

    A folder left by a run that failed before its first checkpoint (``config.yaml`` only) is reused.
    """
    check_output_dir(run_dir, inputs=inputs, option="train.output_dir")
    if not resuming and (run_dir / LAST).exists():
        raise ConfigError(f"{run_dir} already holds a run ({LAST}); continue it with --resume {run_dir}, "
                          "or choose another --output")


def _on_every_process(step: Callable[[], T]) -> T:
    """Run a set-up step; if it fails on any process, every process stops (with the failing one's message).

    Without this an error raised on one rank leaves the others waiting in the next collective, which then
    dies with "Connection closed by peer" (gloo) or hangs (NCCL).
    """
    try:
        result = step()
    except Exception as err:
        D.raise_if_any_failed(err)
        raise  # not reached: raise_if_any_failed re-raises
    D.raise_if_any_failed(None)
    return result


def _inputs_of(cfg: Config, paths: DataPaths) -> list[Path]:
    named = [paths.train_ann, paths.train_images, paths.val_ann, paths.val_images, cfg.init.backbone,
             cfg.distill.teacher, cfg.data.dataset]
    return [Path(p) for p in named if p is not None]


@dataclass
class _Prepared:
    """Everything :func:`fit` builds before the processes start training together."""

    paths: DataPaths
    ckpt: dict[str, Any] | None
    train_ds: KeypointDataset
    skeleton: Skeleton
    num_keypoints: int
    input_size: int
    test_size: int
    loader: DataLoader
    sampler: D.EpochSampler
    model: PoseNetwork | SuperLitePose
    ema: WeightAverage | None
    teacher: Teacher | None
    space: SearchSpace | None  # what a supernet trains


def _prepare(cfg: Config, info: D.DistInfo, device: torch.device, paths: DataPaths,
             ckpt: dict[str, Any] | None, log: Log) -> _Prepared:
    torch.manual_seed(cfg.train.seed)
    if cfg.model.supernet:  # batches are made at the largest resolution and resized per sub-network
        default_size = max(cfg.search_space.space().resolutions)
    else:
        default_size = build_model(cfg, 1).spec.input_size  # arch only, to know the default input size
    input_size = cfg.data.input_size or default_size
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

    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, num_kp, test_size)
    if ckpt is None:
        _init_weights(model, cfg, log)
    elif cfg.init.head_std is not None:  # the same draws as the interrupted run, then its weights below
        init_head(model, cfg.init.head_std)
    keep = cfg.model.supernet  # a supernet's checkpoints hold its (unused) kernel transforms too
    if ckpt is not None:  # the raw weights when the run kept an average (then "state_dict" is the average)
        model.load_state_dict(normalize_state_dict(ckpt.get("train_state_dict") or ckpt["state_dict"],
                                                   keep_supernet_keys=keep))
    model.to(device)
    if cfg.train.channels_last:
        model.to(memory_format=torch.channels_last)
    ema: WeightAverage | None = None
    if cfg.optim.ema_decay is not None:
        ema = WeightAverage(model, cfg.optim.ema_decay)
        if ckpt is not None and ckpt.get("ema"):
            ema.load_state_dict(ckpt["ema"], normalize_state_dict(ckpt["state_dict"], keep_supernet_keys=keep))
    teacher = load_teacher(cfg, num_kp, device)
    space = cfg.search_space.space() if cfg.model.supernet else None
    return _Prepared(paths, ckpt, train_ds, skeleton, num_kp, input_size, test_size, loader, sampler, model,
                     ema, teacher, space)


def _resumed_state(ckpt: dict[str, Any], cfg: Config, info: D.DistInfo, log: Log) -> TrainState:
    """The counters of ``ckpt``, with the in-epoch position in samples (older checkpoints: from steps)."""
    meta = ckpt.get("meta", {})
    old_batch = int(ckpt.get("config", {}).get("optim", {}).get("batch_size", cfg.optim.batch_size))
    old_world = int(meta.get("world_size", info.world_size))
    step_in_epoch = int(ckpt.get("step_in_epoch", 0))
    samples = int(ckpt.get("samples_in_epoch", step_in_epoch * old_batch * old_world))
    new_batch, new_world = cfg.optim.batch_size, info.world_size
    if (old_batch, old_world) != (new_batch, new_world):
        log(f"resuming with batch {new_batch} x {new_world} process(es) (the checkpoint trained with batch "
            f"{old_batch} x {old_world}): the epoch continues at sample {samples} and the LR schedule "
            "keeps its milestones in epochs")
    return TrainState(int(ckpt["epoch"]), step_in_epoch, int(ckpt["global_step"]), ckpt.get("best_metric"),
                      float(meta.get("budget_used_s", 0.0)), samples)


def fit(cfg: Config, *, resume: str | Path | None = None, log: Log | None = None, progress: bool = True,
        stop_after_epochs: int | None = None, clock: Callable[[], float] = time.perf_counter) -> FitResult:
    """Train according to ``cfg`` (``resume``: continue from that checkpoint).

    Args:
        cfg: the resolved config. On resume it should be the checkpoint's config (the CLI takes it from
            the checkpoint unless another is given); the batch size and process count may differ.
        resume: a ``last.pt`` (or any training checkpoint) to continue from.
        log: where progress lines go (default: ``tqdm.write`` on the main process).
        progress: show tqdm progress bars.
        stop_after_epochs: return after this many epochs of *this call* (tests use it to emulate a kill
            between epochs; the schedule is the full run's).
        clock: seconds, for the time budget (tests pass a deterministic clock).

    Returns:
        A :class:`FitResult` (on every process; paths are meaningful on rank 0).

    Raises:
        TrainingDiverged: the loss became non-finite; ``last.pt`` of the last good epoch is kept.
        ConfigError, OutputPathError, CheckpointError: the set-up failed (on every process alike).
        PeerFailed: on the processes of a torchrun job whose set-up failed on another process.
    """
    info, device = D.init_distributed(cfg.train.device)
    try:
        return _fit(cfg, info, device, resume=resume, log=log, progress=progress,
                    stop_after_epochs=stop_after_epochs, clock=clock)
    finally:
        D.cleanup()


def _fit(cfg: Config, info: D.DistInfo, device: torch.device, *, resume: str | Path | None, log: Log | None,
         progress: bool, stop_after_epochs: int | None, clock: Callable[[], float]) -> FitResult:
    from tqdm.auto import tqdm

    if log is None:
        log = tqdm.write if info.is_main else (lambda _msg: None)
    elif not info.is_main:
        log = lambda _msg: None  # noqa: E731
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    run_dir = Path(cfg.train.output_dir)

    # -- checks before any work: data paths, the run folder (written by rank 0 only), the checkpoint
    def check_paths() -> tuple[DataPaths, dict[str, Any] | None]:
        paths = resolve_data(cfg)
        if info.is_main:
            check_run_dir(run_dir, resuming=resume is not None, inputs=_inputs_of(cfg, paths))
        return paths, (load_training_checkpoint(resume) if resume is not None else None)

    paths, ckpt = _on_every_process(check_paths)
    prep = _on_every_process(lambda: _prepare(cfg, info, device, paths, ckpt, log))
    model, ema, skeleton, test_size, loader = prep.model, prep.ema, prep.skeleton, prep.test_size, prep.loader

    def start_run_dir() -> None:
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, run_dir / "config.yaml")

    _on_every_process(start_run_dir)

    # DDP broadcasts rank 0's weights when it wraps; the optimizer is built on the final modules.
    train_model = D.wrap_model(model, info, device, sync_bn=cfg.train.sync_bn)
    if cfg.train.sync_bn and info.is_distributed and device.type != "cuda":
        log("note: train.sync_bn is ignored on the CPU (SyncBatchNorm needs CUDA); BatchNorm stays per process "
            "(rank 0's statistics are copied to all processes before validating and saving)")
    optimizer = build_optimizer(model, cfg)
    schedule = LrSchedule(cfg, len(loader), world_size=info.world_size)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.amp and device.type == "cuda")
    state = TrainState()
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(ckpt["scaler"])
        state = _resumed_state(ckpt, cfg, info, log)
        if ckpt.get("rng"):
            restore_rng_state(ckpt["rng"])
        log(f"resumed from {resume}: {state.epoch} epochs done, step {state.global_step}")
    if prep.teacher is not None:
        log(f"distilling from {cfg.distill.teacher} (input {prep.teacher.input_size}, weight {prep.teacher.weight})")

    logger = MetricsLogger(run_dir, enabled=info.is_main,
                           resume_epoch=state.epoch if ckpt is not None else None,
                           resume_step=state.global_step if ckpt is not None else None)
    config_dict = config_to_dict(cfg)
    budget_s = cfg.train.time_budget_minutes * 60 if cfg.train.time_budget_minutes else None
    used_before = state.budget_used_s
    loop_start = clock()
    # Saved weights are rank 0's; the others take its BatchNorm statistics (and averaged ones) first.
    saved_modules = [model] if ema is None else [model, ema.module]

    def save_last(st: TrainState) -> dict[str, Any] | None:
        D.broadcast_buffers(saved_modules)
        if budget_s is not None:
            st.budget_used_s = used_before + clock() - loop_start
        if not info.is_main:
            return None
        ck = make_training_checkpoint(model, skeleton=skeleton, optimizer=optimizer,
                                      scheduler=schedule.state_dict(), scaler=scaler, epoch=st.epoch,
                                      step_in_epoch=st.step_in_epoch, global_step=st.global_step,
                                      config=config_dict, best_metric=st.best_metric,
                                      meta={"input_size": test_size, "train_input_size": prep.input_size,
                                            "budget_used_s": st.budget_used_s, "world_size": info.world_size},
                                      ema=ema)
        ck["samples_in_epoch"] = int(st.samples_in_epoch)
        if prep.space is not None:
            ck["search_space"] = prep.space.to_dict()
        # Metrics first: rows beyond a checkpoint are dropped on resume, rows missing before it are lost.
        logger.flush()
        save_checkpoint(ck, run_dir / LAST)
        return ck

    budget_progress = None
    if budget_s is not None:
        # The schedule follows the used fraction of the budget (a resumed run continues the clock).
        def budget_progress() -> float:
            return (used_before + clock() - loop_start) / budget_s

        log(f"time budget: {cfg.train.time_budget_minutes:g} min of training"
            + (f" ({used_before / 60:.1f} min used before the resume)" if used_before else "")
            + f"; the LR schedule follows the budget (at most {cfg.optim.epochs} epochs)")
    checks = StepChecks.for_device(device, budget_progress)
    objective: Objective = PoseObjective(build_loss(cfg, prep.num_keypoints, check_indices=False).to(device),
                                         prep.num_keypoints, prep.teacher, amp=scaler.is_enabled())
    if prep.space is not None:
        ss = cfg.search_space
        objective = SupernetObjective(objective, prep.space, cfg.train.seed, ss.sampling, ss.inplace_distill,  # type: ignore[arg-type]
                                      scaler)
        log(f"supernet: search space {prep.space.name} ({prep.space.size:,} sub-networks, resolutions "
            f"{list(prep.space.resolutions)}), {ss.sampling} sampling"
            + (f", in-place distillation {ss.inplace_distill:g}" if ss.inplace_distill else ""))
    engine = Engine(cfg, train_model, objective, optimizer, schedule, scaler, device, info, prep.num_keypoints,
                    checks, epoch_samples(loader, info), logger, log, on_checkpoint=save_last, progress=progress,
                    ema=ema)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device.type == "cpu" and cfg.data.workers > 0 and torch.get_num_threads() + cfg.data.workers > cores:
        log(f"note: {torch.get_num_threads()} compute threads + {cfg.data.workers} loader workers on {cores} cores; "
            "workers then steal cores from the training step (measured 2x slower on 2 cores): consider "
            "data.workers=0 (see benchmarks/bench_train.py)")
    if info.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        sizes = f"input {prep.input_size}" + (f", tested at {test_size}" if test_size != prep.input_size else "")
        log(f"training {model.spec.name} ({n_params / 1e6:.2f}M params, {sizes}, {prep.num_keypoints} keypoints) "
            f"on {len(prep.train_ds)} images, {info.world_size} process(es) x batch {cfg.optim.batch_size}, "
            f"{len(loader)} steps/epoch, device {device}{', AMP' if scaler.is_enabled() else ''}"
            f"{', channels_last' if cfg.train.channels_last else ''}"
            f"{f', weight average (EMA {ema.decay:g})' if ema is not None else ''} -> {run_dir}")

    loop_start = clock()
    final_metrics: dict[str, float] = {}
    stopped: str | None = None
    epochs_this_call = 0
    validated_epoch: int | None = None
    best_path: Path | None = run_dir / BEST if (run_dir / BEST).is_file() else None
    batch_global = cfg.optim.batch_size * info.world_size

    while state.epoch < cfg.optim.epochs:
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
            break
        epoch_start = time.perf_counter()
        prep.sampler.set_epoch(state.epoch)
        prep.sampler.skip_next(state.samples_in_epoch)
        resumed_inside = state.samples_in_epoch > 0
        skip = state.samples_in_epoch // batch_global
        engine.eta["remaining_steps"] = ((cfg.optim.epochs - state.epoch) * len(loader) - skip)
        stats = train_one_epoch(engine, loader, state, skip_batches=skip, run_dir=run_dir)
        trained = stats.images > 0 or resumed_inside
        if trained:  # an epoch cut short by the time budget still counts as the last one
            state.epoch += 1
            state.step_in_epoch = 0
            state.samples_in_epoch = 0
        epochs_this_call += 1
        if stats.budget_exhausted or (budget_s is not None and checks.agree().budget_exhausted):
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

            D.broadcast_buffers(saved_modules)  # validate on every rank exactly what rank 0 saves
            val_metrics = {}
            for suffix, net, size in _validation_networks(model if ema is None else ema.module, prep.space,
                                                          test_size):
                metrics = validate(net, paths.val_ann, paths.val_images, skeleton=skeleton, input_size=size,
                                   flip=cfg.train.val_flip, detection_threshold=cfg.train.val_detection_threshold,
                                   subset=cfg.train.val_subset, info=info, work_dir=run_dir, progress=progress)
                val_metrics.update({f"{k}{suffix}": v for k, v in metrics.items()})
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
        if info.is_main:
            _log_epoch(log, logger, cfg, state, stats, losses, val_metrics, improved, trained,
                       epoch_seconds, info.world_size)
        if stopped:
            log(f"time budget reached after {state.epoch} epochs ({state.budget_used_s:.0f}s)")
            break
    logger.close()
    D.barrier()
    return FitResult(run_dir, run_dir / LAST, best_path, state.best_metric, state.epoch, state.global_step,
                     final_metrics, stopped, info.is_main, model if ema is None else ema.module)


def _validation_networks(net: nn.Module, space: SearchSpace | None, test_size: int
                         ) -> list[tuple[str, nn.Module, int]]:
    """What a validation scores: the network itself, or a supernet's largest (``AP``, which picks
    ``best.pt``) and smallest (``AP_min``) sub-networks at their resolutions."""
    if space is None or not isinstance(net, SuperLitePose):
        return [("", net, test_size)]
    largest, smallest = space.max_arch(), space.min_arch()
    return [("", net.extract(largest), largest.input_size), ("_min", net.extract(smallest), smallest.input_size)]


def _log_epoch(log: Log, logger: MetricsLogger, cfg: Config, state: TrainState, stats: EpochStats,
               losses: dict[str, float], val_metrics: dict[str, float], improved: bool, trained: bool,
               epoch_seconds: float, world_size: int) -> None:
    val_row = {f"val_{k}": v for k, v in val_metrics.items() if k in ("AP", "AP50", "AP75", "AR", "AP_min")}
    if not trained:  # the budget ran out between epochs: only the validation is new
        if val_metrics:
            logger.log_epoch(state.epoch, val_row)
            log(f"epoch {state.epoch}: val AP {val_metrics['AP']:.3f}" + (" (best, saved best.pt)" if improved else ""))
        return
    row: dict[str, Any] = {"global_step": state.global_step, "lr": stats.lr, **losses,
                           "images_per_s": stats.images_per_s * world_size, "epoch_seconds": epoch_seconds,
                           **val_row}
    logger.log_epoch(state.epoch, row)
    msg = (f"epoch {state.epoch}/{cfg.optim.epochs}: loss {losses.get('loss', float('nan')):.5f} "
           f"(heatmap {losses.get('heatmap', 0):.5f}, push {losses.get('push', 0):.2e}, "
           f"pull {losses.get('pull', 0):.2e}"
           + (f", distill {losses['distill']:.5f}" if "distill" in losses else "")
           + f") lr {stats.lr:.2e}, {stats.images_per_s * world_size:.1f} img/s, {epoch_seconds:.0f}s")
    if val_metrics:
        smallest = f" (smallest {val_metrics['AP_min']:.3f})" if "AP_min" in val_metrics else ""
        msg += (f" | val AP {val_metrics['AP']:.3f}{smallest} AP50 {val_metrics.get('AP50', float('nan')):.3f}"
                + (" (best, saved best.pt)" if improved else f" (best {state.best_metric:.3f})"))
    log(msg)

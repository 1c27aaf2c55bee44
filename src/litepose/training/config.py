"""Typed training configuration: nested frozen dataclasses loaded strictly from YAML.

A config file holds up to eight sections (``model``, ``data``, ``optim``, ``loss``, ``train``,
``distill``, ``init``, ``search_space``); anything left out takes the defaults below. Unknown keys are an
error that names the key path and the file, values are checked against the field types, and ``--set a.b=value``
overrides are typed by the field they land on (``--set optim.lr=1e-3`` gives a float even though
YAML would read ``1e-3`` as a string): the generic machinery is :mod:`litepose.config_io`, this module
binds it to :class:`Config`. The resolved config is written next to every run as ``config.yaml`` and
stored inside every training checkpoint.

Relative paths in a config (datasets, checkpoints, the output folder) are taken relative to the
current working directory, as the official code does with ``DATASET.ROOT``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from litepose.config_io import (
    ConfigError,
    apply_overrides,
    check_field,
    config_to_dict,
    config_to_yaml,
    dataclass_from_dict,
    load_yaml_config,
    save_config,
)
from litepose.data.augment import AugmentConfig
from litepose.decoding.grouping import DETECTION_THRESHOLD

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "DistillConfig",
    "InitConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "SearchSpaceConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
    "save_config",
]

# --------------------------------------------------------------------------------------------------
# The sections
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelConfig:
    """Which network to train.

    Attributes:
        arch: a zoo name (``litepose-xs|s|m|l``) or the path of an arch JSON (official
            ``mobile_configs`` format or the project format).
        width: uniform width multiplier applied to the arch (``ArchSpec.scaled``).
        kernel_size: override every backbone depthwise kernel (paper ablation); ``None`` keeps the arch's.
        fusion: the fusion deconv head (the paper's design); ``False`` is the "w/o fusion" ablation.
        num_keypoints: joints to predict; ``None`` takes the skeleton's count.
        supernet: train the once-for-all supernet (one sub-network of ``search_space`` per step) instead of
            one architecture; ``arch``, ``width``, ``kernel_size`` and ``fusion`` are then not used.
    """

    arch: str = "litepose-xs"
    width: float = 1.0
    kernel_size: int | None = None
    fusion: bool = True
    num_keypoints: int | None = None
    supernet: bool = False

    def __post_init__(self) -> None:
        check_field(self.width > 0, "model.width", "must be positive", self.width)
        check_field(self.kernel_size is None or (self.kernel_size > 0 and self.kernel_size % 2 == 1),
                    "model.kernel_size", "must be a positive odd number", self.kernel_size)
        check_field(self.num_keypoints is None or self.num_keypoints > 0, "model.num_keypoints", "must be positive",
                    self.num_keypoints)


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how targets are made.

    Attributes:
        dataset: a dataset YAML (paths, skeleton); the ``train_*``/``val_*`` fields override its paths.
        train_ann: COCO-format keypoint JSON for training.
        train_images: folder of the training images.
        val_ann: COCO-format keypoint JSON for validation (``None``: no validation, no ``best.pt``).
        val_images: folder of the validation images.
        skeleton: built-in name (``coco``/``crowdpose``) or a skeleton file; ``None`` takes the dataset
            YAML's skeleton or the annotation file's category.
        input_size: network input side in training; ``None`` takes the arch's size (256/448/448/512).
        test_input_size: network input side at validation and, recorded in the checkpoint, at inference
            (the test resize scales an image's short side to it); ``None``: ``input_size``. A training
            input smaller than the test one with a matching zoom (``augment.min_scale``/``max_scale``
            around ``input_size / test_input_size``) trains on crops at the test scale: each step is
            cheaper and sees people exactly as large as at test time.
        augment: the paper's augmentation ranges (reference §4.2).
        sigma: Gaussian sigma of the target heatmaps at both output resolutions (official 2).
        heatmap_center: ``truncated`` (official: each Gaussian on its joint's truncated pixel) or
            ``subpixel`` (at the joint's real position, without the ±half-pixel quantisation noise).
        max_people: people per image kept for the AE loss (the largest are kept beyond it).
        workers: DataLoader worker processes per training process (0 loads in the main process).
        skip_bad: skip annotations/images that fail validation instead of stopping (a count is printed).
    """

    dataset: str | None = None
    train_ann: str | None = None
    train_images: str | None = None
    val_ann: str | None = None
    val_images: str | None = None
    skeleton: str | None = None
    input_size: int | None = None
    test_input_size: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    sigma: float = 2.0
    heatmap_center: Literal["truncated", "subpixel"] = "truncated"
    max_people: int = 30
    workers: int = 4
    skip_bad: bool = False

    def __post_init__(self) -> None:
        check_field(self.input_size is None or (self.input_size > 0 and self.input_size % 32 == 0),
                    "data.input_size", "must be a positive multiple of 32", self.input_size)
        check_field(self.test_input_size is None or (self.test_input_size > 0 and self.test_input_size % 32 == 0),
                    "data.test_input_size", "must be a positive multiple of 32", self.test_input_size)
        check_field(self.sigma > 0, "data.sigma", "must be positive", self.sigma)
        check_field(self.max_people > 0, "data.max_people", "must be positive", self.max_people)
        check_field(self.workers >= 0, "data.workers", "must be >= 0", self.workers)
        check_field((self.val_ann is None) == (self.val_images is None) or self.dataset is not None,
                    "data.val_ann/val_images", "must be given together", (self.val_ann, self.val_images))


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule (official: Adam, no weight decay, steps at 350/480 of 500).

    Attributes:
        optimizer: ``adam`` (official) or ``adamw`` (decoupled weight decay).
        lr: base learning rate; with ``lr_reference_batch`` set it is the rate for that total batch.
        lr_reference_batch: linear scaling rule: the rate used is ``lr · batch_size · processes /
            lr_reference_batch`` (``None``: ``lr`` as is). The presets give the paper's lr 1e-3 for a
            total batch of 32, so 8 GPUs × 16 images train at the official repo's 4e-3.
        betas: Adam betas.
        eps: Adam epsilon.
        weight_decay: L2 (adam) or decoupled (adamw) weight decay; the official recipe uses none.
        schedule: ``step`` (multiply by ``gamma`` at each milestone, official) or ``cosine``.
        milestones: epochs at which a ``step`` schedule decays the learning rate.
        gamma: decay factor of the ``step`` schedule.
        warmup_epochs: linear warm-up length in epochs (fractions allowed); 0 disables it.
        min_lr_ratio: floor of the ``cosine`` schedule as a fraction of ``lr``.
        epochs: number of epochs.
        batch_size: images per process and step.
        grad_clip: clip the global gradient norm to this value; ``None`` disables clipping.
        ema_decay: keep an exponential moving average of the weights with this decay per step (about
            ``1 / (1 - ema_decay)`` steps averaged), validate it and save it as the checkpoints' weights
            (:mod:`litepose.training.ema`); ``None`` (official) trains and saves the raw weights.
    """

    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    lr_reference_batch: int | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: Literal["step", "cosine"] = "step"
    milestones: tuple[int, ...] = (350, 480)
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0
    epochs: int = 500
    batch_size: int = 16
    grad_clip: float | None = None
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        check_field(self.lr > 0, "optim.lr", "must be positive", self.lr)
        check_field(self.lr_reference_batch is None or self.lr_reference_batch > 0, "optim.lr_reference_batch",
                    "must be positive or null", self.lr_reference_batch)
        check_field(all(0 <= b < 1 for b in self.betas), "optim.betas", "must be in [0, 1)", self.betas)
        check_field(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0", self.weight_decay)
        check_field(list(self.milestones) == sorted(self.milestones) and all(m > 0 for m in self.milestones),
                    "optim.milestones", "must be increasing positive epochs", list(self.milestones))
        check_field(0 < self.gamma <= 1, "optim.gamma", "must be in (0, 1]", self.gamma)
        check_field(self.warmup_epochs >= 0, "optim.warmup_epochs", "must be >= 0", self.warmup_epochs)
        check_field(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio", "must be in [0, 1]", self.min_lr_ratio)
        check_field(self.epochs > 0, "optim.epochs", "must be positive", self.epochs)
        check_field(self.batch_size > 0, "optim.batch_size", "must be positive", self.batch_size)
        check_field(self.grad_clip is None or self.grad_clip > 0, "optim.grad_clip", "must be positive or null",
                    self.grad_clip)
        check_field(self.ema_decay is None or 0 < self.ema_decay < 1, "optim.ema_decay", "must be in (0, 1) or null",
                    self.ema_decay)


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (official ``MultiLossFactory`` values as defaults, reference §4.4).

    Attributes:
        heatmap_factors: weight of the masked heatmap MSE at stride 4 and at stride 2.
        push_factor: weight of the AE push loss (stride 4 only: the only output with tags).
        pull_factor: weight of the AE pull loss.
        heatmap_weighting: ``none`` (the official plain MSE) or ``adaptive`` (SWAHR's weight-adaptive
            heatmap loss; see :class:`litepose.training.losses.HeatmapLoss`).
    """

    heatmap_factors: tuple[float, float] = (1.0, 1.0)
    push_factor: float = 1e-3
    pull_factor: float = 1e-3
    heatmap_weighting: Literal["none", "adaptive"] = "none"

    def __post_init__(self) -> None:
        check_field(all(f >= 0 for f in self.heatmap_factors), "loss.heatmap_factors", "must be >= 0",
                    list(self.heatmap_factors))
        check_field(self.push_factor >= 0, "loss.push_factor", "must be >= 0", self.push_factor)
        check_field(self.pull_factor >= 0, "loss.pull_factor", "must be >= 0", self.pull_factor)


@dataclass(frozen=True)
class TrainConfig:
    """How the run executes and what it writes.

    Attributes:
        output_dir: run folder (``config.yaml``, ``last.pt``, ``best.pt``, ``metrics.csv``, ``curves.png``).
        device: ``auto`` (``cuda:LOCAL_RANK`` when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision (float16 autocast + GradScaler); only takes effect on CUDA.
        sync_bn: convert BatchNorm to SyncBatchNorm when running on several processes.
        channels_last: NHWC memory format for model and inputs (about 2× faster on CPU for this net).
        seed: seeds weights, data order and augmentation; a run is reproducible from it.
        threads: CPU threads for PyTorch ops per process; ``None`` keeps PyTorch's default.
        eval_interval: validate every N epochs (and after the last); 0 validates only after the last.
        val_subset: validate on the first N images of the validation set only (``None``: all).
        val_flip: flip test during validation (slower; the official test setting).
        val_detection_threshold: heatmap value a joint needs to be a grouping candidate in validation
            (official decoding: 0.1; ``litepose predict/eval --detection-threshold`` is the same setting).
        log_interval: steps between rows of ``steps.csv`` (and TensorBoard points).
        checkpoint_interval: also write ``last.pt`` every N steps inside an epoch (0: at epoch ends only).
        time_budget_minutes: wall-clock budget for the training epochs. After the first epoch the run
            plans how many epochs fit (at most ``optim.epochs``) and scales the schedule to them.
    """

    output_dir: str = "runs/litepose"
    device: str = "auto"
    amp: bool = True
    sync_bn: bool = False
    channels_last: bool = True
    seed: int = 0
    threads: int | None = None
    eval_interval: int = 1
    val_subset: int | None = None
    val_flip: bool = False
    val_detection_threshold: float = DETECTION_THRESHOLD
    log_interval: int = 20
    checkpoint_interval: int = 0
    time_budget_minutes: float | None = None

    def __post_init__(self) -> None:
        check_field(self.threads is None or self.threads > 0, "train.threads", "must be positive", self.threads)
        check_field(self.eval_interval >= 0, "train.eval_interval", "must be >= 0", self.eval_interval)
        check_field(self.val_subset is None or self.val_subset > 0, "train.val_subset", "must be positive",
                    self.val_subset)
        check_field(0.0 <= self.val_detection_threshold < 1.0, "train.val_detection_threshold", "must be in [0, 1)",
               self.val_detection_threshold)
        check_field(self.log_interval > 0, "train.log_interval", "must be positive", self.log_interval)
        check_field(self.checkpoint_interval >= 0, "train.checkpoint_interval", "must be >= 0",
                    self.checkpoint_interval)
        check_field(self.time_budget_minutes is None or self.time_budget_minutes > 0, "train.time_budget_minutes",
                    "must be positive", self.time_budget_minutes)


@dataclass(frozen=True)
class DistillConfig:
    """Heatmap distillation from a teacher (the paper distils XS from S, +1.1 AP).

    Attributes:
        teacher: a litepose checkpoint of the teacher; ``None`` disables distillation.
        weight: weight of the extra teacher-heatmap loss (official 1).
        teacher_input_size: side the input is resized to for the teacher (``None``: the teacher's
            arch size, 448 for S as in the official code).
    """

    teacher: str | None = None
    weight: float = 1.0
    teacher_input_size: int | None = None

    def __post_init__(self) -> None:
        check_field(self.weight >= 0, "distill.weight", "must be >= 0", self.weight)
        size = self.teacher_input_size
        check_field(size is None or (size > 0 and size % 32 == 0), "distill.teacher_input_size",
                    "must be a positive multiple of 32", size)


@dataclass(frozen=True)
class InitConfig:
    """Initial weights.

    Attributes:
        backbone: warm start from this checkpoint (official or project format) following the official
            rule: keys containing ``deconv`` or ``final`` are dropped, the rest loads non-strictly.
        backbone_only: ``False`` loads the whole network from ``backbone`` (head included, strictly: same
            architecture and joints), e.g. to fine-tune a sub-network extracted from a supernet with its
            supernet-trained head; ``True`` is the official rule above.
        head_std: re-initialise the last 1x1 prediction convs with ``N(0, head_std²)`` so that the first
            predictions are near zero (HigherHRNet initialises with 0.001); ``None`` keeps PyTorch's default
            initialisation, as the official LitePose code does.
    """

    backbone: str | None = None
    head_std: float | None = None
    backbone_only: bool = True

    def __post_init__(self) -> None:
        check_field(self.head_std is None or self.head_std > 0, "init.head_std", "must be positive or null",
                    self.head_std)


@dataclass(frozen=True)
class SearchSpaceConfig:
    """The sub-networks a supernet trains (with ``model.supernet: true``) and how it samples them.

    Attributes:
        preset: ``official`` (resolutions 256–512 step 64, widths ×{1, .75, .5, .25}) or ``paper-lms``
            ({512, 448} × {1, .75, .5}); see :mod:`litepose.models.space`.
        resolutions: replace the preset's input resolutions (multiples of 32).
        width_multipliers: replace the preset's width multipliers (in (0, 1]).
        sampling: ``uniform`` (official: one random sub-network per step, the same on every process) or
            ``sandwich`` (the largest, the smallest and one random sub-network per step, gradients summed).
        inplace_distill: weight of in-place distillation: the other sub-networks of a step also fit the
            largest one's heatmaps (it is then run every step); 0 turns it off.
    """

    preset: str = "official"
    resolutions: tuple[int, ...] | None = None
    width_multipliers: tuple[float, ...] | None = None
    sampling: Literal["uniform", "sandwich"] = "uniform"
    inplace_distill: float = 0.0

    def __post_init__(self) -> None:
        from litepose.models.space import SEARCH_SPACES

        check_field(self.preset in SEARCH_SPACES, "search_space.preset", f"must be one of {sorted(SEARCH_SPACES)}",
                    self.preset)
        check_field(self.resolutions is None or (bool(self.resolutions) and all(
            r > 0 and r % 32 == 0 for r in self.resolutions)), "search_space.resolutions",
            "must be positive multiples of 32", self.resolutions)
        check_field(self.width_multipliers is None or (bool(self.width_multipliers) and all(
            0 < m <= 1 for m in self.width_multipliers)), "search_space.width_multipliers", "must lie in (0, 1]",
            self.width_multipliers)
        check_field(self.inplace_distill >= 0, "search_space.inplace_distill", "must be >= 0", self.inplace_distill)

    def space(self) -> Any:
        """The :class:`~litepose.models.space.SearchSpace` this section describes."""
        from dataclasses import replace

        from litepose.models.space import get_search_space

        space = get_search_space(self.preset)
        if self.resolutions is not None:
            space = replace(space, resolutions=tuple(self.resolutions))
        if self.width_multipliers is not None:
            space = replace(space, width_multipliers=tuple(self.width_multipliers))
        if self.resolutions is not None or self.width_multipliers is not None:
            space = replace(space, name=f"{self.preset}-custom")
        return space


@dataclass(frozen=True)
class Config:
    """A complete training configuration."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    init: InitConfig = field(default_factory=InitConfig)
    search_space: SearchSpaceConfig = field(default_factory=SearchSpaceConfig)


def config_from_dict(raw: Mapping[str, Any] | None, *, source: str = "config") -> Config:
    """Build a :class:`Config` from a (possibly partial) mapping; errors are prefixed with ``source``."""
    return dataclass_from_dict(Config, raw, source=source)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Read a YAML training config strictly (``None``: all defaults) and apply ``--set`` overrides."""
    return load_yaml_config(Config, path, overrides)

"""Typed training configuration: nested frozen dataclasses loaded strictly from YAML.

A config file holds up to seven sections (``model``, ``data``, ``optim``, ``loss``, ``train``,
``distill``, ``init``); anything left out takes the defaults below. Unknown keys are an error that names
the key path and the file, values are checked against the field types, and ``--set a.b=value``
overrides are typed by the field they land on (``--set optim.lr=1e-3`` gives a float even though
YAML would read ``1e-3`` as a string). The resolved config is written next to every run as
``config.yaml`` and stored inside every training checkpoint.

Relative paths in a config (datasets, checkpoints, the output folder) are taken relative to the
current working directory, as the official code does with ``DATASET.ROOT``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

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
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
    "save_config",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config problem, reported as one line naming the file and the key path."""


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
    """

    arch: str = "litepose-xs"
    width: float = 1.0
    kernel_size: int | None = None
    fusion: bool = True
    num_keypoints: int | None = None

    def __post_init__(self) -> None:
        _check(self.width > 0, "model.width", "must be positive", self.width)
        _check(self.kernel_size is None or (self.kernel_size > 0 and self.kernel_size % 2 == 1),
               "model.kernel_size", "must be a positive odd number", self.kernel_size)
        _check(self.num_keypoints is None or self.num_keypoints > 0, "model.num_keypoints", "must be positive",
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
        _check(self.input_size is None or (self.input_size > 0 and self.input_size % 32 == 0),
               "data.input_size", "must be a positive multiple of 32", self.input_size)
        _check(self.test_input_size is None or (self.test_input_size > 0 and self.test_input_size % 32 == 0),
               "data.test_input_size", "must be a positive multiple of 32", self.test_input_size)
        _check(self.sigma > 0, "data.sigma", "must be positive", self.sigma)
        _check(self.max_people > 0, "data.max_people", "must be positive", self.max_people)
        _check(self.workers >= 0, "data.workers", "must be >= 0", self.workers)
        _check((self.val_ann is None) == (self.val_images is None) or self.dataset is not None,
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
        _check(self.lr > 0, "optim.lr", "must be positive", self.lr)
        _check(self.lr_reference_batch is None or self.lr_reference_batch > 0, "optim.lr_reference_batch",
               "must be positive or null", self.lr_reference_batch)
        _check(all(0 <= b < 1 for b in self.betas), "optim.betas", "must be in [0, 1)", self.betas)
        _check(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0", self.weight_decay)
        _check(list(self.milestones) == sorted(self.milestones) and all(m > 0 for m in self.milestones),
               "optim.milestones", "must be increasing positive epochs", list(self.milestones))
        _check(0 < self.gamma <= 1, "optim.gamma", "must be in (0, 1]", self.gamma)
        _check(self.warmup_epochs >= 0, "optim.warmup_epochs", "must be >= 0", self.warmup_epochs)
        _check(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio", "must be in [0, 1]", self.min_lr_ratio)
        _check(self.epochs > 0, "optim.epochs", "must be positive", self.epochs)
        _check(self.batch_size > 0, "optim.batch_size", "must be positive", self.batch_size)
        _check(self.grad_clip is None or self.grad_clip > 0, "optim.grad_clip", "must be positive or null",
               self.grad_clip)
        _check(self.ema_decay is None or 0 < self.ema_decay < 1, "optim.ema_decay", "must be in (0, 1) or null",
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
        _check(all(f >= 0 for f in self.heatmap_factors), "loss.heatmap_factors", "must be >= 0",
               list(self.heatmap_factors))
        _check(self.push_factor >= 0, "loss.push_factor", "must be >= 0", self.push_factor)
        _check(self.pull_factor >= 0, "loss.pull_factor", "must be >= 0", self.pull_factor)


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
        _check(self.threads is None or self.threads > 0, "train.threads", "must be positive", self.threads)
        _check(self.eval_interval >= 0, "train.eval_interval", "must be >= 0", self.eval_interval)
        _check(self.val_subset is None or self.val_subset > 0, "train.val_subset", "must be positive",
               self.val_subset)
        _check(0.0 <= self.val_detection_threshold < 1.0, "train.val_detection_threshold", "must be in [0, 1)",
               self.val_detection_threshold)
        _check(self.log_interval > 0, "train.log_interval", "must be positive", self.log_interval)
        _check(self.checkpoint_interval >= 0, "train.checkpoint_interval", "must be >= 0",
               self.checkpoint_interval)
        _check(self.time_budget_minutes is None or self.time_budget_minutes > 0, "train.time_budget_minutes",
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
        _check(self.weight >= 0, "distill.weight", "must be >= 0", self.weight)
        _check(self.teacher_input_size is None or (self.teacher_input_size > 0 and self.teacher_input_size % 32 == 0),
               "distill.teacher_input_size", "must be a positive multiple of 32", self.teacher_input_size)


@dataclass(frozen=True)
class InitConfig:
    """Initial weights.

    Attributes:
        backbone: warm start from this checkpoint (official or project format) following the official
            rule: keys containing ``deconv`` or ``final`` are dropped, the rest loads non-strictly.
        head_std: re-initialise the last 1x1 prediction convs with ``N(0, head_std²)`` so that the first
            predictions are near zero (HigherHRNet initialises with 0.001); ``None`` keeps PyTorch's default
            initialisation, as the official LitePose code does.
    """

    backbone: str | None = None
    head_std: float | None = None

    def __post_init__(self) -> None:
        _check(self.head_std is None or self.head_std > 0, "init.head_std", "must be positive or null",
               self.head_std)


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


def _check(ok: bool, key: str, what: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{key} {what}, got {value!r}")


# --------------------------------------------------------------------------------------------------
# Strict typed conversion
# --------------------------------------------------------------------------------------------------
_NONE_WORDS = {"null", "none", "~", ""}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0])}"
        return f"a list of {len(args)} values ({', '.join(_type_name(a) for a in args)})"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` to the annotated type ``tp`` or raise a :class:`ConfigError` naming ``where``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        optional = type(None) in args
        if optional and (value is None or (isinstance(value, str) and str not in args
                                           and value.strip().lower() in _NONE_WORDS)):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed:
            return value
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(tp, type) and isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _from_mapping(tp, value, where)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {len(value)} values {list(value)!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.strip().lower() in ("true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:  # YAML 1.1 reads 1e-3 (no dot) as a string
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise TypeError(f"{where}: unsupported config field type {tp!r}")  # a bug in this module


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unknown_key_error(key: str, known: Iterable[str], prefix: str) -> ConfigError:
    path = f"{prefix}.{key}" if prefix else key
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {(prefix + '.' if prefix else '') + close[0]!r}?" if close else ""
    return ConfigError(f"unknown key {path!r}{hint} (allowed here: {', '.join(sorted(known))})")


def _from_mapping(cls: type[T], raw: Mapping[str, Any], prefix: str) -> T:
    types_ = _field_types(cls)
    for key in raw:
        if key not in types_:
            raise _unknown_key_error(str(key), types_, prefix)
    kwargs = {k: _coerce(v, types_[k], f"{prefix}.{k}" if prefix else k) for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:  # __post_init__ checks of nested dataclasses defined elsewhere
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from None


def config_from_dict(raw: Mapping[str, Any] | None, *, source: str = "config") -> Config:
    """Build a :class:`Config` from a (possibly partial) mapping; errors are prefixed with ``source``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a config must be a mapping of sections, got {type(raw).__name__}")
    try:
        return _from_mapping(Config, raw, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) suitable for YAML and for checkpoints."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(cfg)


def config_to_yaml(cfg: Config) -> str:
    """Block-style YAML with short lists on one line (``milestones: [350, 480]``)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)

    _Dumper.add_representer(list, flow_list)
    return yaml.dump(config_to_dict(cfg), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved config atomically as YAML."""
    from litepose.io import atomic_write_text

    atomic_write_text(path, config_to_yaml(cfg))
    return Path(path)


def _lookup_type(path: Sequence[str]) -> Any:
    """The annotated type of the field at ``path`` (e.g. ``["optim", "lr"]``), or raise for unknown keys."""
    cls: Any = Config
    tp: Any = Config
    for depth, key in enumerate(path):
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(f"unknown key {'.'.join(path)!r}: {'.'.join(path[:depth])!r} is not a section")
        types_ = _field_types(cls)
        if key not in types_:
            raise _unknown_key_error(key, types_, ".".join(path[:depth]))
        tp = types_[key]
        cls = tp
    return tp


def _parse_override_value(text: str, tp: Any) -> Any:
    import yaml

    args = set(typing.get_args(tp)) if typing.get_origin(tp) in (typing.Union, types.UnionType) else {tp}
    if str in args:
        # Strings stay verbatim (paths, arch names); only an explicit null word clears an optional field.
        if type(None) in args and text.strip().lower() in _NONE_WORDS:
            return None
        return text
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def apply_overrides(cfg: Config, overrides: Iterable[str], *, source: str = "--set") -> Config:
    """Apply ``key.path=value`` overrides, each typed by the field it sets.

    Examples: ``optim.lr=1e-3``, ``optim.milestones=[50,180]``, ``data.augment.flip_prob=0``,
    ``distill.teacher=null``.
    """
    raw = config_to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source} {item!r}: expected KEY=VALUE, e.g. optim.lr=1e-3")
        key, text = item.split("=", 1)
        path = [p for p in key.strip().split(".") if p]
        if not path:
            raise ConfigError(f"{source} {item!r}: empty key")
        try:
            tp = _lookup_type(path)
            if dataclasses.is_dataclass(tp):
                raise ConfigError(f"{key!r} is a section; set one of its fields, e.g. {key}.<field>=...")
            value = _coerce(_parse_override_value(text, tp), tp, key)
        except ConfigError as err:
            raise ConfigError(f"{source} {item!r}: {err}") from None
        node = raw
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = list(value) if isinstance(value, tuple) else value
    return config_from_dict(raw, source=source)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Read a YAML config strictly (``None``: all defaults) and apply ``--set`` overrides."""
    cfg = Config()
    if path is not None:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {p} does not exist")
        try:
            raw = yaml.safe_load(p.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{p}: not valid YAML ({str(err).splitlines()[0]})") from None
        cfg = config_from_dict(raw, source=str(p))
    return apply_overrides(cfg, overrides)

"""Typed search configuration: nested frozen dataclasses loaded strictly from YAML (``litepose search``).

A config file holds up to five sections (``space``, ``evolution``, ``constraint``, ``data``,
``predictor``) plus ``evaluator`` and ``output_dir``; anything left out takes the defaults below, which
are the official ``EvolutionFinder`` defaults (reference §3: population 40, 40 generations, mutation
probability 0.1, parent ratio 0.25, mutation ratio 0.5). Unknown keys are an error naming the key path
and the file, and ``--set a.b=value`` overrides are typed by their field (:mod:`litepose.config_io`).
The resolved config is written into the output folder as ``search_config.yaml``; ``--resume`` reads it
back.

Relative paths (datasets, the latency table, the output folder) are taken relative to the working
directory.
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
    dataclass_from_dict,
    load_yaml_config,
    save_config,
)
from litepose.decoding.grouping import DETECTION_THRESHOLD
from litepose.models.space import SEARCH_SPACES, SearchSpace, get_search_space

__all__ = [
    "CONFIG_NAME",
    "ConfigError",
    "ConstraintConfig",
    "CostKind",
    "DataConfig",
    "EvolutionConfig",
    "PredictorConfig",
    "SearchConfig",
    "SpaceConfig",
    "apply_overrides",
    "config_to_dict",
    "load_search_config",
    "save_config",
    "search_config_from_dict",
]

#: The resolved config's file name inside a search's output folder.
CONFIG_NAME = "search_config.yaml"

CostKind = Literal["macs_paper", "macs", "params", "latency"]


@dataclass(frozen=True)
class SpaceConfig:
    """Which sub-networks the search may pick.

    Attributes:
        preset: a search space preset (``official``: resolutions 256-512 step 64 × multipliers
            {1, .75, .5, .25}; ``paper-lms``: {512, 448} × {1, .75, .5}).
        resolutions: replace the preset's input resolutions (multiples of 32); ``null`` keeps them.
        width_multipliers: replace the preset's width multipliers (in (0, 1]); ``null`` keeps them.
        num_keypoints: joints the sub-networks predict (CrowdPose 14, COCO 17); MACs and params depend
            on it a little. Must match the supernet checkpoint.
    """

    preset: str = "official"
    resolutions: tuple[int, ...] | None = None
    width_multipliers: tuple[float, ...] | None = None
    num_keypoints: int = 14

    def __post_init__(self) -> None:
        check_field(self.preset in SEARCH_SPACES, "space.preset", f"must be one of {sorted(SEARCH_SPACES)}",
                    self.preset)
        check_field(self.num_keypoints > 0, "space.num_keypoints", "must be positive", self.num_keypoints)
        check_field(self.resolutions is None or (len(self.resolutions) > 0
                                                 and all(r > 0 and r % 32 == 0 for r in self.resolutions)),
                    "space.resolutions", "must be positive multiples of 32", self.resolutions)
        check_field(self.width_multipliers is None or (len(self.width_multipliers) > 0
                                                       and all(0 < m <= 1 for m in self.width_multipliers)),
                    "space.width_multipliers", "must lie in (0, 1]", self.width_multipliers)

    def build(self) -> SearchSpace:
        """The :class:`SearchSpace`: the preset, with its resolutions or multipliers replaced if given."""
        base = get_search_space(self.preset)
        if self.resolutions is None and self.width_multipliers is None:
            return base
        return SearchSpace(f"{base.name}-custom", self.resolutions or base.resolutions,
                           self.width_multipliers or base.width_multipliers, base.maximum)


@dataclass(frozen=True)
class EvolutionConfig:
    """The evolutionary search (official ``EvolutionFinder`` defaults, reference §3).

    Attributes:
        population: candidates per generation (the initial population is rejection-sampled).
        generations: generations of children after the initial population (official
            ``max_time_budget``); every generation evaluates ``population`` children (mutants, then
            crossovers) and the next population is the parents plus those children.
        mutate_prob: probability that a mutation resamples each gene (resolution, C0, each stage width,
            each deconv width).
        parent_ratio: fraction of the population kept as parents (the best by accuracy).
        mutation_ratio: fraction of the children made by mutation; the rest by crossover.
        seed: seed of the search's random generator; under torchrun every process uses it, so every
            process proposes the same candidates.
        max_tries: proposals tried for one candidate before the search gives up (the budget leaves too
            few sub-networks); rejection sampling under the constraint.
    """

    population: int = 40
    generations: int = 40
    mutate_prob: float = 0.1
    parent_ratio: float = 0.25
    mutation_ratio: float = 0.5
    seed: int = 0
    max_tries: int = 10000

    def __post_init__(self) -> None:
        check_field(self.population >= 2, "evolution.population", "must be at least 2", self.population)
        check_field(self.generations >= 0, "evolution.generations", "must be >= 0", self.generations)
        check_field(0 <= self.mutate_prob <= 1, "evolution.mutate_prob", "must lie in [0, 1]", self.mutate_prob)
        check_field(0 < self.parent_ratio < 1, "evolution.parent_ratio", "must lie in (0, 1)", self.parent_ratio)
        check_field(0 <= self.mutation_ratio <= 1, "evolution.mutation_ratio", "must lie in [0, 1]",
                    self.mutation_ratio)
        check_field(self.max_tries >= 1, "evolution.max_tries", "must be >= 1", self.max_tries)
        check_field(self.num_parents >= 1, "evolution.parent_ratio", "leaves no parent (population × ratio < 1)",
                    self.parent_ratio)

    @property
    def num_parents(self) -> int:
        """Parents kept per generation (official: ``int(round(parent_ratio · population))``)."""
        return round(self.parent_ratio * self.population)

    @property
    def num_mutations(self) -> int:
        """Children made by mutation per generation (official: ``int(round(mutation_ratio · population))``)."""
        return round(self.mutation_ratio * self.population)

    @property
    def num_crossovers(self) -> int:
        """Children made by crossover per generation: ``population - num_mutations`` (official), so every
        generation evaluates ``population`` children and the next population is parents + children."""
        return self.population - self.num_mutations


@dataclass(frozen=True)
class ConstraintConfig:
    """The hardware budget every candidate must meet.

    Attributes:
        kind: what is budgeted: ``macs_paper`` (the paper's MAC convention: LitePose-XS = 1.2G),
            ``macs`` (true multiply-accumulates: XS = 0.88G), ``params``, or ``latency`` (milliseconds).
        budget: the limit, with an optional unit: ``1.2G``, ``850M``, ``850 MMac`` (MACs), ``1.7M``
            (params), ``10ms``, ``0.01s``, ``10`` (latency: milliseconds). Required; a budget the
            smallest sub-network exceeds, or one the largest already meets (the constraint would
            constrain nothing), is an error.
        backend: latency backend (``torch``, ``onnxruntime``, ``openvino``).
        latency_table: a per-block latency table measured on the target device
            (``litepose bench --latency-table``); ``null`` measures whole networks on this machine.
        include_decode: add the decoding time (grouping people from the maps) to the latency.
        num_people: people per image assumed for the decoding time.
    """

    kind: CostKind = "macs_paper"
    budget: str | None = None
    backend: Literal["torch", "onnxruntime", "openvino"] = "torch"
    latency_table: str | None = None
    include_decode: bool = False
    num_people: int = 10

    def __post_init__(self) -> None:
        check_field(self.num_people >= 0, "constraint.num_people", "must be >= 0", self.num_people)


@dataclass(frozen=True)
class DataConfig:
    """What the supernet evaluator (``--evaluator supernet``) calibrates and scores candidates on.

    Attributes:
        calib_ann: COCO-format keypoint JSON of the BatchNorm calibration images (a training subset).
        calib_images: folder of the calibration images.
        calib_batches: calibration batches per candidate.
        calib_batch_size: images per calibration batch.
        val_ann: COCO-format keypoint JSON of the images candidates are scored on (AP, pycocotools).
        val_images: folder of those images.
        val_subset: score on the first N images only (ground truth cut to them); ``null``: all.
        bn_mode: BatchNorm recalibration: ``exact`` (reset, then exact cumulative averages, as
            once-for-all) or ``official`` (train-mode forwards with momentum 0.1, no reset).
        flip_test: average with the horizontally flipped image (the official test pipeline).
        detection_threshold: grouping candidate threshold (official 0.1).
        workers: DataLoader worker processes for calibration.
        device: ``auto`` (CUDA if available, one GPU per torchrun process), ``cpu``, ``cuda``.
    """

    calib_ann: str | None = None
    calib_images: str | None = None
    calib_batches: int = 50
    calib_batch_size: int = 16
    val_ann: str | None = None
    val_images: str | None = None
    val_subset: int | None = None
    bn_mode: Literal["exact", "official"] = "exact"
    flip_test: bool = True
    detection_threshold: float = DETECTION_THRESHOLD
    workers: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_field(self.calib_batches >= 1, "data.calib_batches", "must be >= 1", self.calib_batches)
        check_field(self.calib_batch_size >= 1, "data.calib_batch_size", "must be >= 1", self.calib_batch_size)
        check_field(self.val_subset is None or self.val_subset >= 1, "data.val_subset", "must be >= 1 or null",
                    self.val_subset)
        check_field(0 <= self.detection_threshold < 1, "data.detection_threshold", "must lie in [0, 1)",
                    self.detection_threshold)
        check_field(self.workers >= 0, "data.workers", "must be >= 0", self.workers)


@dataclass(frozen=True)
class PredictorConfig:
    """An accuracy predictor that pre-screens children (once-for-all style; off by default).

    Once ``min_samples`` candidates are evaluated, a small MLP is trained every generation on the
    evaluated candidates' encodings (a ``holdout`` fraction held out to report Kendall's τ); the
    generation then proposes ``oversample`` × as many children and evaluates only those with the best
    predicted accuracy.

    Attributes:
        enabled: use the predictor.
        min_samples: evaluated candidates needed before it is trained.
        oversample: children proposed per child evaluated (>= 1).
        encoding: ``onehot`` (one-hot genes), ``widths`` (normalised widths and resolution) or ``both``.
        hidden: hidden units of each of the two hidden layers.
        epochs: full-batch Adam steps per training.
        lr: Adam learning rate.
        holdout: fraction of the evaluated candidates held out for Kendall's τ.
    """

    enabled: bool = False
    min_samples: int = 40
    oversample: int = 4
    encoding: Literal["onehot", "widths", "both"] = "both"
    hidden: int = 64
    epochs: int = 300
    lr: float = 1e-2
    holdout: float = 0.2

    def __post_init__(self) -> None:
        check_field(self.min_samples >= 4, "predictor.min_samples", "must be >= 4", self.min_samples)
        check_field(self.oversample >= 1, "predictor.oversample", "must be >= 1", self.oversample)
        check_field(self.hidden >= 1, "predictor.hidden", "must be >= 1", self.hidden)
        check_field(self.epochs >= 1, "predictor.epochs", "must be >= 1", self.epochs)
        check_field(self.lr > 0, "predictor.lr", "must be positive", self.lr)
        check_field(0 < self.holdout < 1, "predictor.holdout", "must lie in (0, 1)", self.holdout)


@dataclass(frozen=True)
class SearchConfig:
    """A complete search configuration.

    Attributes:
        evaluator: how candidates are scored: ``supernet`` (AP of the supernet's sub-network after BN
            recalibration) or ``proxy`` (a deterministic synthetic fitness of the arch for dry runs:
            checking a budget, the outputs, a torchrun set-up; **not AP**).
        output_dir: folder of the search's outputs (``best_arch.json``, ``candidates.csv``,
            ``pareto.png``, ``search_state.json``, ``search_config.yaml``).
    """

    space: SpaceConfig = field(default_factory=SpaceConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    constraint: ConstraintConfig = field(default_factory=ConstraintConfig)
    data: DataConfig = field(default_factory=DataConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    evaluator: Literal["supernet", "proxy"] = "supernet"
    output_dir: str = "runs/search"

    @property
    def output(self) -> Path:
        return Path(self.output_dir)


def search_config_from_dict(raw: Mapping[str, Any] | None, *, source: str = "config") -> SearchConfig:
    """Build a :class:`SearchConfig` from a (possibly partial) mapping; errors are prefixed with ``source``."""
    return dataclass_from_dict(SearchConfig, raw, source=source)


def load_search_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> SearchConfig:
    """Read a YAML search config strictly (``None``: all defaults) and apply ``--set`` overrides."""
    return load_yaml_config(SearchConfig, path, overrides)

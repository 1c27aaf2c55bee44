"""Running an experiment: every variant trained under the same budget for several seeds, scored, profiled,
timed, and reported — resumable after a kill.

The output folder::

    OUT/experiment.json          what is being run (variants, budget, training config, data); a rerun checks it
    OUT/data/                    the default synthetic crowds (drawn once)
    OUT/archs/KEY.json           each variant's network (the trainer's model.arch)
    OUT/runs/KEY/seedN/train/    the training run (config, metrics.csv, curves.png)
    OUT/runs/KEY/seedN/model.pt  the trained network (project checkpoint)
    OUT/runs/KEY/seedN/result.json   its AP (written last: a run without it is redone from scratch)
    OUT/variants/KEY.json        params, MACs and latency of the variant (measured once, in a fresh process)
    OUT/results.{md,csv,json}, OUT/plot.png     the report (:mod:`litepose.experiments.report`)

A killed experiment continues, when the same command runs again, with the runs that have no
``result.json`` yet; asking for more seeds adds runs. Changing anything else (budget, training config,
data, variants) in the same folder is refused, so one table never mixes two set-ups.

The default training recipe is the CPU recipe of ``litepose demo`` (:func:`cpu_recipe`): minutes-long
runs on two cores, measured there. ``config`` replaces it (a preset such as
``configs/crowdpose/litepose-l.yaml`` for GPU runs on the real datasets); each variant then replaces
the config's ``model`` section and ``--minutes`` its time budget (or ``--epochs`` its length).

A time budget is the paper's "same budget" but, on a machine other processes share, the same minutes
buy very different numbers of steps (two 2-minute runs of one variant here: 11 and 165 steps);
``epochs`` gives every run the same work instead (with ``minutes`` as an upper bound, or none).

Each variant is timed in a process of its own (spawned, with malloc keeping freed memory:
:func:`litepose.export.timing.keep_freed_memory`): eager PyTorch's latency at 512² otherwise depends on
what the process did before, and the first variant timed right after training measured 30 % faster
than the same network timed in a process that had not trained.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from litepose.experiments.design import REFERENCE_SIZE, Experiment, Variant
from litepose.io import atomic_write_json, check_output_dir
from litepose.training.config import Config, ConfigError, config_from_dict, config_to_dict

__all__ = [
    "SYNTHETIC_CROWDS",
    "ExperimentPaths",
    "ExperimentSettings",
    "RunResult",
    "cpu_recipe",
    "default_minutes",
    "run_experiment",
    "synthetic_crowds",
]

Log = Callable[[str], None]

#: The default data: 128x128 images of one to four people 48-124 px tall, a crowd blob in one image of
#: five; 4000 training images (seed 1) and 300 held-out images (seed 2), COCO-17 keypoints.
SYNTHETIC_CROWDS: dict[str, Any] = {"image_size": (128, 128), "min_people": 1, "max_people": 4, "min_height": 48.0,
                                    "max_height": 124.0, "crowd_prob": 0.2, "train_images": 4000, "val_images": 300}
#: The deployment backends the single-branch experiment times besides eager PyTorch (litepose.runtime).
EXPORTED_BACKENDS = ("onnxruntime", "openvino")
#: Training minutes of a whole experiment when --minutes is not given (split evenly over its runs), so that
#: one experiment with its evaluations and timings takes about an hour on two cores.
TOTAL_TRAIN_MINUTES = 50.0


def default_minutes(experiment: Experiment, seeds: int) -> float:
    """Minutes per training run that spend :data:`TOTAL_TRAIN_MINUTES` over all runs of ``experiment``."""
    return round(TOTAL_TRAIN_MINUTES / (len(experiment.variants) * seeds), 2)


def cpu_recipe(train_ann: Path | None, train_images: Path | None) -> dict[str, Any]:
    """The training config (plain dict) of the CPU runs: ``litepose demo``'s recipe on this data.

    Batch 32 at lr 1.5e-2 with a cosine schedule over the time budget, AE factors 5e-3, a near-zero
    initial prediction head, training on 96x96 crops at the 128x128 test scale, grouping candidate
    threshold 0.2 (see :func:`litepose.cli.demo.recipe_config` for what each was measured to bring). The
    run itself does not validate: the experiment scores the final weights on the whole held-out set
    with flip test.
    """
    return {
        "model": {"arch": "litepose-xs"},
        "data": {"train_ann": None if train_ann is None else str(train_ann),
                 "train_images": None if train_images is None else str(train_images), "val_ann": None,
                 "val_images": None,
                 "input_size": 96, "test_input_size": 128,
                 "augment": {"max_rotation": 10.0, "min_scale": 0.6, "max_scale": 0.9, "max_translate": 40.0,
                             "flip_prob": 0.5},
                 "heatmap_center": "subpixel", "workers": 0},
        "optim": {"lr": 1.5e-2, "schedule": "cosine", "warmup_epochs": 0.1, "epochs": 100, "batch_size": 32},
        "loss": {"push_factor": 5.0e-3, "pull_factor": 5.0e-3},
        "train": {"device": "cpu", "eval_interval": 0, "val_detection_threshold": 0.2, "log_interval": 20},
        "init": {"head_std": 1.0e-3},
    }


def synthetic_crowds(folder: Path, *, progress: bool = False, log: Log = print) -> tuple[Path, Path]:
    """Draw :data:`SYNTHETIC_CROWDS` into ``folder/train`` and ``folder/val`` (once; kept when complete).

    Returns the two annotation files.
    """
    from litepose.data.synthetic import SynthConfig, synthesize

    c = SYNTHETIC_CROWDS
    config = SynthConfig(image_size=c["image_size"], min_people=c["min_people"], max_people=c["max_people"],
                         min_height=c["min_height"], max_height=c["max_height"], crowd_prob=c["crowd_prob"])
    paths = []
    for split, count, seed in (("train", c["train_images"], 1), ("val", c["val_images"], 2)):
        ann = folder / split / "annotations.json"
        if not _synthetic_set_matches(ann, count, seed, asdict(config)):
            start = time.perf_counter()
            synthesize(folder / split, count, "coco", seed, config=config, progress=progress)
            log(f"drew {count} synthetic {split} images into {folder / split} ({time.perf_counter() - start:.0f}s)")
        paths.append(ann)
    return paths[0], paths[1]


def _synthetic_set_matches(ann: Path, count: int, seed: int, config: Mapping[str, Any]) -> bool:
    if not ann.is_file():
        return False
    try:
        info = json.loads(ann.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    want = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
    return (isinstance(info, dict) and len(info.get("images", [])) == count
            and info.get("info", {}).get("seed") == seed and info.get("info", {}).get("config") == want)


@dataclass(frozen=True)
class ExperimentSettings:
    """How an experiment runs.

    Attributes:
        minutes: training budget of each run (``train.time_budget_minutes``); every variant gets the same.
            ``None``: no time budget (then ``epochs`` is required).
        epochs: train each run for this many epochs (``optim.epochs``; the schedule spans them); with
            ``minutes`` too, whichever ends first. ``None``: the config's epochs, cut by the time budget.
        seeds: runs per variant (seeds 0 .. seeds-1): AP is reported as mean ± spread over them.
        data: ``None`` (synthetic crowds drawn into the output folder), a folder holding ``train/`` and
            ``val/`` (``annotations.json`` + ``images/`` each, as ``litepose synth`` writes), or a dataset
            YAML (``data.dataset``).
        config: a training config YAML to use instead of :func:`cpu_recipe` (its data section is used
            unless ``data`` is given; its ``model`` section is replaced by each variant).
        overrides: ``key=value`` settings applied to the training config last (``--set``).
        latency_size: input side of the latency and MACs columns (the paper's 512).
        latency_repeats: timed calls per latency measurement (the median is reported).
        latency_threads: threads the backends are pinned to (``None``: the cores this process may use).
        progress: show progress bars.
    """

    minutes: float | None
    seeds: int = 2
    epochs: int | None = None
    data: Path | None = None
    config: Path | None = None
    overrides: tuple[str, ...] = ()
    latency_size: int = REFERENCE_SIZE
    latency_repeats: int = 10
    latency_threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.minutes is None and self.epochs is None:
            raise ValueError("give a training budget: --minutes or --epochs")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"--minutes must be positive, got {self.minutes}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if self.latency_size <= 0 or self.latency_size % 32:
            raise ValueError(f"--latency-size must be a positive multiple of 32, got {self.latency_size}")
        if self.latency_repeats < 1:
            raise ValueError(f"--latency-repeats must be >= 1, got {self.latency_repeats}")
        if self.latency_threads is not None and self.latency_threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.latency_threads}")


@dataclass(frozen=True)
class ExperimentPaths:
    """Where an experiment's files go (see the module docstring)."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "experiment.json"

    def arch(self, key: str) -> Path:
        return self.root / "archs" / f"{key}.json"

    def run(self, key: str, seed: int) -> Path:
        return self.root / "runs" / key / f"seed{seed}"

    def result(self, key: str, seed: int) -> Path:
        return self.run(key, seed) / "result.json"

    def variant(self, key: str) -> Path:
        return self.root / "variants" / f"{key}.json"


@dataclass(frozen=True)
class RunResult:
    """One trained and scored run (``result.json``)."""

    variant: str
    seed: int
    metrics: dict[str, float] | None  # pycocotools stats (AP, AP50, ...); None when training diverged
    epochs: int
    steps: int
    train_seconds: float
    eval_seconds: float
    status: str = "done"  # or "diverged: <message>"

    @property
    def ap(self) -> float | None:
        return None if self.metrics is None else float(self.metrics["AP"])

    @classmethod
    def read(cls, path: Path) -> RunResult:
        raw = json.loads(path.read_text())
        return cls(**raw)


# --------------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------------
def _base_config(settings: ExperimentSettings, paths: ExperimentPaths, log: Log) -> Config:
    """The training config every run starts from, with the data resolved (a synthetic set drawn if needed)."""
    from litepose.training.config import apply_overrides, load_config

    data = settings.data
    if settings.config is not None:
        raw, source = config_to_dict(load_config(settings.config)), str(settings.config)
    else:
        raw, source = cpu_recipe(None, None), "CPU recipe"
    if data is None:
        if settings.config is None:
            train_ann, _ = synthetic_crowds(paths.root / "data", progress=settings.progress, log=log)
            raw["data"].update({"train_ann": str(train_ann), "train_images": str(train_ann.parent / "images")})
    elif data.is_dir():
        train_ann, val_ann = _split_ann(data, "train"), _split_ann(data, "val")
        validate = settings.config is not None  # the CPU recipe's runs do not validate (scored afterwards)
        raw["data"].update({"dataset": None, "train_ann": str(train_ann),
                            "train_images": str(data / "train" / "images"),
                            "val_ann": str(val_ann) if validate else None,
                            "val_images": str(data / "val" / "images") if validate else None})
    elif data.is_file() and data.suffix.lower() in (".yaml", ".yml"):
        raw["data"].update({"dataset": str(data), "train_ann": None, "train_images": None, "val_ann": None,
                            "val_images": None})
    else:
        raise ValueError(f"--data {data}: expected a folder with train/ and val/ (litepose synth layout) or a "
                         "dataset YAML")
    cfg = config_from_dict(raw, source=source)
    return apply_overrides(cfg, settings.overrides) if settings.overrides else cfg


def _check_inputs(settings: ExperimentSettings) -> None:
    """Everything the settings name exists and parses (before any folder is made or data drawn)."""
    from litepose.training.config import apply_overrides, load_config

    for path, option in ((settings.data, "--data"), (settings.config, "--config")):
        if path is not None and not path.exists():
            raise FileNotFoundError(f"{option} {path} does not exist")
    data = settings.data
    if data is not None:
        if data.is_dir():
            _split_ann(data, "train")
            _split_ann(data, "val")
        elif data.suffix.lower() not in (".yaml", ".yml"):
            raise ValueError(f"--data {data}: expected a folder with train/ and val/ (litepose synth layout) or a "
                             "dataset YAML")
    cfg = load_config(settings.config) if settings.config is not None else Config()
    apply_overrides(cfg, settings.overrides)


def _split_ann(folder: Path, split: str) -> Path:
    ann = folder / split / "annotations.json"
    if not ann.is_file():
        raise FileNotFoundError(f"--data {folder}: no {split}/annotations.json (expected the litepose synth layout: "
                                f"{split}/annotations.json and {split}/images/)")
    return ann


def _evaluation_set(settings: ExperimentSettings, cfg: Config, paths: ExperimentPaths) -> tuple[Path, Path]:
    """The held-out annotations and images the runs are scored on."""
    from litepose.training.loader import resolve_data

    data = settings.data
    if data is not None and data.is_dir():
        return _split_ann(data, "val"), data / "val" / "images"
    if data is None and settings.config is None:
        return paths.root / "data" / "val" / "annotations.json", paths.root / "data" / "val" / "images"
    resolved = resolve_data(cfg)
    if resolved.val_ann is None or resolved.val_images is None:
        raise ConfigError("the experiment needs a validation set to score the runs: give --data with val/ or a "
                          "training config (or dataset YAML) with data.val_ann and data.val_images")
    return resolved.val_ann, resolved.val_images


def _manifest(experiment: Experiment, settings: ExperimentSettings, cfg: Config) -> dict[str, Any]:
    return {
        "experiment": experiment.name,
        "variants": {v.key: {"label": v.label, "arch": v.spec.to_dict()} for v in experiment.variants},
        "minutes": settings.minutes,
        "epochs": settings.epochs,
        "latency_size": settings.latency_size,
        "training_config": config_to_dict(cfg),
    }


def _check_manifest(path: Path, manifest: dict[str, Any], seeds: int) -> int:
    """Refuse to continue a folder that holds another set-up; return how many seeds the folder is meant to
    hold (the most ever asked for: a rerun with fewer seeds reports all that were run)."""
    if path.is_file():
        old = json.loads(path.read_text())
        mine = json.loads(json.dumps(manifest))  # as it reads back (tuples are lists)
        changed = sorted(k for k in mine if mine[k] != old.get(k))
        if changed:
            raise ValueError(f"{path.parent}: holds a {old.get('experiment')} experiment with other settings "
                             f"({', '.join(changed)} differ); use another -o folder or the same settings")
        seeds = max(seeds, int(old.get("seeds", 0)))
    atomic_write_json(path, {**manifest, "seeds": seeds}, indent=2)
    return seeds


# --------------------------------------------------------------------------------------------------
# One run, one variant
# --------------------------------------------------------------------------------------------------
def _train_and_score(variant: Variant, seed: int, cfg: Config, paths: ExperimentPaths, settings: ExperimentSettings,
                     val: tuple[Path, Path], log: Log) -> RunResult:
    from litepose.evaluation.model import evaluate_model
    from litepose.models.checkpoint import load_checkpoint, save
    from litepose.training.loop import TrainingDiverged
    from litepose.training.trainer import fit

    folder = paths.run(variant.key, seed)
    if folder.exists():  # a run killed before its result: start it again
        shutil.rmtree(folder)
    run_cfg = replace(cfg,
                      model=replace(cfg.model, arch=str(paths.arch(variant.key)), width=1.0, kernel_size=None,
                                    fusion=True, supernet=False),
                      train=replace(cfg.train, output_dir=str(folder / "train"), seed=seed,
                                    time_budget_minutes=settings.minutes))
    if settings.epochs is not None:
        run_cfg = replace(run_cfg, optim=replace(run_cfg.optim, epochs=settings.epochs))
    start = time.perf_counter()
    try:
        fitted = fit(run_cfg, log=log, progress=settings.progress)
    except TrainingDiverged as err:
        return RunResult(variant.key, seed, None, 0, 0, time.perf_counter() - start, 0.0, f"diverged: {err}")
    train_s = time.perf_counter() - start
    loaded = load_checkpoint(fitted.last)
    model = loaded.model
    start = time.perf_counter()
    evaluation = evaluate_model(model, val[0], val[1], skeleton=loaded.skeleton, input_size=model.spec.input_size,
                                flip_test=True, detection_threshold=run_cfg.train.val_detection_threshold,
                                progress=settings.progress, desc=f"{variant.key} seed {seed}")
    eval_s = time.perf_counter() - start
    save(model, folder / "model.pt", skeleton=loaded.skeleton,
         meta={"experiment_variant": variant.key, "seed": seed, "epochs": fitted.epochs, "steps": fitted.global_step})
    for name in ("last.pt", "best.pt"):  # optimizer state and duplicates: model.pt is what is kept
        (folder / "train" / name).unlink(missing_ok=True)
    assert evaluation.metrics is not None  # one process: it evaluates
    return RunResult(variant.key, seed, {k: float(v) for k, v in evaluation.metrics.items()}, fitted.epochs,
                     fitted.global_step, round(train_s, 1), round(eval_s, 1))


def _time_exported(net: Any, backend: str, size: int, skeleton: Any, threads: int | None, repeats: int) -> Any:
    """The latency of ``net`` as deployment runs it on ``backend`` (onnxruntime or OpenVINO): BatchNorm
    folded, converted in memory (:func:`litepose.runtime.from_torch.module_backend`), one random image."""
    import numpy as np

    from litepose.export.timing import CpuWait, LatencyResult, default_threads, host_id, time_calls
    from litepose.runtime.backends import module_metadata
    from litepose.runtime.from_torch import module_backend

    threads = threads or default_threads()
    runtime = module_backend(net, module_metadata(net, skeleton, test_size=size), backend, threads=threads)
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    with CpuWait.measure() as wait:
        times = time_calls(lambda: runtime.run(x), warmup=2, repeats=repeats)
    return LatencyResult.from_times(times, warmup=2, backend=backend, threads=threads,
                                    input_shapes=((1, 3, size, size),), host=host_id(), cpu_wait=wait.share,
                                    settings={"precision": runtime.metadata.precision, "bn_folded": True})


def _measure_in_fresh_process(experiment: Experiment, variant: Variant, skeleton: Any, test_size: int,
                              settings: ExperimentSettings, log: Log) -> dict[str, Any]:
    """:func:`_measure_variant` in a spawned process that does nothing else (see the module notes)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        measured, lines = pool.submit(_measure_variant_steadily, experiment, variant, skeleton, test_size,
                                      settings).result()
    for line in lines:
        log(line)
    return measured


def _measure_variant_steadily(experiment: Experiment, variant: Variant, skeleton: Any, test_size: int,
                              settings: ExperimentSettings) -> tuple[dict[str, Any], list[str]]:
    """The body of the timing process: malloc set to keep freed memory, then :func:`_measure_variant`;
    its log lines are returned for the parent to print in order."""
    import os

    from litepose.export.timing import keep_freed_memory

    kept = keep_freed_memory()
    lines: list[str] = []
    measured = _measure_variant(experiment, variant, skeleton, test_size, settings, lines.append)
    measured["timing_process"] = {"pid": os.getpid(), "malloc_keeps_freed_memory": kept}
    return measured, lines


def _measure_variant(experiment: Experiment, variant: Variant, skeleton: Any, test_size: int,
                     settings: ExperimentSettings, log: Log) -> dict[str, Any]:
    """Params, MACs (paper convention and true) at the latency size and the test size, and latency at the
    latency size on torch and, when the experiment compares them, on every exported backend."""
    from litepose.export.latency import measure_latency
    from litepose.models.families import build_network
    from litepose.models.profile import profile_model

    size = settings.latency_size
    net = build_network(variant.spec.with_input_size(size), skeleton.num_keypoints).eval()
    at_ref = profile_model(net, size)
    at_test = profile_model(net, test_size)
    latency: dict[str, Any] = {}
    for backend in ("torch", *(EXPORTED_BACKENDS if experiment.exported_latency else ())):
        try:
            if backend == "torch":
                result = measure_latency(net, size, backend="torch", threads=settings.latency_threads, warmup=2,
                                         repeats=settings.latency_repeats)
            else:
                result = _time_exported(net, backend, size, skeleton, settings.latency_threads,
                                        settings.latency_repeats)
        except Exception as err:  # an exporter's failure is a finding, not the end of the experiment
            latency[backend] = {"error": f"{type(err).__name__}: {err}"}
            log(f"{variant.key}: latency on {backend} failed ({type(err).__name__}: {err})")
            continue
        latency[backend] = result.to_dict() | {"contended": result.contended}
        log(f"{variant.key}: {result.describe()}")
    return {"key": variant.key, "label": variant.label, "num_keypoints": skeleton.num_keypoints,
            "params": at_ref.params, "latency_size": size, "macs_paper": at_ref.macs_paper, "macs": at_ref.macs,
            "test_size": test_size, "macs_paper_test": at_test.macs_paper, "latency": latency}


# --------------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------------
def run_experiment(experiment: Experiment, out: str | Path, settings: ExperimentSettings, *,
                   log: Log = print) -> dict[str, Any]:
    """Train every variant of ``experiment`` for ``settings.seeds`` seeds, score, profile and time it, and
    write the report into ``out``; runs finished earlier in ``out`` are kept (resume).

    Returns:
        The report (what ``results.json`` holds): per-variant summaries, the runs, the settings.
    """
    from tqdm.auto import tqdm

    from litepose.experiments.report import write_report
    from litepose.models.checkpoint import load_checkpoint

    inputs = [p for p in (settings.data, settings.config) if p is not None]
    paths = ExperimentPaths(check_output_dir(out, inputs=inputs, option="-o"))
    _check_inputs(settings)
    paths.root.mkdir(parents=True, exist_ok=True)
    cfg = _base_config(settings, paths, log)
    val = _evaluation_set(settings, cfg, paths)
    recorded = _check_manifest(paths.manifest, _manifest(experiment, settings, cfg), settings.seeds)

    jobs = [(v, s) for v in experiment.variants for s in range(settings.seeds)]
    todo = [(v, s) for v, s in jobs if not paths.result(v.key, s).is_file()]
    log(f"{experiment.name}: {len(experiment.variants)} variants x {settings.seeds} seeds = {len(jobs)} runs of "
        f"{_budget(settings)}; {len(jobs) - len(todo)} done earlier, {len(todo)} to train -> {paths.root}")
    for v in experiment.variants:
        atomic_write_json(paths.arch(v.key), v.spec.to_dict(), indent=2)
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=experiment.name, unit="run",
              disable=not settings.progress) as bar:
        for variant in experiment.variants:
            for seed in range(settings.seeds):
                if paths.result(variant.key, seed).is_file():
                    continue
                log(f"{variant.key} ({variant.label}), seed {seed}: training for {_budget(settings)}")
                result = _train_and_score(variant, seed, cfg, paths, settings, val, log)
                atomic_write_json(paths.result(variant.key, seed), asdict(result), indent=2)
                log(f"{variant.key} seed {seed}: " + (f"AP {result.ap:.3f} after {result.epochs} epochs "
                                                       f"({result.steps} steps)" if result.ap is not None
                                                       else result.status))
                bar.update(1)
            if not paths.variant(variant.key).is_file():
                model_file = next((paths.run(variant.key, s) / "model.pt" for s in range(settings.seeds)
                                   if (paths.run(variant.key, s) / "model.pt").is_file()), None)
                skeleton = load_checkpoint(model_file).skeleton if model_file else None
                skeleton = skeleton or _skeleton_of(cfg)
                test_size = cfg.data.test_input_size or cfg.data.input_size or variant.spec.input_size
                measured = _measure_in_fresh_process(experiment, variant, skeleton, test_size, settings, log)
                atomic_write_json(paths.variant(variant.key), measured, indent=2)

    runs = {v.key: [RunResult.read(paths.result(v.key, s)) for s in range(recorded)
                    if paths.result(v.key, s).is_file()] for v in experiment.variants}
    seeds = max(len(rs) for rs in runs.values())
    measured = {v.key: json.loads(paths.variant(v.key).read_text()) for v in experiment.variants}
    return write_report(experiment, runs, measured, paths.root, settings=_settings_dict(settings, seeds, val))


def _skeleton_of(cfg: Config) -> Any:
    """The skeleton of the training data (when no run left a checkpoint that names it: all diverged)."""
    from litepose.skeleton import load_skeleton, skeleton_from_coco_category
    from litepose.training.loader import resolve_data

    resolved = resolve_data(cfg)
    if resolved.skeleton is not None:
        return resolved.skeleton
    if cfg.data.skeleton is not None:
        return load_skeleton(cfg.data.skeleton)
    return skeleton_from_coco_category(json.loads(resolved.train_ann.read_text())["categories"][0])


def _budget(settings: ExperimentSettings) -> str:
    parts = [f"{settings.minutes:g} min"] if settings.minutes is not None else []
    parts += [f"{settings.epochs} epochs"] if settings.epochs is not None else []
    return " or ".join(parts)


def _settings_dict(settings: ExperimentSettings, seeds: int, val: Sequence[Path]) -> dict[str, Any]:
    raw = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items() if k != "progress"}
    raw["overrides"] = list(settings.overrides)
    return {**raw, "seeds": seeds, "val_ann": str(val[0])}

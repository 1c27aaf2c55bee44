"""The whole NAS pipeline on synthetic crowds within a time budget (``litepose demo --recipe search``).

train a supernet → search under a MACs budget → extract the best sub-network → fine-tune it, on the
demo's synthetic data, sized for a 2-core CPU. The comparison (``--recipe search-baseline``) trains the
uniformly scaled LitePose that sets the budget (the official ``fixed_sample(128, 0.5)``: every width
halved, at 128 px) from scratch for the same total time with the demo's tuned recipe; the searched
network's MACs are at most its MACs.

Time split of the budget (after data and a reserve for the final evaluation): the search's fixed
evaluations (:data:`SEARCH_EVOLUTION`, :data:`SEARCH_MINUTES`), half of the rest for the supernet, and
what is left when the search ends for the fine-tuning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from litepose.models.space import SearchSpace, get_search_space
from litepose.models.spec import ArchSpec

__all__ = ["BASELINE_ARCH", "RECIPE_SPACE", "PipelineResult", "finetune_config", "run_search_pipeline",
           "search_config", "supernet_config"]

#: The official space at the demo's scale: 128x128 images, so resolutions 96 and 128.
RECIPE_SPACE: SearchSpace = replace(get_search_space("official"), name="recipe", resolutions=(96, 128))
#: The uniformly scaled LitePose the searched network is compared with, and whose paper MACs are the budget.
BASELINE_ARCH: ArchSpec = replace(RECIPE_SPACE.uniform(0.5, 128), name="uniform-0.5@128")
#: The evolution of the recipe's search: 12 + 4 x 12 = 60 candidates (official: 40 + 40 x 40).
SEARCH_EVOLUTION = {"population": 12, "generations": 4, "mutate_prob": 0.3, "parent_ratio": 0.25,
                    "mutation_ratio": 0.5, "seed": 0}
SUPERNET_SHARE = 0.5  # of the training time (supernet + fine-tuning)
SEARCH_MINUTES = 3.0  # the recipe's search took 2.2 min on 2 cores (45 distinct candidates; see the README)

Log = Callable[[str], None]


def supernet_config(base: dict[str, Any], out: str, minutes: float) -> dict[str, Any]:
    """The supernet's training config: the demo recipe (``base``) with the supernet switched on.

    Batches are made at 128 px (zoom 0.8-1.2 of the 128-px images) and resized to each step's
    sub-network resolution (96 or 128); widths ×{1, .75, .5, .25}; one sub-network per step.
    """
    cfg = _copy(base)
    cfg["model"] = {"supernet": True}
    cfg["search_space"] = {"preset": "official", "resolutions": list(RECIPE_SPACE.resolutions),
                           "sampling": "uniform"}
    cfg["data"].update({"input_size": 128, "test_input_size": None})
    cfg["data"]["augment"].update({"min_scale": 0.8, "max_scale": 1.2})
    cfg["train"].update({"output_dir": f"{out}/supernet", "time_budget_minutes": round(minutes, 3),
                         "eval_interval": 0, "val_subset": 100})
    return cfg


def search_config(out: str, data: dict[str, str], num_keypoints: int, budget: str) -> dict[str, Any]:
    """The search's config: the recipe space, a MACs budget (paper convention), BN recalibration on 64
    training images, AP on the first 100 validation images without flip test."""
    return {
        "space": {"preset": "official", "resolutions": list(RECIPE_SPACE.resolutions), "num_keypoints": num_keypoints},
        "evolution": dict(SEARCH_EVOLUTION),
        "constraint": {"kind": "macs_paper", "budget": budget},
        "data": {"calib_ann": data["train_ann"], "calib_images": data["train_images"], "calib_batches": 4,
                 "calib_batch_size": 16, "val_ann": data["val_ann"], "val_images": data["val_images"],
                 "val_subset": 100, "bn_mode": "exact", "flip_test": False, "detection_threshold": 0.2,
                 "device": "cpu"},
        "evaluator": "supernet",
        "output_dir": f"{out}/search",
    }


def finetune_config(base: dict[str, Any], out: str, subnet: str, arch: ArchSpec, minutes: float) -> dict[str, Any]:
    """Fine-tuning the extracted sub-network: the demo recipe on crops of 3/4 of its resolution (as the
    demo trains 96-px crops for 128-px tests), the whole network initialised from the supernet."""
    cfg = _copy(base)
    size = arch.input_size
    crop = max(64, (size * 3 // 4) // 32 * 32)
    ratio = crop / size
    cfg["model"] = {"arch": subnet}
    cfg["data"].update({"input_size": crop, "test_input_size": size})
    cfg["data"]["augment"].update({"min_scale": round(0.8 * ratio, 3), "max_scale": round(1.2 * ratio, 3)})
    cfg["init"] = {"backbone": subnet, "backbone_only": False, "head_std": None}
    cfg["optim"]["lr"] = cfg["optim"]["lr"] / 2  # from trained weights, not from scratch
    cfg["train"].update({"output_dir": f"{out}/finetune", "time_budget_minutes": round(minutes, 3)})
    return cfg


@dataclass
class PipelineResult:
    """What the pipeline produced and measured."""

    checkpoint: Path  # the fine-tuned sub-network
    arch: ArchSpec
    search_ap: float  # the supernet sub-network's AP in the search (100 images, no flip)
    baseline_macs_paper: float
    arch_macs_paper: float
    minutes: dict[str, float]
    epochs: int
    steps: int


def run_search_pipeline(base: dict[str, Any], folder: Path, minutes: float, *, data: dict[str, str],
                        progress: bool, log: Log = print) -> PipelineResult:
    """Supernet → search → extract → fine-tune, finishing within ``minutes``.

    Args:
        base: the demo's training recipe (a config dict) for the data, loss and optimiser settings.
        folder: a fresh folder for ``supernet/``, ``search/``, ``subnet.pt`` and ``finetune/``.
        minutes: the pipeline's whole budget; the supernet gets :data:`SUPERNET_SHARE` of it after the
            search's estimate (:data:`SEARCH_MINUTES`), the fine-tuning whatever is left at its start.
        data: ``train_ann``, ``train_images``, ``val_ann``, ``val_images``.
        progress: progress bars.
        log: where the stage lines go.
    """
    from litepose.models.checkpoint import save
    from litepose.models.litepose import LitePose
    from litepose.models.profile import profile_model
    from litepose.models.supernet import load_supernet
    from litepose.search.candidates import build_evaluator
    from litepose.search.config import search_config_from_dict
    from litepose.search.run import plan_search, run_search
    from litepose.training.config import config_from_dict
    from litepose.training.trainer import fit

    start = time.perf_counter()
    deadline = start + minutes * 60
    spent: dict[str, float] = {}
    base = _copy(base)
    base["data"].update({k: data[k] for k in ("train_ann", "train_images", "val_ann", "val_images")})
    num_keypoints = 17
    budget_macs = profile_model(LitePose(BASELINE_ARCH, num_keypoints), BASELINE_ARCH.input_size).macs_paper
    out = folder.as_posix()

    # 1. the supernet
    supernet_minutes = max(0.1, (minutes - SEARCH_MINUTES) * SUPERNET_SHARE)
    log(f"search recipe 1/4: supernet for {supernet_minutes:.1f} min (space {RECIPE_SPACE.name}: "
        f"{RECIPE_SPACE.size:,} sub-networks)")
    trained = fit(config_from_dict(supernet_config(base, out, supernet_minutes), source="search recipe"),
                  progress=progress)
    spent["supernet"] = (time.perf_counter() - start) / 60

    # 2. the search under the baseline's MACs
    t = time.perf_counter()
    log(f"search recipe 2/4: evolution under {budget_macs / 1e9:.3f} GMACs (paper convention), the MACs of "
        f"{BASELINE_ARCH.name}")
    cfg = search_config_from_dict(search_config(out, data, num_keypoints, f"{budget_macs / 1e9:.6f}G"),
                                  source="search recipe")
    result = run_search(plan_search(cfg), build_evaluator(cfg, trained.last), progress=progress)
    best = result.best
    spent["search"] = (time.perf_counter() - t) / 60

    # 3. extract
    supernet = load_supernet(trained.last)
    subnet_path = folder / "subnet.pt"
    save(supernet.model.eval().extract(best.arch), subnet_path, skeleton=supernet.skeleton,
         meta={"extracted_from": str(trained.last), "search_AP": best.accuracy})
    log(f"search recipe 3/4: best {best.arch.name} (search AP {best.accuracy:.3f}), extracted to {subnet_path}")

    # 4. fine-tune with what is left
    left = max(0.1, (deadline - time.perf_counter()) / 60)
    log(f"search recipe 4/4: fine-tuning for {left:.1f} min")
    t = time.perf_counter()
    tuned = fit(config_from_dict(finetune_config(base, out, subnet_path.as_posix(), best.arch, left),
                                 source="search recipe"), progress=progress)
    spent["finetune"] = (time.perf_counter() - t) / 60
    arch_macs = profile_model(LitePose(best.arch, num_keypoints), best.arch.input_size).macs_paper
    return PipelineResult(tuned.best or tuned.last, best.arch, float(best.accuracy), budget_macs, arch_macs,
                          spent, tuned.epochs, tuned.global_step)


def _copy(cfg: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(cfg)

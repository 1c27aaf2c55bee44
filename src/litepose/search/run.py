"""One search, start to finish: check everything first, then evolve, writing the outputs as it goes.

:func:`plan_search` does every check that needs no evaluation (the space, the budget against the
space's smallest and largest sub-networks, the output folder, a resumed state matching the settings)
and returns a :class:`SearchPlan`; :func:`run_search` runs it with an evaluator. The ``litepose search``
command is these two calls around building the evaluator.

Under ``torchrun`` every process plans and runs the same search; each generation's evaluations are
split across processes (:mod:`litepose.search.sharding`) and only rank 0 writes files. After every
generation rank 0 writes ``search_state.json`` (the state to resume from), ``candidates.csv`` and
``best_arch.json``; ``pareto.png`` is drawn at the end.

Resuming (``resume=True``) continues from ``search_state.json`` to the same result as an uninterrupted
run. The search settings must be the ones the search started with (space, constraint, evolution other
than ``generations``, predictor, evaluator): raising ``evolution.generations`` extends a finished search.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litepose.config_io import config_to_dict, save_config
from litepose.io import atomic_write_json, check_output_dir
from litepose.models.space import SearchSpace
from litepose.search.config import CONFIG_NAME, SearchConfig
from litepose.search.constraints import (
    Budget,
    Constraint,
    CostModel,
    LatencyFn,
    LatencyModel,
    check_budget_range,
    parse_budget,
)
from litepose.search.evolution import EvolutionSearch, GenerationReport, SearchResult, SearchState
from litepose.search.outputs import (
    BEST_NAME,
    CANDIDATES_NAME,
    PARETO_NAME,
    plot_pareto,
    write_best,
    write_candidates_csv,
)
from litepose.search.sharding import Evaluator, Gather, ShardedEvaluator

__all__ = ["STATE_NAME", "SearchPlan", "plan_search", "run_search", "search_fingerprint"]

STATE_NAME = "search_state.json"


@dataclass(frozen=True)
class SearchPlan:
    """A checked search, ready to run.

    Attributes:
        config: the resolved config.
        space: the search space.
        constraint: the budget with its cost model.
        cost_range: the costs of the space's smallest and largest sub-networks.
        state: the state to continue from (``resume``), or ``None`` to start.
    """

    config: SearchConfig
    space: SearchSpace
    constraint: Constraint
    cost_range: tuple[float, float]
    state: SearchState | None

    @property
    def output(self) -> Path:
        return self.config.output


def search_fingerprint(cfg: SearchConfig, space: SearchSpace, budget: Budget) -> dict[str, Any]:
    """The settings a resumed search must share with the run it continues (everything that shapes its
    decisions; ``evolution.generations`` is left out, so that a finished search can be extended)."""
    evolution = config_to_dict(cfg.evolution)
    evolution.pop("generations")
    constraint = config_to_dict(cfg.constraint)
    constraint["budget"] = budget.value
    return {"space": space.to_dict(), "num_keypoints": cfg.space.num_keypoints, "evolution": evolution,
            "constraint": constraint, "predictor": config_to_dict(cfg.predictor), "evaluator": cfg.evaluator}


def plan_search(cfg: SearchConfig, *, latency: LatencyFn | LatencyModel | None = None, resume: bool = False,
                budget_option: str = "constraint.budget", output_option: str = "output_dir") -> SearchPlan:
    """Check ``cfg`` without evaluating anything; errors are one line naming the option or file.

    Args:
        cfg: the search config.
        latency: the latency source (required when ``constraint.kind`` is ``latency``).
        resume: continue the search in ``cfg.output_dir`` (from its ``search_state.json`` if there is one).
        budget_option: how the budget was given (``--budget-macs``...), for messages.
        output_option: how the output folder was given (``--output``, ``--resume``), for messages.

    Raises:
        ValueError: no budget, an unreadable one, a budget outside the space's range, an output folder
            that exists without ``resume`` (or cannot be written), a state from other settings.
    """
    space = cfg.space.build()
    kind = cfg.constraint.kind
    if cfg.constraint.budget is None:
        raise ValueError(f"{budget_option} is required: give a budget (e.g. --budget-macs 1.2G, --budget-params "
                         "1.7M, --budget-ms 10)")
    if kind == "latency" and latency is None:
        raise ValueError("constraint.kind is latency but no latency source was given")
    budget = parse_budget(cfg.constraint.budget, kind, option=budget_option)
    constraint = Constraint(budget, CostModel(cfg.space.num_keypoints, latency if kind == "latency" else None))
    out = check_output_dir(cfg.output, option=output_option)
    state_path = out / STATE_NAME
    state = None
    if resume:
        if not out.is_dir():
            raise ValueError(f"{output_option} {out}: no such folder to resume")
        if state_path.is_file():
            state = _read_state(state_path, space, search_fingerprint(cfg, space, budget))
            constraint.costs.preload(state.costs)
    elif out.is_dir() and any(out.iterdir()):
        raise ValueError(f"{output_option} {out}: exists and is not empty; continue that search with --resume {out} "
                         "or choose another output folder")
    cost_range = check_budget_range(constraint, space, option=budget_option)
    return SearchPlan(cfg, space, constraint, cost_range, state)


def _read_state(path: Path, space: SearchSpace, fingerprint: Mapping[str, Any]) -> SearchState:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(raw, Mapping) or "search" not in raw:
        raise ValueError(f"{path}: not a search state (no 'search' settings)")
    stored = raw["search"]
    for key in fingerprint:
        if stored.get(key) != fingerprint[key]:
            raise ValueError(f"{path}: the search was started with other {key} settings ({stored.get(key)!r}, "
                             f"now {fingerprint[key]!r}); resume with the settings it started with")
    return SearchState.from_dict(raw, space, source=str(path))


def run_search(plan: SearchPlan, evaluate: Evaluator, *, rank: int = 0, world_size: int = 1,
               gather: Gather | None = None, agree: Callable[[Any], Any] | None = None, progress: bool = True,
               metric: str = "AP",
               on_generation: Callable[[GenerationReport, SearchState], None] | None = None) -> SearchResult:
    """Run a planned search; rank 0 writes the outputs into ``plan.output``.

    Args:
        plan: from :func:`plan_search`.
        evaluate: this process's evaluator (a batch of archs -> accuracies).
        rank, world_size: this process's place in a torchrun job (each generation's new candidates are
            split ``archs[rank::world_size]``).
        gather: every process's object on every process (required when ``world_size > 1``).
        agree: rank 0's value on every process (the predictor's choice of children); identity if ``None``.
        progress: progress bar on rank 0.
        metric: what ``evaluate`` measures, for the bar and the plot.
        on_generation: called on every process after each generation's outputs are written.
    """
    cfg = plan.config
    if world_size > 1:
        if gather is None:
            raise ValueError("world_size > 1 needs a gather function")
        evaluate = ShardedEvaluator(evaluate, rank, world_size, gather)
    main = rank == 0
    fingerprint = search_fingerprint(cfg, plan.space, plan.constraint.budget)
    out = plan.output
    if main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / CONFIG_NAME)

    def after_generation(report: GenerationReport, state: SearchState) -> None:
        if main:
            write_candidates_csv(out / CANDIDATES_NAME, list(state.candidates.values()))
            write_best(out / BEST_NAME, state.best)
            atomic_write_json(out / STATE_NAME, {"search": fingerprint, "metric": metric, **state.to_dict()},
                              indent=1)
        if on_generation is not None:
            on_generation(report, state)

    search = EvolutionSearch(plan.space, cfg.evolution, plan.constraint, evaluate, predictor=cfg.predictor,
                             agree=agree, on_generation=after_generation, progress=progress and main,
                             metric=metric)
    result = search.run(plan.state)
    if main:  # (again: a resumed search that was already finished ran no generation)
        write_candidates_csv(out / CANDIDATES_NAME, result.candidates)
        write_best(out / BEST_NAME, result.best)
        plot_pareto(out / PARETO_NAME, result.candidates, plan.constraint.kind, plan.constraint.budget,
                    metric=metric)
    return result

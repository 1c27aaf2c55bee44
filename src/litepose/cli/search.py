"""``litepose search CONFIG.yaml --supernet CKPT --budget-macs 1.2G [--set key=value ...] [--output DIR]``.

Hardware-aware evolutionary architecture search over a once-for-all supernet. Several processes (or
GPUs): ``torchrun --nproc_per_node N -m litepose search ...`` splits each generation's evaluations.
``--resume DIR`` continues a killed (or finished, with more generations) search. ``--evaluator proxy``
runs the whole search on a synthetic fitness (not AP) to try a budget or a set-up without a supernet.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litepose.search.config import SearchConfig

HELP = "evolutionary architecture search under a MACs, params or latency budget (resumable; torchrun)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default=None,
                        help="search config YAML (e.g. configs/search/crowdpose-xs.yaml); with --resume, the "
                             "config stored in the search folder is used when this is left out")
    parser.add_argument("--supernet", metavar="CKPT", help="supernet checkpoint (required with --evaluator supernet)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget-macs", metavar="MACS",
                        help="MACs budget, e.g. 1.2G or 850M (paper convention unless the config's "
                             "constraint.kind is macs, true MACs)")
    budget.add_argument("--budget-params", metavar="PARAMS", help="parameter budget, e.g. 1.7M")
    budget.add_argument("--budget-ms", metavar="MS", help="latency budget in milliseconds, e.g. 10")
    parser.add_argument("--backend", choices=("torch", "onnxruntime", "openvino"),
                        help="latency backend for --budget-ms (default: the config's constraint.backend)")
    parser.add_argument("--latency-table", metavar="PATH",
                        help="per-block latency table measured on the target device (else: measured here)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, typed by its field (repeatable), e.g. "
                             "--set evolution.population=20")
    parser.add_argument("--output", metavar="DIR", help="output folder (overrides output_dir)")
    parser.add_argument("--resume", metavar="DIR", help="continue the search in DIR (its search_state.json)")
    parser.add_argument("--evaluator", choices=("supernet", "proxy"),
                        help="supernet: AP after BN recalibration (default); proxy: a deterministic synthetic "
                             "fitness for dry runs, NOT AP")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _overrides(args: argparse.Namespace, kind: str) -> tuple[list[str], str]:
    """``--set`` items for the options given, and how the budget will be named in messages."""
    items = list(args.overrides)
    option = "constraint.budget"
    if args.budget_macs is not None:
        items += [f"constraint.kind={kind if kind in ('macs', 'macs_paper') else 'macs_paper'}",
                  f"constraint.budget={args.budget_macs}"]
        option = "--budget-macs"
    elif args.budget_params is not None:
        items += ["constraint.kind=params", f"constraint.budget={args.budget_params}"]
        option = "--budget-params"
    elif args.budget_ms is not None:
        items += ["constraint.kind=latency", f"constraint.budget={args.budget_ms}"]
        option = "--budget-ms"
    if args.backend is not None:
        items.append(f"constraint.backend={args.backend}")
    if args.latency_table is not None:
        items.append(f"constraint.latency_table={args.latency_table}")
    if args.evaluator is not None:
        items.append(f"evaluator={args.evaluator}")
    output = args.resume if args.resume is not None else args.output
    if output is not None:
        items.append(f"output_dir={output}")
    return items, option


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from litepose.cli import CliError
    from litepose.search.config import CONFIG_NAME, load_search_config
    from litepose.training.distributed import PeerFailed

    if args.config is None and args.resume is None:
        raise CliError("give a CONFIG.yaml to start a search, or --resume DIR to continue one")
    if args.resume is not None and args.output is not None:
        raise CliError("--output and --resume both name the output folder; give one")
    if args.config is None:
        stored = Path(args.resume) / CONFIG_NAME
        if not stored.is_file():
            raise CliError(f"--resume {args.resume}: no {CONFIG_NAME} there (not a search folder)")
        args.config = str(stored)
    base = load_search_config(args.config, args.overrides)  # the kind --budget-macs keeps, after --set
    overrides, budget_option = _overrides(args, base.constraint.kind)
    cfg = load_search_config(args.config, overrides)
    try:
        return _search(cfg, args, budget_option)
    except PeerFailed:  # another torchrun process failed and printed why: one message, not one per process
        return 2


def _search(cfg: SearchConfig, args: argparse.Namespace, budget_option: str) -> int:
    from litepose.search.constraints import format_cost
    from litepose.search.outputs import BEST_NAME, CANDIDATES_NAME, PARETO_NAME
    from litepose.search.run import STATE_NAME, plan_search, run_search
    from litepose.search.sources import check_evaluator_inputs, make_evaluator, make_latency, shared_latency
    from litepose.training.distributed import (
        all_gather_objects,
        broadcast_object,
        cleanup,
        init_distributed,
        raise_if_any_failed,
    )

    info, _ = init_distributed(cfg.data.device)
    try:
        error: BaseException | None = None
        plan = None
        try:  # every check before any work, on every process; then all stop or all go on
            check_evaluator_inputs(cfg, args.supernet)
            latency = None
            if cfg.constraint.kind == "latency":
                latency = make_latency(cfg)
                if info.is_distributed:
                    latency = shared_latency(latency, is_main=info.is_main, broadcast=broadcast_object)
            plan = plan_search(cfg, latency=latency, resume=args.resume is not None, budget_option=budget_option,
                               output_option="--resume" if args.resume is not None else
                               "--output" if args.output is not None else "output_dir")
        except (ValueError, OSError) as err:
            error = err
        raise_if_any_failed(error)
        assert plan is not None
        evaluator = metric = None
        try:
            evaluator, metric = make_evaluator(cfg, args.supernet, info=info)
        except (ValueError, OSError) as err:
            error = err
        raise_if_any_failed(error)
        assert evaluator is not None and metric is not None
        if info.is_main:
            low, high = plan.cost_range
            kind = plan.constraint.kind
            where = "resuming from generation " + str(plan.state.generation) if plan.state else "starting"
            print(f"search: {plan.space.name} space ({plan.space.size:,} sub-networks), budget "
                  f"{plan.constraint.budget} (space: {format_cost(low, kind)} to {format_cost(high, kind)}), "
                  f"evaluator {cfg.evaluator}: {metric}; {info.world_size} process(es); {where}", file=sys.stderr)
        result = run_search(plan, evaluator, rank=info.rank, world_size=info.world_size, gather=all_gather_objects,
                            agree=broadcast_object, progress=not args.no_progress, metric=metric)
    finally:
        cleanup()
    if info.is_main:
        best, out = result.best, plan.output
        print(f"best: {best.arch.name}  {metric} {best.accuracy:.4f}  "
              f"{format_cost(best.costs.get(plan.constraint.kind), plan.constraint.kind)}  "
              f"(generation {best.generation}; {len(result.candidates)} candidates evaluated)")
        print(f"  {out / BEST_NAME}, {out / CANDIDATES_NAME}, {out / PARETO_NAME}, {out / STATE_NAME}")
    return 0

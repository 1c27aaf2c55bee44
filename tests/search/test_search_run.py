"""A whole search: checks before any work, the output files, and a killed search resumed to the same result."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from search_helpers import CountingEvaluator, middle_budget

from litepose.config_io import apply_overrides
from litepose.models.space import SearchSpace, arch_label
from litepose.models.spec import ArchSpec
from litepose.search.config import SearchConfig, load_search_config
from litepose.search.constraints import CostModel
from litepose.search.evolution import GenerationReport, SearchState
from litepose.search.outputs import CSV_COLUMNS, pareto_front
from litepose.search.proxy import ProxyEvaluator
from litepose.search.run import STATE_NAME, plan_search, run_search


class Killed(Exception):
    """Stands in for a kill: raised after a generation's state was written."""


@pytest.fixture
def tiny_config(tmp_path: Path, tiny_space: SearchSpace, cost_model: CostModel) -> SearchConfig:
    budget = middle_budget(tiny_space, cost_model, "macs_paper")
    return load_search_config(None, [
        "space.resolutions=[64,96]", "space.width_multipliers=[1.0,0.5]",
        "evolution.population=6", "evolution.generations=4", "evolution.mutate_prob=0.3",
        "evolution.parent_ratio=0.5", "evolution.seed=7", "evaluator=proxy",
        f"constraint.budget={budget.value / 1e6:.1f}M", f"output_dir={tmp_path / 'search'}"])


def run(cfg: SearchConfig, *, resume: bool = False, kill_after: int | None = None,
        evaluator: CountingEvaluator | None = None) -> tuple[list[dict[str, str]], str]:
    plan = plan_search(cfg, resume=resume)

    def on_generation(report: GenerationReport, state: SearchState) -> None:
        if report.generation == kill_after:
            raise Killed

    evaluate = evaluator or ProxyEvaluator(plan.space)
    run_search(plan, evaluate, progress=False, on_generation=on_generation)
    rows = list(csv.DictReader((cfg.output / "candidates.csv").open()))
    return rows, (cfg.output / "best_arch.json").read_text()


def test_outputs(tiny_config: SearchConfig, tiny_space: SearchSpace) -> None:
    rows, best_text = run(tiny_config)
    out = tiny_config.output
    assert tuple(rows[0]) == CSV_COLUMNS
    best = ArchSpec.from_json(out / "best_arch.json")
    assert tiny_space.contains(best)
    assert set(json.loads(best_text)) == {"img_size", "input_channel", "deconv_setting", "backbone_setting"}
    budget = float(tiny_config.constraint.budget.rstrip("M")) * 1e6  # type: ignore[union-attr]
    assert all(int(r["macs_paper"]) <= budget for r in rows)
    assert all(r["latency_ms"] == "" for r in rows)
    top = max(rows, key=lambda r: float(r["ap"]))
    assert ArchSpec.from_official(json.loads(top["arch_json"])) == best and top["label"] == arch_label(best)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = json.loads((out / STATE_NAME).read_text())
    assert state["generation"] == 4 and state["metric"] == "AP" and len(state["candidates"]) == len(rows)
    saved = load_search_config(out / "search_config.yaml")
    assert saved == tiny_config


@pytest.mark.parametrize("predictor", [False, True], ids=["plain", "predictor"])
@pytest.mark.parametrize("kill_after", [0, 2])
def test_a_killed_search_resumes_to_the_same_result(tiny_config: SearchConfig, tiny_space: SearchSpace,
                                                    tmp_path: Path, predictor: bool, kill_after: int) -> None:
    if predictor:
        tiny_config = apply_overrides(tiny_config, ["predictor.enabled=true", "predictor.min_samples=6",
                                                    "predictor.oversample=2", "predictor.epochs=30"])
    whole = apply_overrides(tiny_config, [f"output_dir={tmp_path / 'whole'}"])
    expected = run(whole)
    with pytest.raises(Killed):
        run(tiny_config, kill_after=kill_after)
    assert json.loads((tiny_config.output / STATE_NAME).read_text())["generation"] == kill_after
    evaluator = CountingEvaluator(tiny_space)
    assert run(tiny_config, resume=True, evaluator=evaluator) == expected
    # the resumed run evaluated only what the killed one had not
    done = {r["label"] for r in expected[0] if int(r["generation"]) <= kill_after}
    assert evaluator.evaluated and not done & {a.name for a in evaluator.evaluated}
    if predictor:
        log = json.loads((tiny_config.output / STATE_NAME).read_text())["predictor_log"]
        assert [e["generation"] for e in log] == [1, 2, 3, 4]


def test_more_generations_extend_a_finished_search(tiny_config: SearchConfig, tmp_path: Path) -> None:
    short = apply_overrides(tiny_config, ["evolution.generations=2"])
    run(short)
    extended = run(tiny_config, resume=True)
    assert extended == run(apply_overrides(tiny_config, [f"output_dir={tmp_path / 'whole'}"]))


def test_checks_before_any_work(tiny_config: SearchConfig, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"constraint\.budget is required"):
        plan_search(apply_overrides(tiny_config, ["constraint.budget=null"]))
    with pytest.raises(ValueError, match=r"^--budget-macs '1M': below the smallest"):
        plan_search(apply_overrides(tiny_config, ["constraint.budget=1M"]), budget_option="--budget-macs")
    with pytest.raises(ValueError, match="already fits"):
        plan_search(apply_overrides(tiny_config, ["constraint.budget=100G"]))
    with pytest.raises(ValueError, match="no latency source"):
        plan_search(apply_overrides(tiny_config, ["constraint.kind=latency", "constraint.budget=10ms"]))
    tiny_config.output.mkdir()
    (tiny_config.output / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not empty; continue that search with --resume"):
        plan_search(tiny_config, output_option="--output")
    with pytest.raises(ValueError, match="no such folder to resume"):
        plan_search(apply_overrides(tiny_config, [f"output_dir={tmp_path / 'none'}"]), resume=True)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        plan_search(apply_overrides(tiny_config, [f"output_dir={file}"]), output_option="--output")


def test_resume_refuses_other_settings(tiny_config: SearchConfig) -> None:
    with pytest.raises(Killed):
        run(tiny_config, kill_after=0)
    for change, key in [("evolution.seed=8", "evolution"), ("constraint.budget=900M", "constraint"),
                        ("space.resolutions=[64,128]", "space"), ("predictor.enabled=true", "predictor")]:
        with pytest.raises(ValueError, match=f"started with other {key} settings"):
            plan_search(apply_overrides(tiny_config, [change]), resume=True)
    plan_search(apply_overrides(tiny_config, ["data.val_subset=10"]), resume=True)  # data may move


def test_pareto_front() -> None:
    points = [(1.0, 0.5), (2.0, 0.4), (2.0, 0.6), (3.0, 0.6), (0.5, 0.1), (4.0, 0.9)]
    assert pareto_front(points) == [4, 0, 2, 5]
    assert pareto_front([]) == []

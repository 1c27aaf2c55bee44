"""EvolutionSearch: budgets respected, the best over every evaluated candidate, one evaluation per arch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import pytest
from search_helpers import CountingEvaluator, middle_budget

from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec
from litepose.search.config import CostKind, EvolutionConfig
from litepose.search.constraints import Budget, Constraint, CostModel
from litepose.search.evolution import EvolutionSearch, GenerationReport, SearchError, SearchState, arch_from_label
from litepose.search.proxy import proxy_fitness


def fake_latency_ms(spec: ArchSpec) -> float:
    """A deterministic stand-in for a measured latency: grows with resolution and the stage widths."""
    return spec.input_size / 8 + sum(s.channels for s in spec.stages) / 20 + spec.deconv_channels[0] / 16


@pytest.mark.parametrize("kind", ["macs_paper", "macs", "params", "latency"])
def test_every_evaluated_candidate_meets_the_budget(kind: CostKind, tiny_space: SearchSpace, cost_model: CostModel,
                                                    tiny_evolution: EvolutionConfig) -> None:
    costs = CostModel(14, fake_latency_ms) if kind == "latency" else cost_model
    budget = middle_budget(tiny_space, costs, kind, 0.4)
    evaluator = CountingEvaluator(tiny_space)
    result = EvolutionSearch(tiny_space, tiny_evolution, Constraint(budget, costs), evaluator).run()
    assert len(result.candidates) >= tiny_evolution.population
    for c in result.candidates:
        assert c.costs.get(kind) <= budget.value
        assert tiny_space.contains(c.arch)
    assert all(costs.cost(a, kind) <= budget.value for a in result.state.population)
    # the budget binds: the largest sub-network is out, and the search spends most of it
    assert costs.cost(tiny_space.max_arch(), kind) > budget.value
    assert result.best.costs.get(kind) > 0.5 * budget.value


def test_best_is_taken_from_every_candidate_including_the_last_generations_children(
        tiny_space: SearchSpace, cost_model: CostModel) -> None:
    """Official bug: the best came only from the parents at the start of each generation, so a child of the
    last generation was never considered. Here a child evaluated only in the last generation wins."""
    config = EvolutionConfig(population=6, generations=3, mutate_prob=0.5, parent_ratio=0.5, seed=1)
    boost = {"on": False}

    def evaluate(archs: Sequence[ArchSpec]) -> list[float]:
        scores = [proxy_fitness(a, tiny_space) for a in archs]
        if boost["on"]:
            scores[0] = 1.0  # far above any proxy value (at most 0.75)
        return scores

    def on_generation(report: GenerationReport, state: SearchState) -> None:
        boost["on"] = report.generation == config.generations - 1  # the next evaluation: the last children

    budget = middle_budget(tiny_space, cost_model, "macs_paper")
    result = EvolutionSearch(tiny_space, config, Constraint(budget, cost_model), evaluate,
                             on_generation=on_generation).run()
    assert result.best.accuracy == 1.0 and result.best.generation == config.generations
    assert result.state.best == result.best
    # never a parent: no generation came after the one that evaluated it
    assert max(c.accuracy for c in result.candidates if c.generation < config.generations) < 1.0


def test_each_distinct_arch_is_evaluated_once(tiny_space: SearchSpace, cost_model: CostModel) -> None:
    # no mutation: every mutant is a copy of its parent, already evaluated (cache hits)
    config = EvolutionConfig(population=8, generations=3, mutate_prob=0.0, seed=2)
    evaluator = CountingEvaluator(tiny_space)
    result = EvolutionSearch(tiny_space, config, Constraint(middle_budget(tiny_space, cost_model, "macs"),
                                                            cost_model), evaluator).run()
    evaluated = evaluator.evaluated
    assert len(evaluated) == len(set(evaluated)) == len(result.candidates)
    proposed = config.population * (config.generations + 1)
    assert len(evaluated) < proposed - config.generations * config.num_mutations + 1
    # names do not count: a renamed arch is a cache hit
    assert {replace(a, name="x") for a in evaluated} == set(evaluated)


def test_generation_sizes_follow_the_official_finder(tiny_space: SearchSpace, cost_model: CostModel) -> None:
    config = EvolutionConfig(population=8, generations=2, seed=4)  # 2 parents, 4 mutants, 4 crossovers
    sizes: list[tuple[int, int]] = []

    def on_generation(report: GenerationReport, state: SearchState) -> None:
        sizes.append((report.proposed, len(state.population)))

    EvolutionSearch(tiny_space, config, Constraint(middle_budget(tiny_space, cost_model, "macs_paper"), cost_model),
                    CountingEvaluator(tiny_space), on_generation=on_generation).run()
    assert (config.num_parents, config.num_mutations, config.num_crossovers) == (2, 4, 4)
    assert sizes == [(8, 8), (8, 10), (8, 10)]  # the next population: parents + population children


def test_state_round_trips_through_json(tiny_space: SearchSpace, cost_model: CostModel,
                                        tiny_evolution: EvolutionConfig) -> None:
    costs = CostModel(14, fake_latency_ms)
    result = EvolutionSearch(tiny_space, tiny_evolution, Constraint(middle_budget(tiny_space, costs, "latency"),
                                                                    costs), CountingEvaluator(tiny_space)).run()
    raw = json.loads(json.dumps(result.state.to_dict()))
    back = SearchState.from_dict(raw, tiny_space)
    assert back.to_dict() == result.state.to_dict()
    assert back.population == result.state.population and list(back.candidates) == list(result.state.candidates)
    assert back.costs and all(c.latency_ms is not None for _, c in back.costs)  # measured latencies kept


def test_arch_labels_must_lie_in_the_space(tiny_space: SearchSpace) -> None:
    spec = tiny_space.max_arch()
    assert arch_from_label(spec.name, tiny_space) == spec
    with pytest.raises(ValueError, match="img_size 512"):
        arch_from_label(spec.name.replace("r96", "r512"), tiny_space, source="state")
    with pytest.raises(ValueError, match="not an architecture label"):
        arch_from_label("xs", tiny_space)


def test_a_budget_almost_nothing_meets_stops_with_a_clear_error(tiny_space: SearchSpace,
                                                                cost_model: CostModel) -> None:
    smallest = cost_model.cost(tiny_space.min_arch(), "params")
    config = EvolutionConfig(population=4, generations=1, max_tries=3, seed=0)
    with pytest.raises(SearchError, match=r"in 3 tries \(evolution.max_tries\)"):
        EvolutionSearch(tiny_space, config, Constraint(Budget("params", smallest), cost_model),
                        CountingEvaluator(tiny_space)).run()


@pytest.mark.parametrize(("scores", "words"), [([0.5], "returned 1 accuracies"), (None, "nan")])
def test_bad_evaluator_output_is_an_error(scores: list[float] | None, words: str, tiny_space: SearchSpace,
                                          cost_model: CostModel, tiny_evolution: EvolutionConfig) -> None:
    def evaluate(archs: Sequence[ArchSpec]) -> list[float]:
        return scores if scores is not None else [float("nan")] * len(archs)

    with pytest.raises(SearchError, match=words):
        EvolutionSearch(tiny_space, tiny_evolution,
                        Constraint(middle_budget(tiny_space, cost_model, "macs"), cost_model), evaluate).run()

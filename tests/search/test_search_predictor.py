"""The accuracy predictor: Kendall's tau on held-out candidates, reproducible fits, pre-screening in the search."""

from __future__ import annotations

import numpy as np
import pytest
from search_helpers import CountingEvaluator, middle_budget

from litepose.models.space import SearchSpace, get_search_space
from litepose.search.config import EvolutionConfig, PredictorConfig
from litepose.search.constraints import Constraint, CostModel
from litepose.search.evolution import EvolutionSearch
from litepose.search.predictor import AccuracyPredictor
from litepose.search.proxy import proxy_fitness


@pytest.mark.parametrize("encoding", ["onehot", "widths", "both"])
def test_kendall_tau_on_a_synthetic_fitness_is_high(encoding: str) -> None:
    space = get_search_space("official")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(150)]
    fitness = [proxy_fitness(a, space) for a in archs]
    predictor = AccuracyPredictor(space, PredictorConfig(encoding=encoding, epochs=200), seed=0)  # type: ignore[arg-type]
    fit = predictor.fit(archs, fitness)
    assert fit.n_holdout == 30 and fit.n_train == 120
    assert fit.tau > 0.7, fit
    # reproducible: the same seed gives the same model
    again = AccuracyPredictor(space, PredictorConfig(encoding=encoding, epochs=200), seed=0)  # type: ignore[arg-type]
    assert again.fit(archs, fitness) == fit
    np.testing.assert_array_equal(again.predict(archs[:5]), predictor.predict(archs[:5]))


def test_predictor_needs_data_and_a_fit() -> None:
    space = get_search_space("paper-lms")
    predictor = AccuracyPredictor(space, PredictorConfig())
    with pytest.raises(RuntimeError, match="not fitted"):
        predictor.predict([space.max_arch()])
    with pytest.raises(ValueError, match="at least 4"):
        predictor.fit([space.max_arch()], [0.5])


def test_search_prescreens_children_and_logs_tau(tiny_space: SearchSpace, cost_model: CostModel) -> None:
    config = EvolutionConfig(population=6, generations=3, mutate_prob=0.3, parent_ratio=0.5, seed=5)
    options = PredictorConfig(enabled=True, min_samples=6, oversample=3, epochs=50)
    evaluator = CountingEvaluator(tiny_space)
    agreed: list[list[int]] = []

    def agree(value: list[int]) -> list[int]:
        agreed.append(value)
        return value

    result = EvolutionSearch(tiny_space, config, Constraint(middle_budget(tiny_space, cost_model, "macs"),
                                                            cost_model),
                             evaluator, predictor=options, agree=agree).run()
    log = result.state.predictor_log
    assert [entry["generation"] for entry in log] == [1, 2, 3]
    assert all(entry["n_holdout"] >= 2 for entry in log)
    # 3 x as many children proposed, the predicted best kept: still population children per generation
    assert all(len(batch) <= config.population for batch in evaluator.batches)
    assert len(agreed) == 2 * config.generations and all(len(a) == 3 for a in agreed)

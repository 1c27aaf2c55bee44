"""Budgets (units, the official < 1G bug), cached costs (exact at any input size), the budget's range."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from litepose.models.litepose import LitePose
from litepose.models.profile import profile_model
from litepose.models.space import SearchSpace, get_search_space
from litepose.models.spec import ArchSpec
from litepose.models.zoo import get_arch
from litepose.search.constraints import (
    Budget,
    Constraint,
    CostModel,
    check_budget_range,
    format_cost,
    parse_budget,
)


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("1.2G", "macs_paper", 1.2e9),
    ("850M", "macs_paper", 850e6),          # official bug: read as 850 GMACs and rejected
    ("850 MMac", "macs", 850e6),            # what ptflops prints
    ("0.85GMACs", "macs", 850e6),
    ("1.2e9", "macs", 1.2e9),
    ("1200000000", "macs_paper", 1.2e9),
    ("1.7M", "params", 1.7e6),
    ("900k", "params", 9e5),
    ("1.7M params", "params", 1.7e6),
    ("10ms", "latency", 10.0),
    ("10", "latency", 10.0),
    ("0.01s", "latency", 10.0),
    ("500us", "latency", 0.5),
])
def test_parse_budget(text: str, kind: str, value: float) -> None:
    budget = parse_budget(text, kind)  # type: ignore[arg-type]
    assert budget.value == pytest.approx(value) and budget.kind == kind


@pytest.mark.parametrize(("text", "kind", "words"), [
    ("10ms", "macs_paper", "latency unit"),
    ("1.2G", "latency", "unknown unit"),
    ("1.2GMACs", "params", "MAC unit"),
    ("abc", "macs", "not a budget"),
    ("-1G", "macs", "positive"),
    ("0", "params", "positive"),
    ("1.2X", "macs", "unknown unit"),
])
def test_bad_budgets_are_one_line_naming_the_option(text: str, kind: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        parse_budget(text, kind, option="--budget-x")  # type: ignore[arg-type]
    assert str(info.value).startswith(f"--budget-x {text!r}") and "\n" not in str(info.value)


def test_format_cost() -> None:
    assert format_cost(1.202e9, "macs_paper") == "1.202G MACs (paper convention)"
    assert format_cost(850e6, "macs") == "850M MACs (true)"
    assert format_cost(1.676e6, "params") == "1.676M params"
    assert format_cost(10.25, "latency") == "10.25 ms"


def test_costs_equal_profiling_at_the_full_input_size() -> None:
    """MACs profiled at 32 pixels and scaled by (input/32)² are exact (every map is input/stride wide)."""
    space = get_search_space("official")
    costs = CostModel(14)
    for spec in (space.min_arch(256), space.uniform(0.5, 320), space.max_arch(256)):
        small = spec.with_input_size(128) if spec.input_size != 320 else spec.with_input_size(160)
        truth = profile_model(LitePose(small, 14), small.input_size)
        got = costs.costs(small)
        assert (got.macs_paper, got.macs, got.params) == (truth.macs_paper, truth.macs, truth.params)


def test_litepose_xs_costs() -> None:
    """The official numbers (reference §7): XS at 256 = 1.202G paper MACs, 0.883G true MACs, 1,675,552 params."""
    c = CostModel(14).costs(get_arch("litepose-xs"))
    assert (c.macs_paper, c.macs, c.params) == (1_202_266_112, 882_892_800, 1_675_552)
    assert format_cost(c.macs_paper, "macs_paper") == "1.202G MACs (paper convention)"


def test_costs_are_cached_by_arch_not_name(tiny_space: SearchSpace) -> None:
    costs = CostModel(14)
    spec = tiny_space.max_arch()
    first = costs.costs(spec)
    assert costs.costs(replace(spec, name="renamed")) is first
    assert costs.costs(spec.with_input_size(64)).params == first.params  # one profile per width setting
    assert len(costs._complexity) == 1


def test_latency_from_a_callable_or_a_latency_model(tiny_space: SearchSpace) -> None:
    calls: list[ArchSpec] = []

    def fake_ms(spec: ArchSpec) -> float:
        calls.append(spec)
        return spec.input_size / 10

    class Table:
        def predict_ms(self, spec: ArchSpec, num_keypoints: int) -> float:
            return spec.input_size / 10 + num_keypoints

    spec = tiny_space.max_arch()
    by_fn, by_model = CostModel(14, fake_ms), CostModel(17, Table())
    assert by_fn.cost(spec, "latency") == 9.6 and by_fn.cost(spec, "latency") == 9.6 and len(calls) == 1
    assert by_model.cost(spec, "latency") == pytest.approx(9.6 + 17)
    assert [s for s, _ in by_fn.measured()] == [spec]
    with pytest.raises(ValueError, match="no latency source"):
        CostModel(14).cost(spec, "latency")


def test_budget_range_errors(tiny_space: SearchSpace, cost_model: CostModel) -> None:
    low = cost_model.cost(tiny_space.min_arch(), "macs_paper")
    high = cost_model.cost(tiny_space.max_arch(), "macs_paper")
    inside = Constraint(Budget("macs_paper", (low + high) / 2, "x"), cost_model)
    assert check_budget_range(inside, tiny_space) == (low, high)
    with pytest.raises(ValueError, match=r"^--budget-macs '1M': below the smallest sub-network of the tiny space"):
        check_budget_range(Constraint(Budget("macs_paper", 1e6, "1M"), cost_model), tiny_space,
                           option="--budget-macs")
    with pytest.raises(ValueError, match="already fits, so the constraint would constrain nothing"):
        check_budget_range(Constraint(Budget("macs_paper", high, "h"), cost_model), tiny_space)


def test_profiling_leaves_the_thread_count_alone(tiny_space: SearchSpace) -> None:
    before = torch.get_num_threads()
    CostModel(14).costs(tiny_space.min_arch())
    assert torch.get_num_threads() == before

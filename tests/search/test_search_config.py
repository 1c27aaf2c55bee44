"""SearchConfig: official defaults, presets, strict YAML and --set, errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from litepose.config_io import ConfigError
from litepose.search.config import EvolutionConfig, SearchConfig, SpaceConfig, load_search_config

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_official_evolution_finder() -> None:
    evo = SearchConfig().evolution
    assert (evo.population, evo.generations, evo.mutate_prob, evo.parent_ratio, evo.mutation_ratio) == \
        (40, 40, 0.1, 0.25, 0.5)
    # Official: 10 parents, 20 mutants and 20 crossovers per generation (40 children).
    assert (evo.num_parents, evo.num_mutations, evo.num_crossovers) == (10, 20, 20)
    assert SearchConfig().predictor.enabled is False
    assert SearchConfig().constraint.kind == "macs_paper"


@pytest.mark.parametrize("name", ["crowdpose-xs", "synthetic-proxy"])
def test_presets_load(name: str) -> None:
    cfg = load_search_config(REPO / "configs" / "search" / f"{name}.yaml")
    cfg.space.build()
    assert cfg.constraint.budget is not None


def test_crowdpose_xs_preset_is_official_with_a_1_2g_paper_budget() -> None:
    cfg = load_search_config(REPO / "configs" / "search" / "crowdpose-xs.yaml")
    assert cfg.evolution == EvolutionConfig()
    assert (cfg.constraint.kind, cfg.constraint.budget) == ("macs_paper", "1.2G")
    assert cfg.space.build().name == "official"


def test_custom_space_replaces_the_presets_choices() -> None:
    space = SpaceConfig(preset="paper-lms", resolutions=(256, 320)).build()
    assert space.resolutions == (256, 320) and space.width_multipliers == (1.0, 0.75, 0.5)
    assert space.name == "paper-lms-custom"


@pytest.mark.parametrize(("override", "field"), [
    ("space.preset=foo", "space.preset"),
    ("space.resolutions=[100]", "space.resolutions"),
    ("evolution.population=1", "evolution.population"),
    ("evolution.parent_ratio=0.01", "evolution.parent_ratio"),
    ("evolution.mutate_prob=2", "evolution.mutate_prob"),
    ("constraint.kind=flops", "constraint.kind"),
    ("data.bn_mode=fast", "data.bn_mode"),
    ("predictor.oversample=0", "predictor.oversample"),
    ("evaluator=random", "evaluator"),
    ("evolution.populaton=3", "evolution.population"),  # the closest known key is suggested
])
def test_bad_values_name_the_field(override: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")) as info:
        load_search_config(None, [override])
    assert "\n" not in str(info.value)


def test_budget_stays_text_and_overrides_are_typed() -> None:
    cfg = load_search_config(None, ["constraint.budget=850M", "evolution.mutate_prob=1e-1",
                                    "predictor.enabled=true"])
    assert cfg.constraint.budget == "850M" and cfg.evolution.mutate_prob == 0.1 and cfg.predictor.enabled

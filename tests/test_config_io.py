"""litepose.config_io on a config that is not the training one: the machinery is generic."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from litepose.config_io import (
    ConfigError,
    apply_overrides,
    check_field,
    config_to_dict,
    dataclass_from_dict,
    load_yaml_config,
    read_yaml,
    save_config,
)


@dataclass(frozen=True)
class Budget:
    minutes: float = 5.0
    max_trials: int | None = None


@dataclass(frozen=True)
class SearchConfig:
    """A stand-in for an architecture-search config."""

    arch: str = "litepose-xs"
    widths: tuple[float, ...] = (0.5, 1.0)
    metric: Literal["AP", "AP50"] = "AP"
    budget: Budget = field(default_factory=Budget)

    def __post_init__(self) -> None:
        check_field(len(self.widths) > 0, "widths", "must not be empty", list(self.widths))


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(text)
    return path


def test_partial_yaml_is_typed_and_fills_defaults(tmp_path: Path) -> None:
    cfg = load_yaml_config(SearchConfig, _yaml(tmp_path, "widths: [1, 0.75]\nbudget:\n  minutes: 1e-1\n"))
    assert isinstance(cfg, SearchConfig)
    assert cfg.widths == (1.0, 0.75) and isinstance(cfg.widths[0], float)
    assert cfg.budget == Budget(minutes=0.1)  # YAML 1.1 reads 1e-1 as a string; the field makes it a float
    assert cfg.arch == "litepose-xs" and cfg.metric == "AP"
    assert load_yaml_config(SearchConfig) == SearchConfig()


@pytest.mark.parametrize(("text", "needle"), [
    ("budget:\n  minute: 3\n", "unknown key 'budget.minute'; did you mean 'budget.minutes'?"),
    ("budget:\n  minutes: soon\n", "budget.minutes: expected a number, got 'soon'"),
    ("metric: AR\n", "metric: expected one of 'AP', 'AP50'"),
    ("widths: []\n", "widths must not be empty"),
    ("- 1\n", "must be a mapping of sections"),
])
def test_errors_name_the_file_and_the_field(tmp_path: Path, text: str, needle: str) -> None:
    path = _yaml(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_yaml_config(SearchConfig, path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_read_yaml_names_the_file_on_every_failure(tmp_path: Path) -> None:
    assert read_yaml(_yaml(tmp_path, "a: [1, 2]\n")) == {"a": [1, 2]}
    bad = _yaml(tmp_path, "a: [1, 2\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(bad))}: not valid YAML \(.*\)$"):
        read_yaml(bad)
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        read_yaml(tmp_path / "nope.yaml")


def test_overrides_are_typed_by_the_field_they_set() -> None:
    cfg = apply_overrides(SearchConfig(), ["arch=123", "widths=[0.25]", "budget.max_trials=7", "metric=AP50"])
    assert isinstance(cfg, SearchConfig)
    assert cfg.arch == "123"  # a str field keeps the text verbatim
    assert cfg.widths == (0.25,) and cfg.budget.max_trials == 7 and cfg.metric == "AP50"
    assert apply_overrides(cfg, ["budget.max_trials=null"]).budget.max_trials is None
    with pytest.raises(ConfigError, match=r"--set 'budget=1'.*is a section"):
        apply_overrides(cfg, ["budget=1"])
    with pytest.raises(ConfigError, match=r"did you mean 'budget\.minutes'"):
        apply_overrides(cfg, ["budget.minuts=2"])


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    cfg = apply_overrides(SearchConfig(), ["widths=[0.5]", "budget.minutes=2.5"])
    path = save_config(cfg, tmp_path / "out" / "search.yaml")
    assert load_yaml_config(SearchConfig, path) == cfg
    assert config_to_dict(cfg)["widths"] == [0.5]
    assert dataclass_from_dict(SearchConfig, config_to_dict(cfg)) == cfg

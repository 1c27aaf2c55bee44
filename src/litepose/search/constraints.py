"""Hardware costs of sub-networks and the budget a search must respect.

* :func:`parse_budget` reads a budget such as ``1.2G`` or ``850M`` (MACs), ``1.7M`` (params) or
  ``10ms`` (latency). Fixed here (reference §3, §8.7): the official search parsed the number out of
  ptflops' string, so anything below 1 GMAC came back as "850 MMac", was read as 850 GMACs and was
  rejected; a budget here is a plain number of MACs whatever its unit.
* :class:`CostModel` gives every cost of an :class:`~litepose.models.spec.ArchSpec`: paper-convention
  MACs, true MACs, params (all by :func:`~litepose.models.profile.profile_model`) and, when a latency
  source is given, milliseconds. Results are cached by architecture (the name does not count). MACs
  are profiled once per width setting at a 32-pixel input and scaled by ``(input/32)²``: every feature
  map of a LitePose is exactly ``input / stride`` wide, so this is exact (a test checks it) and costs
  ~30 ms instead of up to 1 s at 512 pixels.
* Latency comes from an injected ``Callable[[ArchSpec], float]`` or a ``LatencyModel``
  (``predict_ms(spec, num_keypoints)``): measurement belongs to :mod:`litepose.export`, which this
  module does not import.
* :func:`check_budget_range` refuses a budget outside the space: below the smallest sub-network's cost
  nothing fits; at or above the largest's the constraint would constrain nothing. Both are errors
  (one line naming the option): a search that silently ignores its budget would return the largest
  network, which is never what a budgeted search was asked for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec
from litepose.search.config import CostKind

__all__ = [
    "COST_KINDS",
    "Budget",
    "Constraint",
    "CostModel",
    "Costs",
    "LatencyModel",
    "check_budget_range",
    "cost_axis",
    "format_cost",
    "parse_budget",
]

COST_KINDS: tuple[CostKind, ...] = ("macs_paper", "macs", "params", "latency")

#: How each kind is named in messages, tables and plots.
_KIND_NAMES: dict[str, str] = {"macs_paper": "MACs (paper convention)", "macs": "MACs (true)",
                               "params": "params", "latency": "latency"}
_PREFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_LATENCY_UNITS = {"": 1.0, "ms": 1.0, "s": 1e3, "us": 1e-3, "µs": 1e-3}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_MACS_UNIT = re.compile(r"^([kmgt]?)(?:macs?)?$")
_PARAMS_UNIT = re.compile(r"^([kmg]?)(?:params?|parameters)?$")
_PROFILE_SIZE = 32  # profile MACs at this input side and scale by (input / 32)²


# --------------------------------------------------------------------------------------------------
# Budgets
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """A limit on one cost: ``value`` MACs, params or milliseconds; ``text`` is what the user wrote."""

    kind: CostKind
    value: float
    text: str = ""

    def __str__(self) -> str:
        return format_cost(self.value, self.kind)


def parse_budget(text: str | float, kind: CostKind, *, option: str = "constraint.budget") -> Budget:
    """Read a budget of ``kind`` from ``text``; a wrong unit or an unreadable value is one line naming ``option``.

    MACs (``macs_paper``, ``macs``): ``1.2G``, ``850M``, ``850 MMac``, ``1.2e9`` (a bare number is a count).
    Params: ``1.7M``, ``1700k``, ``1.7M params``. Latency: ``10ms``, ``10`` (milliseconds), ``0.01s``, ``500us``.
    """
    raw = str(text)
    where = f"{option} {raw!r}"
    match = _NUMBER.match(raw)
    examples = {"macs_paper": "1.2G or 850M", "macs": "0.9G or 850M", "params": "1.7M or 900k",
                "latency": "10ms or 0.01s"}[kind]
    if match is None:
        raise ValueError(f"{where}: not a budget; expected a number with an optional unit, e.g. {examples}")
    number, unit = float(match.group(1)), match.group(2).replace(" ", "").lower()
    scale: float | None
    if kind == "latency":
        scale = _LATENCY_UNITS.get(unit)
    else:
        unit_match = (_PARAMS_UNIT if kind == "params" else _MACS_UNIT).match(unit)
        scale = _PREFIX[unit_match.group(1)] if unit_match else None
    if scale is None:
        looks = _looks_like(unit)
        hint = f" ({match.group(2)!r} is a {looks} unit, but the constraint is {_KIND_NAMES[kind]})" if looks else ""
        raise ValueError(f"{where}: unknown unit {match.group(2)!r}{hint}; expected e.g. {examples}")
    value = number * scale
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: a budget must be a positive number, e.g. {examples}")
    return Budget(kind, value, raw)


def _looks_like(unit: str) -> str | None:
    """The kind of budget ``unit`` suggests (for a hint when it does not fit the constraint)."""
    if unit in _LATENCY_UNITS and unit:
        return "latency"
    if re.fullmatch(r"[kmgt]?macs?", unit):
        return "MAC"
    if re.fullmatch(r"[kmg]?(params?|parameters)", unit):
        return "parameter"
    return None


def format_cost(value: float, kind: CostKind) -> str:
    """``1.202G MACs (paper convention)``, ``850.3M MACs (true)``, ``1.676M params``, ``10.31 ms``."""
    if kind == "latency":
        return f"{value:.4g} ms"
    prefix, scale = ("G", 1e9) if value >= 1e9 else ("M", 1e6) if value >= 1e6 else ("k", 1e3)
    return f"{value / scale:.4g}{prefix} {_KIND_NAMES[kind]}"


def cost_axis(kind: CostKind) -> tuple[float, str]:
    """Divisor and axis label for plotting a cost: GMACs, M params or ms."""
    return {"macs_paper": (1e9, "GMACs (paper convention)"), "macs": (1e9, "GMACs (true)"),
            "params": (1e6, "params (M)"), "latency": (1.0, "latency (ms)")}[kind]


# --------------------------------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------------------------------
@runtime_checkable
class LatencyModel(Protocol):
    """Anything that predicts a sub-network's latency (a measured table, a timing harness)."""

    def predict_ms(self, spec: ArchSpec, num_keypoints: int) -> float: ...


LatencyFn = Callable[[ArchSpec], float]


@dataclass(frozen=True)
class Costs:
    """Every cost of one sub-network at its input size; ``latency_ms`` is ``None`` without a latency source."""

    macs_paper: int
    macs: int
    params: int
    latency_ms: float | None = None

    def get(self, kind: CostKind) -> float:
        """The cost of ``kind`` (latency without a source is an error)."""
        if kind == "latency":
            if self.latency_ms is None:
                raise ValueError("no latency source was given, so latency is unknown")
            return self.latency_ms
        return float(getattr(self, kind))

    def to_dict(self) -> dict[str, Any]:
        return {"macs_paper": self.macs_paper, "macs": self.macs, "params": self.params,
                "latency_ms": self.latency_ms}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Costs:
        latency = raw.get("latency_ms")
        return cls(int(raw["macs_paper"]), int(raw["macs"]), int(raw["params"]),
                   None if latency is None else float(latency))


@dataclass
class CostModel:
    """Costs of sub-networks, each computed once per architecture (the name does not count).

    Args:
        num_keypoints: joints of the sub-networks (the final convs' widths).
        latency: milliseconds of a sub-network at its input size, as a callable or a
            :class:`LatencyModel`; ``None``: latency unknown (the ``latency`` kind is then unavailable).
    """

    num_keypoints: int = 14
    latency: LatencyFn | LatencyModel | None = None
    _complexity: dict[ArchSpec, tuple[int, int, int]] = field(default_factory=dict, init=False, repr=False)
    _costs: dict[ArchSpec, Costs] = field(default_factory=dict, init=False, repr=False)

    @property
    def has_latency(self) -> bool:
        return self.latency is not None

    def costs(self, spec: ArchSpec) -> Costs:
        """Every cost of ``spec`` (cached)."""
        known = self._costs.get(spec)
        if known is None:
            macs_paper, macs, params = self._profile(spec)
            known = Costs(macs_paper, macs, params, self._latency(spec))
            self._costs[spec] = known
        return known

    def cost(self, spec: ArchSpec, kind: CostKind) -> float:
        """One cost of ``spec`` (cached)."""
        if kind == "latency" and self.latency is None:
            raise ValueError("constraint.kind is latency but no latency source was given")
        return self.costs(spec).get(kind)

    def _profile(self, spec: ArchSpec) -> tuple[int, int, int]:
        from litepose.export.runners import pinned_torch_threads
        from litepose.models.litepose import LitePose
        from litepose.models.profile import profile_model

        small = spec.with_input_size(_PROFILE_SIZE)
        counts = self._complexity.get(small)
        if counts is None:
            # One thread: on 32-pixel maps more threads only contend (5-10x slower on a loaded 2-core host).
            with pinned_torch_threads(1):
                c = profile_model(LitePose(small, self.num_keypoints), _PROFILE_SIZE)
            counts = (c.macs_paper, c.macs, c.params)
            self._complexity[small] = counts
        scale = (spec.input_size // _PROFILE_SIZE) ** 2
        return counts[0] * scale, counts[1] * scale, counts[2]

    def _latency(self, spec: ArchSpec) -> float | None:
        if self.latency is None:
            return None
        if isinstance(self.latency, LatencyModel):
            return float(self.latency.predict_ms(spec, self.num_keypoints))
        return float(self.latency(spec))

    # -- the cache, for the search state ---------------------------------------------------------
    def measured(self) -> list[tuple[ArchSpec, Costs]]:
        """Every architecture whose latency was measured (or predicted), in the order it was first costed.

        Only these need saving with a search: MACs and params are recomputed exactly, a measured latency
        is not reproducible."""
        return [(spec, costs) for spec, costs in self._costs.items() if costs.latency_ms is not None]

    def preload(self, items: Iterable[tuple[ArchSpec, Costs]]) -> None:
        """Restore costs computed earlier (a resumed search reuses its measured latencies, so that it
        takes the same decisions as the run it continues)."""
        for spec, costs in items:
            self._costs.setdefault(spec, costs)


@dataclass(frozen=True)
class Constraint:
    """A :class:`Budget` over a :class:`CostModel`: ``fits(spec)`` iff its cost is at most the budget."""

    budget: Budget
    costs: CostModel

    @property
    def kind(self) -> CostKind:
        return self.budget.kind

    def cost(self, spec: ArchSpec) -> float:
        return self.costs.cost(spec, self.budget.kind)

    def fits(self, spec: ArchSpec) -> bool:
        return self.cost(spec) <= self.budget.value


def check_budget_range(constraint: Constraint, space: SearchSpace, *, option: str = "constraint.budget"
                       ) -> tuple[float, float]:
    """Refuse a budget outside ``(cost of the smallest sub-network, cost of the largest)``; return both costs.

    Raises:
        ValueError: one line naming ``option``: below the smallest sub-network nothing fits; at or above
            the largest every sub-network fits and the constraint would do nothing.
    """
    budget, kind = constraint.budget, constraint.kind
    where = f"{option} {budget.text or str(budget)!r}"
    smallest, largest = space.min_arch(), space.max_arch()
    low, high = constraint.cost(smallest), constraint.cost(largest)
    if budget.value < low:
        raise ValueError(f"{where}: below the smallest sub-network of the {space.name} "
                         f"space ({smallest.name}: {format_cost(low, kind)}); nothing fits, raise the budget")
    if budget.value >= high:
        raise ValueError(f"{where}: the largest sub-network of the {space.name} space "
                         f"({largest.name}: {format_cost(high, kind)}) already fits, so the constraint would "
                         f"constrain nothing; give a budget below {format_cost(high, kind)}")
    return low, high

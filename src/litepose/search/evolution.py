"""Evolutionary architecture search under a hardware budget (the official ``EvolutionFinder``, fixed).

The algorithm (reference §3): the initial population is rejection-sampled under the constraint; then
every generation keeps the ``parent_ratio`` best of the population by accuracy as parents, makes
``mutation_ratio · population`` children by mutating a random parent and the rest of ``population``
children by crossing two random parents (each child resampled until it meets the constraint),
evaluates the children, and the next population is the parents plus the children.

Fixed here: the official code took the best only from the parents at the start of each generation,
so the last generation's children were never considered. The best here is the most accurate of
*every evaluated candidate*, found whenever it was evaluated.

Beyond the official code:

* Candidates are cached by architecture (names do not count): the evaluator sees each distinct
  architecture once in the whole search, and a generation evaluates only its new children.
* :class:`SearchState` holds everything the search needs to continue (population, generation, the
  random generator's state, the evaluated candidates with their costs, the cost cache); it is handed to
  ``on_generation`` after every generation, and :meth:`EvolutionSearch.run` continues from it to the
  same result as an uninterrupted run.
* An optional accuracy predictor (:mod:`litepose.search.predictor`) pre-screens children.

The evaluator is injected (``Callable[[Sequence[ArchSpec]], list[float]]``): the supernet evaluator
(BN recalibration + AP), the proxy of :mod:`litepose.search.proxy`, or a
:class:`~litepose.search.sharding.ShardedEvaluator` that splits each batch across torchrun processes.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from litepose.models.space import SearchSpace, arch_label
from litepose.models.spec import ArchSpec
from litepose.search.config import EvolutionConfig, PredictorConfig
from litepose.search.constraints import Constraint, Costs, format_cost
from litepose.search.predictor import AccuracyPredictor, PredictorFit
from litepose.search.sharding import Evaluator

__all__ = ["Candidate", "EvolutionSearch", "GenerationReport", "SearchError", "SearchResult", "SearchState",
           "arch_from_label"]

T = TypeVar("T")
STATE_VERSION = 1


class SearchError(RuntimeError):
    """The search cannot go on (e.g. no proposal meets the budget within ``max_tries``)."""


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture: its accuracy, its costs, and the generation that first evaluated it
    (0 = the initial population)."""

    arch: ArchSpec
    accuracy: float
    costs: Costs
    generation: int

    def to_dict(self) -> dict[str, Any]:
        return {"arch": arch_label(self.arch), "accuracy": self.accuracy, "generation": self.generation,
                "costs": self.costs.to_dict()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], space: SearchSpace, *, source: str = "candidate") -> Candidate:
        return cls(arch_from_label(raw["arch"], space, source=source), float(raw["accuracy"]),
                   Costs.from_dict(raw["costs"]), int(raw["generation"]))


@dataclass
class SearchState:
    """Everything a search needs to continue after ``generation`` (0: the initial population is evaluated).

    Attributes:
        generation: the last completed generation.
        population: the current population (duplicates allowed, as in the official code).
        rng_state: the numpy ``bit_generator.state`` after that generation's proposals.
        candidates: every evaluated architecture, in evaluation order.
        costs: every latency measured so far (rejected proposals included), so that a resumed search does
            not measure again and takes the same decisions (MACs and params are recomputed exactly).
        predictor_log: one entry per generation in which the predictor was fitted.
    """

    generation: int
    population: list[ArchSpec]
    rng_state: dict[str, Any]
    candidates: dict[ArchSpec, Candidate] = field(default_factory=dict)
    costs: list[tuple[ArchSpec, Costs]] = field(default_factory=list)
    predictor_log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best(self) -> Candidate:
        """The most accurate evaluated candidate (the first evaluated among equals)."""
        if not self.candidates:
            raise SearchError("no candidate has been evaluated yet")
        return max(self.candidates.values(), key=lambda c: c.accuracy)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; architectures are written as their labels (``r384-c24-32.64.96.160-d64.48.32``)."""
        return {
            "version": STATE_VERSION,
            "generation": self.generation,
            "best": self.best.to_dict() if self.candidates else None,
            "population": [arch_label(a) for a in self.population],
            "rng_state": self.rng_state,
            "candidates": [c.to_dict() for c in self.candidates.values()],
            "costs": [{"arch": arch_label(a), **c.to_dict()} for a, c in self.costs],
            "predictor_log": self.predictor_log,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], space: SearchSpace, *, source: str = "search state") -> SearchState:
        """Read :meth:`to_dict`'s output back; architectures must lie in ``space``."""
        try:
            if raw.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported version {raw.get('version')!r} (expected {STATE_VERSION})")
            candidates = [Candidate.from_dict(c, space, source=f"{source}: candidates[{i}]")
                          for i, c in enumerate(raw["candidates"])]
            return cls(
                generation=int(raw["generation"]),
                population=[arch_from_label(a, space, source=f"{source}: population[{i}]")
                            for i, a in enumerate(raw["population"])],
                rng_state=dict(raw["rng_state"]),
                candidates={c.arch: c for c in candidates},
                costs=[(arch_from_label(c["arch"], space, source=f"{source}: costs[{i}]"), Costs.from_dict(c))
                       for i, c in enumerate(raw["costs"])],
                predictor_log=list(raw.get("predictor_log", [])),
            )
        except KeyError as err:
            raise ValueError(f"{source}: missing field {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None


_LABEL = re.compile(r"^r(\d+)-c(\d+)-(\d+)\.(\d+)\.(\d+)\.(\d+)-d(\d+)\.(\d+)\.(\d+)$")


def arch_from_label(label: str, space: SearchSpace, *, source: str = "arch") -> ArchSpec:
    """The sub-network of ``space`` that :func:`~litepose.models.space.arch_label` names ``label``."""
    match = _LABEL.match(str(label))
    if match is None:
        raise ValueError(f"{source}: {label!r} is not an architecture label like r384-c24-32.64.96.160-d64.48.32")
    res, stem, *widths = (int(g) for g in match.groups())
    stages = tuple(replace(st, channels=c) for st, c in zip(space.maximum.stages, widths[:4], strict=True))
    spec = replace(space.maximum, input_size=res, stem_channels=stem, stages=stages,
                   deconv_channels=tuple(widths[4:]))  # type: ignore[arg-type]
    space.check(spec, source=f"{source} {label}")
    return replace(spec, name=arch_label(spec))


@dataclass(frozen=True)
class GenerationReport:
    """What one generation did (handed to ``on_generation`` with the state)."""

    generation: int
    proposed: int
    evaluated: int
    best: Candidate
    population_best: float
    predictor: PredictorFit | None = None


@dataclass(frozen=True)
class SearchResult:
    """The outcome: the best candidate over every evaluation, and all evaluated candidates."""

    best: Candidate
    candidates: list[Candidate]
    state: SearchState


class EvolutionSearch:
    """The evolutionary search of reference §3 with the best taken over every evaluated candidate.

    Args:
        space: the search space (sampling, mutation, crossover).
        config: population, generations, mutation probability, parent and mutation ratios, seed, tries.
        constraint: the budget every proposal must meet (rejection sampling).
        evaluate: a batch of architectures -> one accuracy each (higher is better). It must be
            deterministic per architecture: the same architecture gets the same accuracy whichever
            other architectures share its batch (required for resuming to the same result, and for
            splitting batches across processes).
        predictor: accuracy-predictor options; ``None`` or disabled: no pre-screening.
        agree: makes a value identical on every process (torchrun: rank 0's value broadcast); applied
            to the predictor's choice of children, the one decision that rests on floating-point
            training. Identity by default.
        on_generation: called after every generation (0 included) with its report and the state to
            save; an exception raised there stops the search.
        progress: draw a tqdm bar with the best accuracy so far.
        metric: what the evaluator measures, for messages (``AP``; the proxy says it is not AP).
    """

    def __init__(self, space: SearchSpace, config: EvolutionConfig, constraint: Constraint, evaluate: Evaluator,
                 *, predictor: PredictorConfig | None = None, agree: Callable[[T], T] | None = None,
                 on_generation: Callable[[GenerationReport, SearchState], None] | None = None,
                 progress: bool = False, metric: str = "AP") -> None:
        self.space = space
        self.config = config
        self.constraint = constraint
        self.evaluate = evaluate
        self.predictor_config = predictor if predictor is not None and predictor.enabled else None
        self.agree: Callable[[Any], Any] = agree if agree is not None else (lambda value: value)
        self.on_generation = on_generation
        self.progress = progress
        self.metric = metric

    # -- the loop ----------------------------------------------------------------------------------
    def run(self, state: SearchState | None = None) -> SearchResult:
        """Search from scratch, or continue from ``state`` (a saved :class:`SearchState`)."""
        from tqdm.auto import tqdm

        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        bar = tqdm(total=cfg.generations + 1, desc="search", unit="gen", disable=not self.progress,
                   file=sys.stderr, dynamic_ncols=True)
        try:
            if state is None:
                bar.set_postfix_str(f"sampling the initial population under {self.constraint.budget}")
                state = SearchState(-1, [], {})
                population = [self._propose(lambda: self.space.sample(rng), "initial population")
                              for _ in range(cfg.population)]
                report = self._advance(state, rng, population, population, generation=0)
                self._finish(report, state, bar)
            else:
                rng.bit_generator.state = state.rng_state
                self.constraint.costs.preload(state.costs)
                bar.update(state.generation + 1)
                if state.candidates:
                    bar.set_postfix_str(self._postfix(state.best))
            for generation in range(state.generation + 1, cfg.generations + 1):
                parents = self._parents(state)
                children, fit = self._children(parents, rng, state, generation)
                report = self._advance(state, rng, parents + children, children, generation, fit)
                self._finish(report, state, bar)
        finally:
            bar.close()
        return SearchResult(state.best, list(state.candidates.values()), state)

    def _advance(self, state: SearchState, rng: np.random.Generator, population: list[ArchSpec],
                 children: list[ArchSpec], generation: int, fit: PredictorFit | None = None) -> GenerationReport:
        """Evaluate the new ``children`` and make ``population`` the state of ``generation``."""
        new = self._evaluate(children, generation, state)
        state.generation = generation
        state.population = population
        state.rng_state = rng.bit_generator.state
        state.costs = self.constraint.costs.measured()
        if fit is not None:
            state.predictor_log.append({"generation": generation, "tau": fit.tau, "p_value": fit.p_value,
                                        "n_train": fit.n_train, "n_holdout": fit.n_holdout})
        return GenerationReport(generation, len(children), new, state.best,
                                max(state.candidates[a].accuracy for a in population), fit)

    def _finish(self, report: GenerationReport, state: SearchState, bar: Any) -> None:
        bar.update(1)
        bar.set_postfix_str(self._postfix(report.best))
        if report.predictor is not None:
            bar.write(f"generation {report.generation}: predictor Kendall tau {report.predictor.tau:.3f} on "
                      f"{report.predictor.n_holdout} held-out candidates")
        if self.on_generation is not None:
            self.on_generation(report, state)

    def _postfix(self, best: Candidate) -> str:
        cost = format_cost(self.constraint.cost(best.arch), self.constraint.kind)
        return f"best {self.metric} {best.accuracy:.4f} at {cost}"

    # -- evolution steps ---------------------------------------------------------------------------
    def _parents(self, state: SearchState) -> list[ArchSpec]:
        """The ``num_parents`` most accurate members of the population (stable among equals)."""
        ranked = sorted(state.population, key=lambda a: -state.candidates[a].accuracy)
        return ranked[:self.config.num_parents]

    def _children(self, parents: list[ArchSpec], rng: np.random.Generator, state: SearchState,
                  generation: int) -> tuple[list[ArchSpec], PredictorFit | None]:
        cfg = self.config
        predictor, fit = self._fit_predictor(state, generation)
        factor = self.predictor_config.oversample if predictor is not None else 1  # type: ignore[union-attr]
        mutants = [self._propose(lambda: self._mutant(parents, rng), "mutation")
                   for _ in range(cfg.num_mutations * factor)]
        crossed = [self._propose(lambda: self._crossover(parents, rng), "crossover")
                   for _ in range(cfg.num_crossovers * factor)]
        if predictor is not None:
            mutants = self._screen(predictor, mutants, cfg.num_mutations)
            crossed = self._screen(predictor, crossed, cfg.num_crossovers)
        return mutants + crossed, fit

    def _mutant(self, parents: list[ArchSpec], rng: np.random.Generator) -> ArchSpec:
        parent = parents[int(rng.integers(len(parents)))]
        return self.space.mutate(parent, rng, self.config.mutate_prob)

    def _crossover(self, parents: list[ArchSpec], rng: np.random.Generator) -> ArchSpec:
        # Two parents drawn independently, as the official finder does (they may be the same one).
        first = parents[int(rng.integers(len(parents)))]
        second = parents[int(rng.integers(len(parents)))]
        return self.space.crossover(first, second, rng)

    def _propose(self, make: Callable[[], ArchSpec], what: str) -> ArchSpec:
        """``make()`` until it meets the constraint (rejection sampling), at most ``max_tries`` times."""
        for _ in range(self.config.max_tries):
            spec = make()
            if self.constraint.fits(spec):
                return spec
        raise SearchError(f"no {what} met the budget {self.constraint.budget} in {self.config.max_tries} tries "
                          "(evolution.max_tries); the budget leaves too few sub-networks of the space: raise it "
                          "or raise evolution.max_tries")

    def _evaluate(self, archs: Sequence[ArchSpec], generation: int, state: SearchState) -> int:
        """Evaluate the architectures of ``archs`` not evaluated before (each once); return how many."""
        new: list[ArchSpec] = []
        for arch in archs:
            if arch not in state.candidates and arch not in new:
                new.append(arch)
        if not new:
            return 0
        accuracies = self.evaluate(new)
        if len(accuracies) != len(new):
            raise SearchError(f"the evaluator returned {len(accuracies)} accuracies for {len(new)} architectures")
        for arch, accuracy in zip(new, accuracies, strict=True):
            value = float(accuracy)
            if not math.isfinite(value):
                raise SearchError(f"the evaluator returned {accuracy!r} for {arch.name}")
            state.candidates[arch] = Candidate(arch, value, self.constraint.costs.costs(arch), generation)
        return len(new)

    # -- the accuracy predictor ---------------------------------------------------------------------
    def _fit_predictor(self, state: SearchState, generation: int
                       ) -> tuple[AccuracyPredictor | None, PredictorFit | None]:
        options = self.predictor_config
        if options is None or len(state.candidates) < options.min_samples:
            return None, None
        predictor = AccuracyPredictor(self.space, options, seed=self.config.seed * 1000 + generation)
        seen = list(state.candidates.values())
        fit = predictor.fit([c.arch for c in seen], [c.accuracy for c in seen])
        return predictor, fit

    def _screen(self, predictor: AccuracyPredictor, proposals: list[ArchSpec], keep: int) -> list[ArchSpec]:
        """The ``keep`` proposals predicted best, in proposal order (rank 0's choice on every process)."""
        if len(proposals) <= keep:
            return proposals
        scores = predictor.predict(proposals)
        chosen = sorted(int(i) for i in np.argsort(-scores, kind="stable")[:keep])
        chosen = self.agree(chosen)
        return [proposals[i] for i in chosen]

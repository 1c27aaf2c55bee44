"""A synthetic fitness for dry runs of the search (``--evaluator proxy``): **not AP**.

:func:`proxy_fitness` is a deterministic, instant function of an architecture that behaves like
accuracy in the ways a search cares about: it grows with the input resolution and every width, with
diminishing returns, and the genes differ in value per MAC (resolution and the deep stages count
most, the head's deconvs least), so that a budgeted search has something to find. It needs no
supernet and no data: use it to check that a budget is sensible for a space, to try the outputs, or to
test a ``torchrun`` set-up before spending GPU hours. Numbers from it are labelled "proxy fitness".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from litepose.models.space import SearchSpace
from litepose.models.spec import ArchSpec

__all__ = ["PROXY_METRIC", "ProxyEvaluator", "proxy_fitness"]

#: How proxy numbers are labelled in logs, plots and the search state.
PROXY_METRIC = "proxy fitness (not AP)"

# Weight of each gene: resolution, C0, C1..C4, F0..F2 (they sum to 1).
_WEIGHTS = (0.30, 0.06, 0.08, 0.12, 0.16, 0.16, 0.04, 0.04, 0.04)


def proxy_fitness(spec: ArchSpec, space: SearchSpace) -> float:
    """A number in (0, 0.75]: ``0.75 · sqrt(Σ wᵢ · fᵢ)`` over each gene's fraction ``fᵢ`` of its maximum."""
    top = space.max_arch()
    fractions = (spec.input_size / top.input_size, spec.stem_channels / top.stem_channels,
                 *(s.channels / t.channels for s, t in zip(spec.stages, top.stages, strict=True)),
                 *(c / t for c, t in zip(spec.deconv_channels, top.deconv_channels, strict=True)))
    return 0.75 * sum(w * f for w, f in zip(_WEIGHTS, fractions, strict=True)) ** 0.5


@dataclass(frozen=True)
class ProxyEvaluator:
    """The evaluator interface (a batch of archs -> one number each) over :func:`proxy_fitness`."""

    space: SearchSpace
    metric: str = PROXY_METRIC

    def __call__(self, archs: Sequence[ArchSpec]) -> list[float]:
        return [proxy_fitness(a, self.space) for a in archs]

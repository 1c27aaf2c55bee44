"""The architecture search space of the once-for-all supernet (reference §2, paper §4 and §5.2).

A point of the space is an :class:`ArchSpec` whose widths are leading slices of the supernet's maximum
network: the input resolution, the stem width C0, the four stage widths C1..C4 and the three deconv
widths F0..F2 each take one of a few values; depth (6/8/10/10 blocks), expansion (6) and kernel (7)
are fixed. A width is drawn as a multiplier of the maximum width, rounded by ``make_divisible(·, 8)``
(the official ``ArchManager``): with multipliers {1, .75, .5, .25}, C0 = 24 gives {24, 24, 16, 8},
so a width may be reached by two multipliers and is then twice as likely.

Fixed here (reference §8.5): the official sampler draws 4/6/8/8 blocks while the supernet, every
released config and every search result use 6/8/10/10, so the last two blocks of each stage never
trained; this space samples the full depths.

Two presets: ``official`` (the code's space, which the paper uses for XS: resolutions 256–512 step 64,
multipliers {1, .75, .5, .25}) and ``paper-lms`` (the paper's L/M/S space: {512, 448} × {1, .75, .5}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from litepose.models.spec import ArchSpec, BlockSpec, StageSpec, make_divisible

__all__ = ["SEARCH_SPACES", "SUPERNET_ARCH", "ArchGenes", "SearchSpace", "arch_label", "get_search_space"]

#: The official supernet's maximum network (reference §2): C0 24; stages (c, n, s) = (32, 6, 2),
#: (64, 8, 2), (96, 10, 2), (160, 10, 1); kernel 7, expansion 6; deconvs 64/48/32 (the yaml
#: ``NUM_DECONV_FILTERS``); its default input is the largest resolution of the space.
SUPERNET_ARCH = ArchSpec(
    stem_channels=24,
    stages=tuple(StageSpec(c, s, tuple(BlockSpec(6, 7) for _ in range(n)))
                 for c, n, s in ((32, 6, 2), (64, 8, 2), (96, 10, 2), (160, 10, 1))),
    deconv_channels=(64, 48, 32),
    input_size=512,
    name="supernet",
)


@dataclass(frozen=True)
class ArchGenes:
    """A point of a :class:`SearchSpace` as indices into its choices (what evolution mutates).

    ``resolution`` indexes ``space.resolutions``; the widths index ``space.width_multipliers``: the
    stem, the four stages, the three deconvs.
    """

    resolution: int
    stem: int
    stages: tuple[int, int, int, int]
    deconvs: tuple[int, int, int]


@dataclass(frozen=True)
class SearchSpace:
    """Resolutions and width multipliers around a maximum architecture.

    Args:
        name: a label (``official``, ``paper-lms``, or your own).
        resolutions: input sides a sub-network may use (multiples of 32).
        width_multipliers: fractions of each maximum width (stem, every stage, every deconv), rounded
            by ``make_divisible(·, 8)``.
        maximum: the largest network (the supernet's); every sub-network's widths are leading slices
            of its widths.
    """

    name: str
    resolutions: tuple[int, ...]
    width_multipliers: tuple[float, ...]
    maximum: ArchSpec = field(default=SUPERNET_ARCH)

    def __post_init__(self) -> None:
        if not self.resolutions or any(r <= 0 or r % 32 for r in self.resolutions):
            raise ValueError(f"search space {self.name}: resolutions must be positive multiples of 32, "
                             f"got {list(self.resolutions)}")
        if not self.width_multipliers or any(not 0 < m <= 1 for m in self.width_multipliers):
            raise ValueError(f"search space {self.name}: width multipliers must lie in (0, 1], "
                             f"got {list(self.width_multipliers)}")

    # -- the choices --------------------------------------------------------------------------------
    def _widths(self, maximum: int) -> tuple[int, ...]:
        return tuple(make_divisible(maximum * m) for m in self.width_multipliers)

    @property
    def stem_choices(self) -> tuple[int, ...]:
        """C0 per multiplier (may repeat a value, as the official rounding does)."""
        return self._widths(self.maximum.stem_channels)

    @property
    def stage_choices(self) -> tuple[tuple[int, ...], ...]:
        """C1..C4 per multiplier."""
        return tuple(self._widths(s.channels) for s in self.maximum.stages)

    @property
    def deconv_choices(self) -> tuple[tuple[int, ...], ...]:
        """F0..F2 per multiplier."""
        return tuple(self._widths(c) for c in self.maximum.deconv_channels)

    @property
    def size(self) -> int:
        """Number of distinct architectures (distinct widths, not multiplier draws)."""
        n = len(set(self.resolutions)) * len(set(self.stem_choices))
        for choices in (*self.stage_choices, *self.deconv_choices):
            n *= len(set(choices))
        return n

    # -- genes <-> architectures --------------------------------------------------------------------
    def decode(self, genes: ArchGenes) -> ArchSpec:
        """The architecture of ``genes`` (named by its widths, e.g. ``sub-384-c16-...``)."""
        m = self.maximum
        stages = tuple(replace(st, channels=self.stage_choices[i][g]) for i, (st, g) in enumerate(zip(
            m.stages, genes.stages, strict=True)))
        deconvs = tuple(self.deconv_choices[i][g] for i, g in enumerate(genes.deconvs))
        spec = replace(m, stem_channels=self.stem_choices[genes.stem], stages=stages,
                       deconv_channels=deconvs, input_size=self.resolutions[genes.resolution])  # type: ignore[arg-type]
        return replace(spec, name=arch_label(spec))

    def encode(self, spec: ArchSpec, *, source: str = "arch") -> ArchGenes:
        """The genes of ``spec``; an architecture outside the space is an error naming the field."""
        self.check(spec, source=source)
        return ArchGenes(
            self.resolutions.index(spec.input_size),
            self.stem_choices.index(spec.stem_channels),
            tuple(self.stage_choices[i].index(s.channels) for i, s in enumerate(spec.stages)),  # type: ignore[arg-type]
            tuple(self.deconv_choices[i].index(c) for i, c in enumerate(spec.deconv_channels)),  # type: ignore[arg-type]
        )

    def check(self, spec: ArchSpec, *, source: str = "arch") -> None:
        """Raise ``ValueError`` naming the first field of ``spec`` that the space does not allow."""
        m = self.maximum
        where = f"{source}: not in the {self.name} search space"
        if spec.input_size not in self.resolutions:
            raise ValueError(f"{where}: img_size {spec.input_size} is not one of {sorted(set(self.resolutions))}")
        if spec.stem_channels not in self.stem_choices:
            raise ValueError(f"{where}: input_channel {spec.stem_channels} is not one of "
                             f"{sorted(set(self.stem_choices))}")
        for i, (st, top) in enumerate(zip(spec.stages, m.stages, strict=True)):
            field_ = f"backbone_setting[{i}]"
            if st.channels not in self.stage_choices[i]:
                raise ValueError(f"{where}: {field_}.channel {st.channels} is not one of "
                                 f"{sorted(set(self.stage_choices[i]))}")
            if st.depth != top.depth:
                raise ValueError(f"{where}: {field_}.num_blocks {st.depth} must be {top.depth}")
            if st.stride != top.stride:
                raise ValueError(f"{where}: {field_}.stride {st.stride} must be {top.stride}")
            if st.blocks != top.blocks:
                want = [top.blocks[0].expand_ratio, top.blocks[0].kernel_size]
                raise ValueError(f"{where}: {field_}.block_setting must be {[want] * top.depth}")
        for i, c in enumerate(spec.deconv_channels):
            if c not in self.deconv_choices[i]:
                raise ValueError(f"{where}: deconv_setting[{i}] {c} is not one of "
                                 f"{sorted(set(self.deconv_choices[i]))}")
        if not spec.fusion or spec.head_kernel != m.head_kernel:
            raise ValueError(f"{where}: the supernet has the fusion head with {m.head_kernel}x{m.head_kernel} "
                             "prediction kernels")

    def contains(self, spec: ArchSpec) -> bool:
        try:
            self.check(spec)
        except ValueError:
            return False
        return True

    # -- sampling and evolution ---------------------------------------------------------------------
    def sample_genes(self, rng: np.random.Generator) -> ArchGenes:
        """Every gene uniform over its choices (the official ``random_sample``, at full depth)."""
        nw = len(self.width_multipliers)
        return ArchGenes(int(rng.integers(len(self.resolutions))), int(rng.integers(nw)),
                         tuple(int(g) for g in rng.integers(nw, size=4)),  # type: ignore[arg-type]
                         tuple(int(g) for g in rng.integers(nw, size=3)))  # type: ignore[arg-type]

    def sample(self, rng: np.random.Generator) -> ArchSpec:
        """A random sub-network (resolution included as its ``input_size``)."""
        return self.decode(self.sample_genes(rng))

    def mutate(self, spec: ArchSpec, rng: np.random.Generator, prob: float) -> ArchSpec:
        """Resample each gene (resolution, C0, each stage width, each deconv width) with probability ``prob``."""
        genes = self.encode(spec)
        fresh = self.sample_genes(rng)

        def pick(old: int, new: int) -> int:
            return new if rng.random() < prob else old

        return self.decode(ArchGenes(
            pick(genes.resolution, fresh.resolution), pick(genes.stem, fresh.stem),
            tuple(pick(o, n) for o, n in zip(genes.stages, fresh.stages, strict=True)),  # type: ignore[arg-type]
            tuple(pick(o, n) for o, n in zip(genes.deconvs, fresh.deconvs, strict=True))))  # type: ignore[arg-type]

    def crossover(self, first: ArchSpec, second: ArchSpec, rng: np.random.Generator) -> ArchSpec:
        """Each stage and deconv width from either parent; resolution and C0 from ``first`` (official)."""
        a, b = self.encode(first), self.encode(second)
        return self.decode(ArchGenes(
            a.resolution, a.stem,
            tuple(x if rng.random() < 0.5 else y for x, y in zip(a.stages, b.stages, strict=True)),  # type: ignore[arg-type]
            tuple(x if rng.random() < 0.5 else y for x, y in zip(a.deconvs, b.deconvs, strict=True))))  # type: ignore[arg-type]

    def max_arch(self, resolution: int | None = None) -> ArchSpec:
        """The largest sub-network (at the largest resolution unless given)."""
        return self._extreme(max, resolution)

    def min_arch(self, resolution: int | None = None) -> ArchSpec:
        """The smallest sub-network (at the smallest resolution unless given)."""
        return self._extreme(min, resolution)

    def _extreme(self, pick: Any, resolution: int | None) -> ArchSpec:
        def arg(values: Sequence[int]) -> int:
            return values.index(pick(values))

        res = arg(self.resolutions) if resolution is None else self.resolutions.index(resolution)
        return self.decode(ArchGenes(res, arg(self.stem_choices), tuple(arg(c) for c in self.stage_choices),  # type: ignore[arg-type]
                                     tuple(arg(c) for c in self.deconv_choices)))  # type: ignore[arg-type]

    def uniform(self, multiplier: float, resolution: int) -> ArchSpec:
        """Every width at one multiplier (the official ``fixed_sample``), if the space has it."""
        if multiplier not in self.width_multipliers:
            raise ValueError(f"search space {self.name}: width multiplier {multiplier} is not one of "
                             f"{list(self.width_multipliers)}")
        if resolution not in self.resolutions:
            raise ValueError(f"search space {self.name}: resolution {resolution} is not one of "
                             f"{list(self.resolutions)}")
        g = self.width_multipliers.index(multiplier)
        return self.decode(ArchGenes(self.resolutions.index(resolution), g, (g, g, g, g), (g, g, g)))

    # -- serialisation --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "resolutions": list(self.resolutions),
                "width_multipliers": list(self.width_multipliers), "maximum": self.maximum.to_dict()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "search space") -> SearchSpace:
        try:
            maximum = ArchSpec.from_dict(raw["maximum"], source=f"{source}: maximum") if "maximum" in raw \
                else SUPERNET_ARCH
            return cls(str(raw["name"]), tuple(int(r) for r in raw["resolutions"]),
                       tuple(float(m) for m in raw["width_multipliers"]), maximum)
        except KeyError as err:
            raise ValueError(f"{source}: missing field {err.args[0]!r}") from None
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None


def arch_label(spec: ArchSpec) -> str:
    """A short name that spells out the widths: ``r384-c24-32.64.96.160-d64.48.32``."""
    stages = ".".join(str(s.channels) for s in spec.stages)
    deconvs = ".".join(str(c) for c in spec.deconv_channels)
    return f"r{spec.input_size}-c{spec.stem_channels}-{stages}-d{deconvs}"


SEARCH_SPACES: dict[str, SearchSpace] = {
    "official": SearchSpace("official", (256, 320, 384, 448, 512), (1.0, 0.75, 0.5, 0.25)),
    "paper-lms": SearchSpace("paper-lms", (512, 448), (1.0, 0.75, 0.5)),
}


def get_search_space(name: str) -> SearchSpace:
    """A preset by name (``official``, ``paper-lms``)."""
    if name not in SEARCH_SPACES:
        raise ValueError(f"unknown search space {name!r}; choose from {sorted(SEARCH_SPACES)}")
    return SEARCH_SPACES[name]

"""The layer configurations a LitePose is made of, as units a latency lookup table can time one by one.

A LitePose with the fusion head splits into pieces whose cost depends only on a few widths and the
side of their input:

========  ==================================================  ===============================  ==========
kind      what (modules of :class:`~litepose.models.LitePose`)  params                           input side
========  ==================================================  ===============================  ==========
stem      ``first`` (3×3 s2 conv, 3×3 depthwise, 1×1 to C0)   ``(C0,)``                        R
block     the first inverted bottleneck of a stage             ``(Cin, Cout, stride, t, k)``    its input
tail      the stage's following stride-1 blocks (one run of    ``(C, n, t, k)``                 R/4..R/16
          identical blocks; they share one entry and are timed
          together, so in-network cache behaviour is kept)
deconv    ``deconv_refined[i] + deconv_raw[i]``, BN, ReLU      ``(Cin, Craw, F)``               R/16..R/4
final     ``final_refined[i] + final_raw[i]`` (SepConv pairs)  ``(Cin, Craw, Cout, head k)``    R/4, R/2
========  ==================================================  ===============================  ==========

:func:`network_pieces` lists the pieces of one architecture (their latencies add up to the network's,
up to a constant the table calibrates); :func:`space_pieces` lists every distinct piece the
sub-networks of a :class:`~litepose.models.space.SearchSpace` can contain, each with a sub-network
that holds it, from which :func:`piece_module` takes the real modules to time (so a piece is exactly
what runs in the network, weights layout and all).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor, nn

from litepose.models.litepose import LitePose
from litepose.models.space import ArchGenes, SearchSpace
from litepose.models.spec import ArchSpec

__all__ = ["PIECE_KINDS", "Piece", "network_pieces", "piece_module", "space_pieces"]

PIECE_KINDS = ("stem", "block", "tail", "deconv", "final")


@dataclass(frozen=True)
class Piece:
    """One timed unit: ``kind`` (see the module docs), its ``params`` and its input ``resolution``.

    ``position`` says where it sits in a network (stage or head index, and for a tail its first
    block); equality ignores it, because equal pieces at different places cost the same.
    """

    kind: str
    params: tuple[int, ...]
    resolution: int
    position: tuple[int, ...] = field(default=(), compare=False)

    @property
    def module_key(self) -> str:
        """The piece without its resolution: pieces with the same module key run the same module."""
        return f"{self.kind}:{'-'.join(str(p) for p in self.params)}"

    @property
    def key(self) -> str:
        """The table key, e.g. ``block:24-32-2-6-7@256``."""
        return f"{self.module_key}@{self.resolution}"

    def input_shapes(self) -> list[list[int]]:
        """Shapes of the piece's inputs (batch 1)."""
        r = self.resolution
        if self.kind == "stem":
            return [[1, 3, r, r]]
        if self.kind in ("block", "tail"):
            return [[1, self.params[0], r, r]]
        return [[1, self.params[0], r, r], [1, self.params[1], r, r]]  # deconv, final: refined + raw


def network_pieces(spec: ArchSpec, num_keypoints: int) -> list[Piece]:
    """The pieces of ``spec`` at its input size (square), in network order.

    Raises:
        ValueError: the architecture has no fusion head (the table times the fusion head's pieces).
    """
    if not spec.fusion:
        raise ValueError(f"{spec.name}: latency pieces need the fusion head (fusion=False)")
    size = spec.input_size
    pieces = [Piece("stem", (spec.stem_channels,), size)]
    side, cin = size // 2, spec.stem_channels
    for i, stage in enumerate(spec.stages):
        first = stage.blocks[0]
        pieces.append(Piece("block", (cin, stage.channels, stage.stride, first.expand_ratio, first.kernel_size),
                            side, (i,)))
        side //= stage.stride
        start = 1
        for block, run in itertools.groupby(stage.blocks[1:]):
            n = len(list(run))
            pieces.append(Piece("tail", (stage.channels, n, block.expand_ratio, block.kernel_size), side, (i, start)))
            start += n
        cin = stage.channels
    c0, c1, c2, c3, c4 = spec.channels
    f0, f1, f2 = spec.deconv_channels
    for i, (refined, raw, out) in enumerate(((c4, c3, f0), (f0, c2, f1), (f1, c1, f2))):
        pieces.append(Piece("deconv", (refined, raw, out), size // 16 * 2**i, (i,)))
    j, k = num_keypoints, spec.head_kernel
    pieces.append(Piece("final", (f1, c1, 2 * j, k), size // 4, (0,)))
    pieces.append(Piece("final", (f2, c0, j, k), size // 2, (1,)))
    return pieces


def space_pieces(space: SearchSpace, num_keypoints: int) -> dict[Piece, ArchSpec]:
    """Every distinct piece of the sub-networks of ``space``, each with a sub-network that contains it.

    Every piece depends on at most three width genes (a deconv on the refined width, the raw width
    and its own), so the sub-networks that set any three genes to any of their choices, the others at
    their narrowest, contain them all; the hosts are as small as that allows (cheap to build).
    """
    nw = len(space.width_multipliers)
    narrow = space.width_multipliers.index(min(space.width_multipliers))
    num_genes = 8  # stem, four stages, three deconvs
    found: dict[Piece, ArchSpec] = {}
    for res in range(len(space.resolutions)):
        for genes in itertools.combinations(range(num_genes), 3):
            for values in itertools.product(range(nw), repeat=3):
                g = [narrow] * num_genes
                for gene, value in zip(genes, values, strict=True):
                    g[gene] = value
                spec = space.decode(ArchGenes(res, g[0], tuple(g[1:5]), tuple(g[5:8])))  # type: ignore[arg-type]
                for piece in network_pieces(spec, num_keypoints):
                    found.setdefault(piece, spec)
    return found


class _FusedPair(nn.Module):
    """``after(refined_branch(x) + raw_branch(raw))``: a deconv pair with its BN-ReLU, or a SepConv pair."""

    def __init__(self, refined: nn.Module, raw: nn.Module, after: nn.Module | None = None) -> None:
        super().__init__()
        self.refined, self.raw = refined, raw
        self.after = after if after is not None else nn.Identity()

    def forward(self, x: Tensor, raw: Tensor) -> Tensor:
        return self.after(self.refined(x) + self.raw(raw))


def piece_module(piece: Piece, model: LitePose) -> nn.Module:
    """The modules of ``model`` that make up ``piece`` (``model`` must contain it at ``piece.position``)."""
    if piece.kind == "stem":
        return model.first
    if piece.kind == "block":
        return model.stage[piece.position[0]][0]
    if piece.kind == "tail":
        stage, start = piece.position
        return model.stage[stage][start:start + piece.params[1]]
    i = piece.position[0]
    if piece.kind == "deconv":
        return _FusedPair(model.deconv_refined[i], model.deconv_raw[i], model.deconv_bnrelu[i])
    if piece.kind == "final":
        return _FusedPair(model.final_refined[i], model.final_raw[i])
    raise ValueError(f"unknown piece kind {piece.kind!r}; expected one of {PIECE_KINDS}")


def piece_counts(pieces: Sequence[Piece]) -> dict[str, int]:
    """How many pieces of each kind (for reports)."""
    return {kind: sum(p.kind == kind for p in pieces) for kind in PIECE_KINDS}

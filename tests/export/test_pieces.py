"""Pieces: a network is exactly the sum of its pieces, and a space's pieces cover every sub-network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litepose.export.pieces import Piece, network_pieces, piece_counts, piece_module, space_pieces
from litepose.models.litepose import LitePose
from litepose.models.space import SearchSpace, get_search_space


def _run_by_pieces(model: LitePose, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward pass of ``model`` through the modules :func:`piece_module` hands out."""
    pieces = network_pieces(model.spec, model.num_keypoints)

    def run(piece: Piece, *inputs: torch.Tensor) -> torch.Tensor:
        return piece_module(piece, model)(*inputs)

    feats = [run(pieces[0], x)]
    for piece in pieces[1:]:
        if piece.kind == "block":
            feats.append(run(piece, feats[-1]))
        elif piece.kind == "tail":
            feats[-1] = run(piece, feats[-1])
    stem, s1, s2, s3, s4 = feats
    deconvs = [p for p in pieces if p.kind == "deconv"]
    at8 = run(deconvs[0], s4, s3)
    at4 = run(deconvs[1], at8, s2)
    at2 = run(deconvs[2], at4, s1)
    final4, final2 = (p for p in pieces if p.kind == "final")
    return run(final4, at4, s1), run(final2, at2, stem)


def test_the_pieces_compute_the_network(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    for _ in range(3):
        spec = space.sample(rng)
        model = LitePose(spec, 5).eval()
        x = torch.randn(1, 3, spec.input_size, spec.input_size)
        with torch.inference_mode():
            expected = model(x)
            got = _run_by_pieces(model, x)
        assert torch.equal(got[0], expected.stride4) and torch.equal(got[1], expected.stride2)


def test_network_pieces_of_the_supernet() -> None:
    pieces = network_pieces(get_search_space("official").max_arch(), 14)
    assert piece_counts(pieces) == {"stem": 1, "block": 4, "tail": 4, "deconv": 3, "final": 2}
    assert pieces[0] == Piece("stem", (24,), 512)
    assert pieces[1].key == "block:24-32-2-6-7@256" and pieces[2].key == "tail:32-5-6-7@128"
    assert [p.resolution for p in pieces if p.kind == "deconv"] == [32, 64, 128]
    assert [p.params for p in pieces if p.kind == "final"] == [(48, 32, 28, 5), (32, 24, 14, 5)]
    assert pieces[1].input_shapes() == [[1, 24, 256, 256]]
    assert pieces[-1].input_shapes() == [[1, 32, 256, 256], [1, 24, 256, 256]]


def test_space_pieces_cover_every_sampled_sub_network(space: SearchSpace) -> None:
    pieces = space_pieces(space, 5)
    rng = np.random.default_rng(1)
    for _ in range(50):
        spec = space.sample(rng)
        assert all(p in pieces for p in network_pieces(spec, 5))
    for piece, host in pieces.items():
        assert piece in network_pieces(host, 5) and space.contains(host)
    # the official space: 1479 distinct pieces of 280 distinct modules
    official = space_pieces(get_search_space("official"), 14)
    assert len(official) == 1479 and len({p.module_key for p in official}) == 280


def test_network_pieces_need_the_fusion_head(space: SearchSpace) -> None:
    with pytest.raises(ValueError, match="fusion"):
        network_pieces(space.min_arch().with_fusion(False), 5)

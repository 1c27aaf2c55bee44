"""SearchSpace: the official choices, sampling, evolution operators and out-of-space errors."""

from __future__ import annotations

import numpy as np
import pytest

from litepose.models.space import SUPERNET_ARCH, ArchGenes, SearchSpace, get_search_space
from litepose.models.zoo import get_arch


def test_official_choices_are_the_reference_table() -> None:
    space = get_search_space("official")
    assert space.resolutions == (256, 320, 384, 448, 512)
    assert space.stem_choices == (24, 24, 16, 8)
    assert space.stage_choices == ((32, 24, 16, 8), (64, 48, 32, 16), (96, 72, 48, 24), (160, 120, 80, 40))
    assert space.deconv_choices == ((64, 48, 32, 16), (48, 40, 24, 16), (32, 24, 16, 8))
    assert [s.depth for s in space.maximum.stages] == [6, 8, 10, 10]  # not the official sampler's 4/6/8/8
    assert space.size == 5 * 3 * 4 ** 7
    lms = get_search_space("paper-lms")
    assert lms.resolutions == (512, 448) and lms.stem_choices == (24, 24, 16)


def test_samples_mutations_and_crossovers_stay_in_the_space() -> None:
    space = get_search_space("official")
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        a, b = space.sample(rng), space.sample(rng)
        seen.add(a)
        for child in (space.mutate(a, rng, 0.3), space.crossover(a, b, rng)):
            assert space.contains(child)
        assert space.decode(space.encode(a)) == a
        cross = space.crossover(a, b, rng)
        assert cross.input_size == a.input_size and cross.stem_channels == a.stem_channels  # scalars from parent 1
        assert all(c.channels in (x.channels, y.channels) for c, x, y in zip(cross.stages, a.stages, b.stages,
                                                                            strict=True))
    assert len(seen) > 190
    a = space.sample(rng)
    assert space.mutate(a, rng, 0.0) == a


def test_mutation_resamples_every_gene_with_its_probability() -> None:
    space = get_search_space("official")
    rng = np.random.default_rng(1)
    start = space.min_arch()
    changed = np.zeros(9)
    trials = 2000
    for _ in range(trials):
        g0, g1 = space.encode(start), space.encode(space.mutate(start, rng, 0.5))
        flat0 = [g0.resolution, g0.stem, *g0.stages, *g0.deconvs]
        flat1 = [g1.resolution, g1.stem, *g1.stages, *g1.deconvs]
        changed += [x != y for x, y in zip(flat0, flat1, strict=True)]
    # a resampled gene keeps its old value with probability 1/len(choices): 0.5 * (1 - 1/5) for the
    # resolution; the stem's smallest value (8) is one of 4 draws
    rates = changed / trials
    assert rates[0] == pytest.approx(0.5 * 4 / 5, abs=0.04)
    assert all(r == pytest.approx(0.5 * 3 / 4, abs=0.04) for r in rates[1:])


def test_extremes_uniform_and_released_archs() -> None:
    space = get_search_space("official")
    assert space.max_arch() == SUPERNET_ARCH
    small = space.min_arch()
    assert small.input_size == 256 and small.channels == (8, 8, 16, 24, 40) and small.deconv_channels == (16, 16, 8)
    manual = space.uniform(0.5, 256)  # the official fixed_sample(256, 0.5) (manual-S.json)
    assert manual.channels == (16, 16, 32, 48, 80) and manual.deconv_channels == (32, 24, 16)
    assert space.contains(get_arch("litepose-xs"))  # search-XS was found in this space
    assert not get_search_space("paper-lms").contains(get_arch("litepose-xs"))  # 256 is not an L/M/S resolution


@pytest.mark.parametrize(("change", "field"), [
    ({"img_size": 288}, "img_size 288"),
    ({"input_channel": 32}, "input_channel 32"),
    ({"deconv_setting": [64, 48, 40]}, "deconv_setting[2] 40"),
])
def test_out_of_space_errors_name_the_field(change: dict, field: str) -> None:
    space = get_search_space("official")
    raw = {**space.uniform(1.0, 512).to_official(), **change}
    from litepose.models.spec import ArchSpec

    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        space.check(ArchSpec.from_official(raw), source="cand.json")


def test_depth_and_blocks_must_match_the_supernet() -> None:
    space = get_search_space("official")
    xs = get_arch("litepose-xs").to_official()
    xs["backbone_setting"][1] = {**xs["backbone_setting"][1], "num_blocks": 6, "block_setting": [[6, 7]] * 6}
    from litepose.models.spec import ArchSpec

    with pytest.raises(ValueError, match=r"backbone_setting\[1\]\.num_blocks 6 must be 8"):
        space.check(ArchSpec.from_official(xs))
    xs = get_arch("litepose-xs").with_kernel_size(5)
    with pytest.raises(ValueError, match=r"backbone_setting\[0\]\.block_setting"):
        space.check(xs)


def test_serialisation_round_trip_and_bad_spaces() -> None:
    space = SearchSpace("mine", (128, 160), (1.0, 0.5))
    assert SearchSpace.from_dict(space.to_dict()) == space
    with pytest.raises(ValueError, match="multiples of 32"):
        SearchSpace("bad", (100,), (1.0,))
    with pytest.raises(ValueError, match="width multipliers"):
        SearchSpace("bad", (128,), (1.5,))
    with pytest.raises(ValueError, match="missing field 'resolutions'"):
        SearchSpace.from_dict({"name": "x", "width_multipliers": [1.0]})
    with pytest.raises(ValueError, match="unknown search space"):
        get_search_space("tiny")
    assert space.decode(ArchGenes(1, 1, (1, 1, 1, 1), (1, 1, 1))).name == "r160-c16-16.32.48.80-d32.24.16"

"""Network outputs -> maps (reference §5.2): stage averaging, flip test with the flip index on heatmaps
and tags, projection to the input size, and multi-scale aggregation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from litepose.decoding.maps import aggregate_scales, outputs_to_maps  # noqa: E402

J = 3
FLIP = (0, 2, 1)  # joint 0 is central, joints 1 and 2 swap under a flip


def _outputs(seed: int, batch: int = 1, h: int = 6, w: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 2 * J, h, w, generator=gen), torch.rand(batch, J, 2 * h, 2 * w, generator=gen)


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def test_single_pass_averages_stages_and_takes_tags_from_stride4():
    s4, s2 = _outputs(0)
    heatmaps, tags = outputs_to_maps((s4, s2), J)
    up = _up(s4, (12, 16))
    assert heatmaps.shape == (1, J, 12, 16) and tags.shape == (1, J, 12, 16, 1)
    torch.testing.assert_close(heatmaps, (up[:, :J] + s2) / 2, rtol=0, atol=0)
    torch.testing.assert_close(tags[..., 0], up[:, J:], rtol=0, atol=0)


def test_constant_outputs_give_constant_maps():
    s4 = torch.cat([torch.full((1, J, 4, 4), 0.2), torch.full((1, J, 4, 4), 3.0)], dim=1)
    s2 = torch.full((1, J, 8, 8), 0.6)
    heatmaps, tags = outputs_to_maps((s4, s2), J, project_to=(32, 32))
    torch.testing.assert_close(heatmaps, torch.full((1, J, 32, 32), 0.4))
    torch.testing.assert_close(tags, torch.full((1, J, 32, 32, 1), 3.0))


def test_flip_outputs_are_flipped_back_and_reindexed_for_heatmaps_and_tags():
    s4, s2 = _outputs(1)
    # The flipped pass: joint-specific constants per channel so the re-indexing is visible.
    f4 = torch.arange(2 * J, dtype=torch.float32).view(1, 2 * J, 1, 1).expand(1, 2 * J, 6, 8).clone()
    f2 = (10 + torch.arange(J, dtype=torch.float32)).view(1, J, 1, 1).expand(1, J, 12, 16).clone()
    f4[..., 0] += 100  # the leftmost column of the flipped image is the rightmost of the original
    heatmaps, tags = outputs_to_maps((s4, s2), J, flip_outputs=(f4, f2), flip_index=FLIP)
    assert tags.shape == (1, J, 12, 16, 2)
    plain_hm = (_up(s4, (12, 16))[:, :J] + s2) / 2
    flip_up = torch.flip(_up(f4, (12, 16)), [3])
    flip_hm = (flip_up[:, :J][:, list(FLIP)] + torch.flip(f2, [3])[:, list(FLIP)]) / 2
    torch.testing.assert_close(heatmaps, (plain_hm + flip_hm) / 2.0, rtol=0, atol=0)
    # Tag channel of joint k comes from the flipped output's tag channel flip_index[k].
    torch.testing.assert_close(tags[0, :, 6, 8, 1], torch.tensor([3.0, 5.0, 4.0]))
    torch.testing.assert_close(tags[..., 1], flip_up[:, J:][:, list(FLIP)], rtol=0, atol=0)
    assert float(tags[0, 1, 0, -1, 1]) > 100  # flipped back: the bright column is now on the right


def test_flip_of_an_equivariant_model_reproduces_the_plain_maps():
    s4, s2 = _outputs(2)
    index = list(FLIP)
    # What a perfectly flip-equivariant network would output on the mirrored image.
    f4 = torch.flip(torch.cat([s4[:, :J][:, index], s4[:, J:][:, index]], dim=1), [3])
    f2 = torch.flip(s2[:, index], [3])
    heatmaps, tags = outputs_to_maps((s4, s2), J, flip_outputs=(f4, f2), flip_index=index, project_to=(24, 40))
    assert heatmaps.shape == (1, J, 24, 40)
    plain, plain_tags = outputs_to_maps((s4, s2), J, project_to=(24, 40))
    torch.testing.assert_close(heatmaps, plain, rtol=0, atol=1e-6)
    torch.testing.assert_close(tags[..., 0], tags[..., 1], rtol=0, atol=1e-6)
    torch.testing.assert_close(tags[..., :1], plain_tags, rtol=0, atol=0)


def test_projection_resizes_plain_and_flipped_maps_before_averaging():
    s4, s2 = _outputs(3)
    f4, f2 = _outputs(4)
    heatmaps, tags = outputs_to_maps((s4, s2), J, flip_outputs=(f4, f2), flip_index=FLIP, project_to=(20, 30))
    plain, _ = outputs_to_maps((s4, s2), J)
    up4 = torch.flip(_up(f4, (12, 16)), [3])
    flip_hm = (up4[:, :J][:, list(FLIP)] + torch.flip(f2, [3])[:, list(FLIP)]) / 2
    expected = (_up(plain, (20, 30)) + _up(flip_hm, (20, 30))) / 2.0
    torch.testing.assert_close(heatmaps, expected, rtol=0, atol=0)
    assert tags.shape == (1, J, 20, 30, 2)


def test_numpy_outputs_and_named_tuples_are_accepted():
    s4, s2 = _outputs(5)
    from collections import namedtuple

    Out = namedtuple("Out", ["stride4", "stride2"])
    a = outputs_to_maps(Out(s4, s2), J)
    b = outputs_to_maps([s4.numpy(), s2.numpy()], J)  # e.g. onnxruntime results
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=0)


def test_bad_outputs_raise_clear_errors():
    s4, s2 = _outputs(6)
    with pytest.raises(ValueError, match="channels"):
        outputs_to_maps((s4, s2), J + 1)
    with pytest.raises(ValueError, match="flip_index"):
        outputs_to_maps((s4, s2), J, flip_outputs=(s4, s2))
    with pytest.raises(ValueError, match="permutation"):
        outputs_to_maps((s4, s2), J, flip_outputs=(s4, s2), flip_index=(0, 1, 1))
    with pytest.raises(ValueError, match="two outputs"):
        outputs_to_maps(s4, J)


def test_aggregate_scales_sums_heatmaps_and_takes_tags_from_scale_one():
    shape = (1, J, 10, 12)
    hm = {s: torch.full(shape, v) for s, v in ((0.5, 0.3), (1.0, 0.6), (2.0, 0.9))}
    tg = {s: torch.full((*shape, 2), v) for s, v in ((0.5, -1.0), (1.0, 2.0), (2.0, 5.0))}
    heatmaps, tags = aggregate_scales([(s, hm[s], tg[s]) for s in (1.0, 0.5, 2.0)])
    torch.testing.assert_close(heatmaps, torch.full(shape, (0.9 + 0.6 + 0.3) / 3))
    torch.testing.assert_close(tags, tg[1.0], rtol=0, atol=0)
    # The predictor's form: (scale, (heatmaps, tags)).
    same = aggregate_scales([(s, (hm[s], tg[s])) for s in (1.0, 0.5, 2.0)])
    torch.testing.assert_close(same[0], heatmaps, rtol=0, atol=0)
    # A single scale keeps its tags whatever the scale; heatmaps are unchanged (divided by 1).
    single_hm, single_tags = aggregate_scales([(0.5, hm[0.5], tg[0.5])])
    torch.testing.assert_close(single_hm, hm[0.5], rtol=0, atol=0)
    torch.testing.assert_close(single_tags, tg[0.5], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"scale 1\.0"):
        aggregate_scales([(0.5, hm[0.5], tg[0.5]), (2.0, hm[2.0], tg[2.0])])


def test_aggregate_scales_resizes_unprojected_maps_to_the_largest_scale():
    big = torch.rand(1, J, 16, 20, generator=torch.Generator().manual_seed(7))
    small = torch.rand(1, J, 8, 10, generator=torch.Generator().manual_seed(8))
    small_tags = torch.rand(1, J, 8, 10, 2, generator=torch.Generator().manual_seed(9))
    heatmaps, tags = aggregate_scales([(1.0, small, small_tags), (2.0, big, torch.zeros(1, J, 16, 20, 2))])
    torch.testing.assert_close(heatmaps, (big + _up(small, (16, 20))) / 2.0, rtol=0, atol=0)
    expected_tags = torch.stack([_up(small_tags[..., d], (16, 20)) for d in range(2)], dim=4)
    torch.testing.assert_close(tags, expected_tags, rtol=0, atol=0)


def test_maps_feed_the_decoder():
    from litepose.decoding import decode

    s4 = torch.zeros(1, 2 * J, 8, 8)
    s2 = torch.zeros(1, J, 16, 16)
    s2[0, :, 5, 7] = 1.0  # one person, every joint at the same spot, tags all 0
    heatmaps, tags = outputs_to_maps((s4, s2), J, project_to=(32, 32))
    keypoints, scores = decode(heatmaps.numpy(), tags.numpy())
    assert keypoints.shape == (1, J, 3) and scores.shape == (1,)
    np.testing.assert_allclose(keypoints[0, :, :2], [[14.5, 10.5]] * J, atol=1.0)


def _ramp_outputs(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs whose every channel is the input-pixel x (or y) coordinate of its cell centre: stride-s
    cell i covers input pixels [s·i, s·i + s), centre s·i + (s − 1)/2. Bilinear resizing with
    align_corners=False reproduces such ramps exactly away from the clamped border."""
    def ramp(stride: int, axis: int, channels: int) -> torch.Tensor:
        n = (h if axis == 0 else w) // stride
        vals = torch.arange(n, dtype=torch.float64) * stride + (stride - 1) / 2
        grid = vals[:, None].expand(n, w // stride) if axis == 0 else vals[None, :].expand(h // stride, n)
        return grid.expand(1, channels, h // stride, w // stride).float().clone()
    # heatmaps carry x, tags carry y
    s4 = torch.cat([ramp(4, 1, J), ramp(4, 0, J)], dim=1)
    return s4, ramp(2, 1, J)


@pytest.mark.parametrize(("valid", "target"), [((37, 45), (24, 30)), ((64, 61), (80, 90)), ((63, 64), (63, 64))])
def test_padded_input_maps_are_taken_from_the_image_part_only(valid, target):
    # A 64 x 64 padded input holding a valid (H_v, W_v) image in its top-left: projected map pixel j must
    # show input coordinate (j + 0.5)·W_v/W_t − 0.5, i.e. the image part stretched onto the target.
    s4, s2 = _ramp_outputs(64, 64)
    heatmaps, tags = outputs_to_maps((s4, s2), J, project_to=target, valid_size=valid)
    assert heatmaps.shape == (1, J, *target) and tags.shape == (1, J, *target, 1)
    ys = (torch.arange(target[0], dtype=torch.float64) + 0.5) * valid[0] / target[0] - 0.5
    xs = (torch.arange(target[1], dtype=torch.float64) + 0.5) * valid[1] / target[1] - 0.5
    # the upsampled stride-4 ramp is clamped in the first and last stride-2 cells (centres 0.5, 62.5)
    inner_x = (xs >= 2.5) & (xs <= 60.5)
    inner_y = (ys >= 2.5) & (ys <= 60.5)
    got_x = heatmaps[0, 0].double()
    got_y = tags[0, 0, :, :, 0].double()
    torch.testing.assert_close(got_x[:, inner_x], xs[inner_x].expand(target[0], -1), atol=1e-4, rtol=0)
    torch.testing.assert_close(got_y[inner_y, :], ys[inner_y, None].expand(-1, target[1]), atol=1e-4, rtol=0)


def test_valid_size_equal_to_the_input_is_the_official_projection():
    s4, s2 = _outputs(3, h=8, w=8)
    f4, f2 = _outputs(4, h=8, w=8)
    kw = {"flip_outputs": (f4, f2), "flip_index": FLIP, "project_to": (40, 48)}
    official = outputs_to_maps((s4, s2), J, **kw)
    same = outputs_to_maps((s4, s2), J, valid_size=(32, 32), **kw)
    assert all(torch.equal(a, b) for a, b in zip(official, same, strict=True))  # bit-identical path
    # cropping a replicate-padded input gives the unpadded result
    pad4 = F.pad(s4, (0, 2, 0, 1), mode="replicate")
    pad2 = F.pad(s2, (0, 4, 0, 2), mode="replicate")
    # the flipped pass of a right-padded canvas sees the padding on the left
    fpad4 = F.pad(f4, (2, 0, 0, 1), mode="replicate")
    fpad2 = F.pad(f2, (4, 0, 0, 2), mode="replicate")
    cropped = outputs_to_maps((pad4, pad2), J, flip_outputs=(fpad4, fpad2), flip_index=FLIP, project_to=(40, 48),
                              valid_size=(32, 32))
    for a, b in zip(official, cropped, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_valid_size_errors():
    s4, s2 = _outputs(5, h=8, w=8)
    with pytest.raises(ValueError, match="needs project_to"):
        outputs_to_maps((s4, s2), J, valid_size=(30, 32))
    with pytest.raises(ValueError, match="within the input size"):
        outputs_to_maps((s4, s2), J, valid_size=(33, 32), project_to=(8, 8))

"""The NumPy/OpenCV maps against the torch maps (decoding/maps.py): resizing, stage averaging, flip with
the flip index, projection, the padded-input extent, multi-scale aggregation, and the input checks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from litepose.decoding import maps as torch_maps  # noqa: E402
from litepose.decoding import maps_numpy  # noqa: E402
from litepose.skeleton import COCO  # noqa: E402

J = 17
# Unit-scale random maps (tags and heatmaps both ~N(0, 1)): bilinear resizing agrees with PyTorch's
# within float32 rounding of such values (measured: <= 5e-7 for 2x, <= 3e-5 for other ratios).
RESIZE_2X_TOL = 2e-6
RESIZE_TOL = 1e-4
MAPS_TOL = 2e-6


def _outputs(rng: np.random.Generator, h: int, w: int, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs for an ``h x w`` input: stride 4 ``[B, 2J, h/4, w/4]``, stride 2 ``[B, J, h/2, w/2]``."""
    return (rng.standard_normal((batch, 2 * J, h // 4, w // 4)).astype(np.float32),
            rng.standard_normal((batch, J, h // 2, w // 2)).astype(np.float32))


def _torch(pair: tuple[np.ndarray, np.ndarray] | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    return None if pair is None else (torch.from_numpy(pair[0]), torch.from_numpy(pair[1]))


@pytest.mark.parametrize(("shape", "size"), [((16, 24), (32, 48)), ((1, 5), (2, 10)), ((16, 24), (16, 24)),
                                             ((16, 24), (20, 37)), ((37, 53), (128, 160)), ((64, 48), (24, 30))])
def test_resize_matches_f_interpolate(shape: tuple[int, int], size: tuple[int, int]) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, *shape)).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=False).numpy()
    got = maps_numpy.resize_bilinear(x, size)
    assert got.shape == expected.shape and got.dtype == np.float32
    tol = RESIZE_2X_TOL if size == (2 * shape[0], 2 * shape[1]) else RESIZE_TOL
    np.testing.assert_allclose(got, expected, atol=tol, rtol=0)
    if size == shape:
        assert got is x  # the identity


def test_extent_resampling_is_bit_identical() -> None:
    # the padded-input projection repeats the torch expression (element-wise ops): the same bits
    x = np.random.default_rng(1).standard_normal((1, J, 40, 48)).astype(np.float32)
    for extent, size in [((37.5, 44.0), (75, 88)), ((40.0, 31.5), (80, 63)), ((12.25, 48.0), (25, 96))]:
        expected = torch_maps._resize_extent(torch.from_numpy(x), extent, size).numpy()
        np.testing.assert_array_equal(maps_numpy._resize_extent(x, extent, size), expected)


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize(("input_hw", "project_to", "valid"), [
    ((128, 192), None, None),             # stride-2 maps
    ((128, 192), (128, 192), None),       # the official projection
    ((128, 192), (128, 192), (128, 192)),  # valid_size = the whole input: the same
    ((128, 192), (128, 170), (128, 170)),  # padded on the right
    ((96, 128), (90, 120), (90, 120)),    # padded on both sides
])
def test_outputs_to_maps_match_torch(flip: bool, input_hw: tuple[int, int], project_to: tuple[int, int] | None,
                                     valid: tuple[int, int] | None) -> None:
    rng = np.random.default_rng(2)
    plain = _outputs(rng, *input_hw)
    flipped = _outputs(rng, *input_hw) if flip else None
    options = {"flip_index": COCO.flip_index, "project_to": project_to, "valid_size": valid}
    th, tt = torch_maps.outputs_to_maps(_torch(plain), J, flip_outputs=_torch(flipped), **options)
    nh, nt = maps_numpy.outputs_to_maps(plain, J, flip_outputs=flipped, **options)
    assert nh.shape == tuple(th.shape) and nt.shape == tuple(tt.shape) and nt.shape[-1] == (2 if flip else 1)
    assert nh.dtype == nt.dtype == np.float32
    np.testing.assert_allclose(nh, th.numpy(), atol=MAPS_TOL, rtol=0)
    np.testing.assert_allclose(nt, tt.numpy(), atol=MAPS_TOL, rtol=0)


def test_flip_reindexes_heatmaps_and_tags() -> None:
    # constant outputs per channel: the flipped pass's channel k lands on joint flip_index[k]
    plain = (np.zeros((1, 2 * J, 4, 4), np.float32), np.zeros((1, J, 8, 8), np.float32))
    f4 = np.broadcast_to(np.arange(2 * J, dtype=np.float32)[None, :, None, None], (1, 2 * J, 4, 4)).copy()
    f2 = np.broadcast_to(np.arange(J, dtype=np.float32)[None, :, None, None], (1, J, 8, 8)).copy()
    heatmaps, tags = maps_numpy.outputs_to_maps(plain, J, flip_outputs=(f4, f2), flip_index=COCO.flip_index)
    index = np.asarray(COCO.flip_index)
    np.testing.assert_allclose(heatmaps[0, :, 3, 3], index / 2.0)  # (stride-4 k + stride-2 k) / 2, then / 2
    np.testing.assert_allclose(tags[0, :, 3, 3, 1], J + index)
    np.testing.assert_allclose(tags[0, :, 3, 3, 0], 0.0)


def test_aggregate_scales_matches_torch() -> None:
    rng = np.random.default_rng(3)
    base = (128, 192)
    per_numpy, per_torch = [], []
    for scale, hw in [(1.5, (192, 288)), (1.0, base), (0.75, (96, 144))]:
        plain, flipped = _outputs(rng, *hw), _outputs(rng, *hw)
        options = {"flip_index": COCO.flip_index, "project_to": base}
        per_numpy.append((scale, maps_numpy.outputs_to_maps(plain, J, flip_outputs=flipped, **options)))
        per_torch.append((scale, torch_maps.outputs_to_maps(_torch(plain), J, flip_outputs=_torch(flipped),
                                                            **options)))
    nh, nt = maps_numpy.aggregate_scales(per_numpy)
    th, tt = torch_maps.aggregate_scales(per_torch)
    np.testing.assert_allclose(nh, th.numpy(), atol=MAPS_TOL, rtol=0)
    np.testing.assert_allclose(nt, tt.numpy(), atol=MAPS_TOL, rtol=0)
    # maps of other sizes are resized to the first (largest) scale's, tags too (3-tuple form)
    big = rng.standard_normal((1, J, 24, 36)).astype(np.float32)
    small = rng.standard_normal((1, J, 18, 27)).astype(np.float32)
    tags_small = rng.standard_normal((1, J, 18, 27, 2)).astype(np.float32)
    numpy_out = maps_numpy.aggregate_scales([(1.25, big, np.zeros((1, J, 24, 36, 2), np.float32)),
                                             (1.0, small, tags_small)])
    torch_out = torch_maps.aggregate_scales([(1.25, torch.from_numpy(big), torch.zeros(1, J, 24, 36, 2)),
                                             (1.0, torch.from_numpy(small), torch.from_numpy(tags_small))])
    for got, expected in zip(numpy_out, torch_out, strict=True):
        assert got.shape == tuple(expected.shape)
        np.testing.assert_allclose(got, expected.numpy(), atol=RESIZE_TOL, rtol=0)


def test_bad_inputs_are_the_same_errors_as_torch() -> None:
    rng = np.random.default_rng(4)
    plain = _outputs(rng, 64, 64)
    cases = [
        (lambda m: m.outputs_to_maps(plain[0], J), "expected the model's two outputs"),
        (lambda m: m.outputs_to_maps((plain[0][0], plain[1]), J), "expected shape [B, C, H, W]"),
        (lambda m: m.outputs_to_maps(plain, J + 1), "expected 36 stride-4 and 18 stride-2 channels"),
        (lambda m: m.outputs_to_maps(plain, J, flip_outputs=plain), "flip_index: required"),
        (lambda m: m.outputs_to_maps(plain, J, flip_outputs=plain, flip_index=[0] * J), "must be a permutation"),
        (lambda m: m.outputs_to_maps(plain, J, valid_size=(70, 64), project_to=(64, 64)), "within the input size"),
        (lambda m: m.outputs_to_maps(plain, J, valid_size=(60, 64)), "needs project_to"),
        (lambda m: m.aggregate_scales([]), "no scales given"),
        (lambda m: m.aggregate_scales([(0.5, np.zeros((1, J, 4, 4), np.float32),
                                        np.zeros((1, J, 4, 4, 1), np.float32)),
                                       (2.0, np.zeros((1, J, 4, 4), np.float32),
                                        np.zeros((1, J, 4, 4, 1), np.float32))]), "which is missing"),
    ]
    for call, fragment in cases:
        messages = []
        for module in (maps_numpy, torch_maps):  # the torch twin takes arrays too
            with pytest.raises(ValueError) as info:
                call(module)
            messages.append(str(info.value))
        assert fragment in messages[0] and messages[0] == messages[1], messages


@pytest.mark.parametrize(("extent", "size"), [
    ((96.0, 128.0), (192, 256)),  # a 4:3 image letterboxed into a 256x256 file: one padding row read
    ((40.0, 48.0), (80, 96)),     # no padding at all: the whole map
    ((37.5, 44.0), (75, 88)),     # odd valid sides (fractional extents)
    ((12.25, 48.0), (25, 96)),    # not 2x along the rows: the gather
])
def test_extent_projection_through_cv2_is_the_extent_resampling(extent: tuple[float, float],
                                                                size: tuple[int, int]) -> None:
    x = np.random.default_rng(5).standard_normal((1, 3, 40, 48)).astype(np.float32)
    if extent == (96.0, 128.0):
        x = np.random.default_rng(5).standard_normal((1, 3, 128, 128)).astype(np.float32)
    got = maps_numpy._project_extent(x, extent, size)
    expected = maps_numpy._resize_extent(x, extent, size)
    assert got.shape == expected.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, expected, atol=RESIZE_2X_TOL, rtol=0)
    # the last row reads the map row past the extent's last whole one (the first padding row), as the
    # official taps do: changing that row changes the last output row
    if size[0] == 2 * extent[0] and size[0] // 2 < x.shape[2]:
        poked = x.copy()
        poked[..., size[0] // 2, :] += 10.0
        assert not np.allclose(maps_numpy._project_extent(poked, extent, size)[..., -1, :], got[..., -1, :])


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize(("project_to", "valid"), [(None, None), ((128, 192), None), ((90, 120), (90, 120))])
def test_buffers_give_the_same_maps_and_are_reused(flip: bool, project_to: tuple[int, int] | None,
                                                   valid: tuple[int, int] | None) -> None:
    rng = np.random.default_rng(6)
    input_hw = (128, 192) if valid is None else (96, 128)
    buffers = maps_numpy.MapBuffers()
    options = {"flip_index": COCO.flip_index, "project_to": project_to, "valid_size": valid}
    first = None
    for _ in range(2):  # the second call writes into the arrays the first one returned
        plain, flipped = _outputs(rng, *input_hw), (_outputs(rng, *input_hw) if flip else None)
        expected = maps_numpy.outputs_to_maps(plain, J, flip_outputs=flipped, **options)
        got = maps_numpy.outputs_to_maps(plain, J, flip_outputs=flipped, buffers=buffers, **options)
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g, e)  # the same float32 operations: the same bits
            assert g.flags.c_contiguous
        if first is None:
            first = got
    assert np.shares_memory(first[0], got[0]) and np.shares_memory(first[1], got[1])
    assert not np.shares_memory(got[0], plain[0]) and not np.shares_memory(got[0], plain[1])  # inputs untouched

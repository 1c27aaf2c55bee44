"""The Predictor end to end: a small random LitePose, and a 'ground-truth network' that checks geometry."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from gt_maps import render_people_maps
from torch import nn

from litepose import geometry
from litepose.geometry import apply_affine
from litepose.inference.predictor import PoseResult, Predictor, RandomWeightsWarning
from litepose.models.litepose import LitePoseOutput
from litepose.skeleton import COCO, CROWDPOSE

pytest.importorskip("litepose.decoding.maps")

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def xs_model() -> nn.Module:
    from litepose import create_model

    torch.manual_seed(0)
    return create_model("litepose-xs", num_keypoints=17, input_size=128).eval()


def _image(h: int = 100, w: int = 150, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _check_result(res: PoseResult, joints: int, w: int, h: int) -> None:
    n = len(res)
    assert res.keypoints.shape == (n, joints, 3) and res.scores.shape == (n,) and res.bboxes.shape == (n, 4)
    assert n <= 30
    assert np.isfinite(res.keypoints).all() and np.isfinite(res.scores).all()
    if n:
        # the maps cover the resized input, whose padding extends past the image by at most its size
        assert res.keypoints[..., 0].min() >= -w and res.keypoints[..., 0].max() <= 2 * w
        assert res.keypoints[..., 1].min() >= -h and res.keypoints[..., 1].max() <= 2 * h
        assert np.all(res.bboxes[:, 2:] >= 0)
    assert not res.keypoints.flags.writeable  # results are frozen


def test_random_model_well_formed_results(xs_model: nn.Module) -> None:
    # a random net's heatmaps stay below the official 0.1 threshold: take every positive peak
    pred = Predictor(xs_model, flip_test=False, detection_threshold=0.0)
    assert pred.input_size == 128 and pred.skeleton is COCO
    res = pred(_image())
    _check_result(res, 17, 150, 100)
    assert len(res) > 0
    _check_result(Predictor(xs_model, flip_test=False)(_image()), 17, 150, 100)  # default threshold: any N
    assert res.image is not None and res.image.shape == (100, 150, 3)
    drawn = res.plot(threshold=0.0)
    assert drawn.shape == (100, 150, 3) and drawn.dtype == np.uint8
    entries = res.to_coco(5)
    assert len(entries) == len(res) and all(e["image_id"] == 5 and len(e["keypoints"]) == 51 for e in entries)


def test_flip_and_multiscale_paths_run_and_differ(xs_model: nn.Module, tmp_path: Path) -> None:
    img = _image(96, 80, seed=1)
    kw = {"max_people": 5, "detection_threshold": 0.0}
    plain = Predictor(xs_model, flip_test=False, **kw)(img)
    flipped = Predictor(xs_model, flip_test=True, **kw)(img)
    multi = Predictor(xs_model, flip_test=True, scales=(1.0, 1.5), **kw)(img)
    for r in (plain, flipped, multi):
        _check_result(r, 17, 80, 96)
    assert len(plain) == len(flipped) == 5  # a random net puts peaks everywhere: max_people caps
    assert not np.allclose(plain.keypoints, flipped.keypoints)
    # list input and path input
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), img[:, :, ::-1])
    batch = Predictor(xs_model, flip_test=False, **kw)([img, path])
    assert isinstance(batch, list) and len(batch) == 2
    np.testing.assert_allclose(batch[0].keypoints, batch[1].keypoints)  # PNG is lossless
    assert batch[1].path == path


def test_odd_images(xs_model: nn.Module) -> None:
    pred = Predictor(xs_model, flip_test=False, max_people=3, detection_threshold=0.0)
    _check_result(pred(np.zeros((1, 1, 3), np.uint8)), 17, 1, 1)
    _check_result(pred(np.zeros((40, 30), np.uint8)), 17, 30, 40)  # grayscale
    _check_result(pred(np.zeros((40, 30, 4), np.uint8)), 17, 30, 40)  # RGBA
    _check_result(pred(np.zeros((40, 30, 3), np.uint16)), 17, 30, 40)  # 16-bit
    _check_result(pred(np.zeros((2000, 3000, 3), np.uint8)), 17, 3000, 2000)  # large: resized to 128 short side


def test_checkpoint_and_zoo_name(xs_model: nn.Module, tmp_path: Path) -> None:
    from litepose import create_model, save

    model14 = create_model("litepose-xs", num_keypoints=14, input_size=128)
    ckpt = save(model14, tmp_path / "m.pt", skeleton=CROWDPOSE)
    pred = Predictor(ckpt, flip_test=False)
    assert pred.skeleton.name == "crowdpose" and pred.num_joints == 14
    _check_result(pred(_image(64, 64)), 14, 64, 64)
    with pytest.warns(RandomWeightsWarning, match="RANDOM weights"):
        zoo = Predictor("litepose-xs", skeleton=14, input_size=128)
    assert zoo.num_joints == 14


def test_bad_arguments(xs_model: nn.Module, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'litepose-zz'"):
        Predictor("litepose-zz")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        Predictor(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"1\.0 must be one of them"):
        Predictor(xs_model, scales=(0.5, 2.0))
    with pytest.raises(ValueError, match="scales must be positive"):
        Predictor(xs_model, scales=(1.0, -0.5))
    # any positive scales (sizes off the multiple-of-32 grid are padded), largest first as officially
    assert Predictor(xs_model, scales=(0.5, 1.0, 1.25)).scales == (1.25, 1.0, 0.5)
    assert Predictor(xs_model, scales=(1.0, 1.1)).scales == (1.1, 1.0)
    with pytest.raises(ValueError, match="17 keypoints but skeleton 'crowdpose' has 14"):
        Predictor(xs_model, skeleton="crowdpose")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Predictor(xs_model, device="cuda")
    with pytest.raises(ValueError, match="device 'gpu'"):
        Predictor(xs_model, device="gpu")
    with pytest.raises(ValueError, match="joint_order"):
        Predictor(xs_model, joint_order=[0, 1])
    assert Predictor(xs_model, joint_order="anatomical").joint_order == COCO.anatomical_order
    with pytest.raises(TypeError, match="image array or a path"):
        Predictor(xs_model, flip_test=False)(42)


class GroundTruthNet(nn.Module):
    """A stand-in network whose outputs are the maps of known people (official target convention:
    a Gaussian at the truncated position on each output map, one constant tag per person). For a
    batch of two it renders the second item as the mirrored image, with left/right joints swapped,
    exactly what a flip-equivariant network would output."""

    def __init__(self, people: np.ndarray, image_wh: tuple[int, int], input_size: int, flip_index: tuple[int, ...]):
        super().__init__()
        self.people = people  # (N, J, 2) original pixels
        self.image_wh = image_wh
        self.num_keypoints = people.shape[1]
        self.spec = SimpleNamespace(input_size=input_size)
        self.flip_index = np.asarray(flip_index)
        self.dummy = nn.Parameter(torch.zeros(()))

    def _maps(self, h: int, w: int, stride: int, flipped: bool) -> tuple[np.ndarray, np.ndarray]:
        meta = geometry.test_resize_meta(*self.image_wh, self.spec.input_size)
        assert (meta.resized_h, meta.resized_w) == (h, w)
        pts = apply_affine(self.people, meta.matrix)  # input pixels
        if flipped:
            pts = pts[:, self.flip_index].copy()
            pts[..., 0] = w - pts[..., 0]
        return render_people_maps(pts, h, w, stride, self.num_keypoints)

    def forward(self, x: torch.Tensor) -> LitePoseOutput:
        b, _, h, w = x.shape
        s4, s2 = [], []
        for i in range(b):
            hm4, tag4 = self._maps(h, w, 4, flipped=i == 1)
            hm2, _ = self._maps(h, w, 2, flipped=i == 1)
            s4.append(np.concatenate([hm4, tag4]))
            s2.append(hm2)
        return LitePoseOutput(torch.from_numpy(np.stack(s4)), torch.from_numpy(np.stack(s2)))


@pytest.mark.parametrize("flip", [False, True])
def test_pipeline_maps_back_to_original_pixels(flip: bool) -> None:
    w, h = 300, 200
    rng = np.random.default_rng(7)
    people = np.stack([rng.uniform([20, 20], [140, 180], size=(17, 2)),
                       rng.uniform([160, 20], [280, 180], size=(17, 2))])
    net = GroundTruthNet(people, (w, h), 128, COCO.flip_index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the pipeline itself must not warn
        res = Predictor(net, flip_test=flip)(np.zeros((h, w, 3), np.uint8))
    assert len(res) == 2
    order = np.argsort(res.keypoints[:, 0, 0])  # match people by their nose's x
    err = np.abs(res.keypoints[order, :, :2] - people)
    # One stride-4 cell is 4 input px = 6.25 original px; the official target truncates to the cell
    # and decoding lands near its centre, so errors stay around half a cell (measured: max 1.8, mean 0.8).
    assert err.max() < 3.5, err.max()
    assert err.mean() < 1.2
    assert (res.keypoints[..., 2] > 0.5).all() and np.allclose(res.scores, res.keypoints[..., 2].mean(axis=1),
                                                                atol=0.05)


def test_stage_times_add_up_to_the_call(xs_model: nn.Module) -> None:
    import time

    from litepose.inference.predictor import STAGES

    image = _image()
    for options in ({"flip_test": False}, {"flip_test": True, "scales": (1.0, 0.75)}):
        predictor = Predictor(xs_model, input_size=64, **options)
        expected = predictor.predict_keypoints(image)
        times: dict[str, float] = {}
        start = time.perf_counter()
        keypoints, scores = predictor.predict_keypoints(image, stage_times=times)
        total = time.perf_counter() - start
        assert tuple(times) == STAGES and all(t > 0 for t in times.values())
        assert sum(times.values()) <= total  # the marks lie inside the call, one after the other
        np.testing.assert_array_equal(keypoints, expected[0])  # timing changes nothing
        np.testing.assert_array_equal(scores, expected[1])
        again: dict[str, float] = dict(times)
        predictor.predict_keypoints(image, stage_times=again)  # the times are added to what the dict holds
        assert all(again[s] > times[s] for s in STAGES)

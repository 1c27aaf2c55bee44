"""The prediction API: images in, people (keypoints in original image pixels) out.

:class:`Predictor` runs the official test pipeline (reference §5): for every test scale the §5.1
resize, the network, the flipped run (both in one batch of two), the §5.2 maps (stage averaging,
flip merge with the flip index, project-to-image at the resized-input resolution), the multi-scale
aggregation, the official grouping (:func:`litepose.decode`), and the inverse of the resize affine.

The network runs on a :mod:`runtime backend <litepose.runtime.backends>`: eager PyTorch for a module,
a checkpoint or a zoo name; onnxruntime or OpenVINO for an exported file (``.onnx``, ``.xml``), or for a
torch model converted in memory (``backend=``). With an exported file nothing here imports torch: the
preprocessing is NumPy/OpenCV and the maps come from :mod:`litepose.decoding.maps_numpy`. The torch
backend keeps the torch maps of :mod:`litepose.decoding.maps` (the official code's operations; the two
agree within float32 rounding, see maps_numpy).

Example::

    from litepose import Predictor
    predictor = Predictor("runs/coco/best.pt")            # or an nn.Module, a zoo name, model.onnx, model.xml
    result = predictor("people.jpg")
    result.keypoints                                         # (N, J, 3): x, y, confidence
    cv2.imwrite("out.jpg", result.plot(bgr=True))
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from litepose.decoding.grouping import DETECTION_THRESHOLD
from litepose.decoding.maps_numpy import MapBuffers
from litepose.evaluation.results import to_coco_results
from litepose.geometry import ResizeMeta, test_resize_meta
from litepose.inference.preprocess import (
    MAX_INPUT_SIZE,
    MAX_SCALE_RATIO,
    MAX_TEST_SCALE,
    MIN_INPUT_SIZE,
    MIN_TEST_SCALE,
    load_image,
    pad_image,
    plan_fixed_input,
    plan_input,
    preprocess_numpy,
    to_rgb_uint8,
)
from litepose.inference.visualize import draw_poses
from litepose.runtime.backends import (
    FILE_SUFFIXES,
    Backend,
    TorchBackend,
    check_backend,
    module_metadata,
    open_backend,
    skeleton_for,
)
from litepose.skeleton import Skeleton, get_skeleton, load_skeleton

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["STAGES", "PoseResult", "Predictor", "RandomWeightsWarning", "bboxes_from_keypoints",
           "check_predictor_options"]

#: The stages :meth:`Predictor.predict_keypoints` reports times for (``stage_times=``), in order.
STAGES = ("preprocess", "network", "maps", "decode")


# The network needs input sides that are multiples of its total stride.
_NET_MULTIPLE = 32


class RandomWeightsWarning(UserWarning):
    """A model was built by zoo name without weights: its predictions are meaningless."""


def check_predictor_options(*, scales: Sequence[float] = (1.0,), input_size: int | None = None,
                            detection_threshold: float = DETECTION_THRESHOLD, tag_threshold: float = 1.0,
                            max_people: int = 30, names: Mapping[str, str] | None = None) -> tuple[float, ...]:
    """Check the numeric options of a :class:`Predictor` before any work; returns the scales as floats.

    Args:
        scales, input_size, detection_threshold, tag_threshold, max_people: as for :class:`Predictor`
            (``input_size=None``: the model's own, not checked here).
        names: how to name each parameter in messages (the CLI passes ``{"scales": "--scales", ...}``).

    Raises:
        ValueError: one line naming the parameter: a scale outside [MIN_TEST_SCALE, MAX_TEST_SCALE]
            or scales more than MAX_SCALE_RATIO apart (with these, every image fits the size limits of
            :func:`~litepose.inference.preprocess.plan_input`), several scales without 1.0, an input
            size outside [MIN_INPUT_SIZE, MAX_INPUT_SIZE], a negative or non-finite detection
            threshold, a tag threshold <= 0, or fewer than one person.
    """
    def name(parameter: str) -> str:
        return (names or {}).get(parameter, parameter)

    scale_list = tuple(float(s) for s in scales)
    if not scale_list or any(not MIN_TEST_SCALE <= s <= MAX_TEST_SCALE for s in scale_list):  # NaN fails too
        raise ValueError(f"{name('scales')} must be positive numbers between {MIN_TEST_SCALE:g} and "
                         f"{MAX_TEST_SCALE:g}, got {list(scales)}")
    if max(scale_list) > MAX_SCALE_RATIO * min(scale_list):
        raise ValueError(f"{name('scales')}: the largest scale may be at most {MAX_SCALE_RATIO:g} times the "
                         f"smallest, got {list(scales)}")
    if len(scale_list) > 1 and 1.0 not in scale_list:
        raise ValueError(f"with several test scales, 1.0 must be one of them (the tags come from scale 1.0); "
                         f"got {name('scales')} {list(scale_list)}")
    if input_size is not None and not MIN_INPUT_SIZE <= input_size <= MAX_INPUT_SIZE:
        raise ValueError(f"{name('input_size')} must be between {MIN_INPUT_SIZE} and {MAX_INPUT_SIZE}, "
                         f"got {input_size}")
    if not (np.isfinite(detection_threshold) and detection_threshold >= 0):
        raise ValueError(f"{name('detection_threshold')} must be a finite number >= 0, got {detection_threshold}")
    if not (np.isfinite(tag_threshold) and tag_threshold > 0):
        raise ValueError(f"{name('tag_threshold')} must be a finite number > 0, got {tag_threshold}")
    if isinstance(max_people, bool) or int(max_people) != max_people or max_people < 1:
        raise ValueError(f"{name('max_people')} must be a positive integer, got {max_people}")
    return scale_list


def bboxes_from_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """``[min_x, min_y, w, h]`` over all joints of each person (the COCO results convention).

    Shapes:
        ``(N, J, 3)`` -> ``(N, 4)``.
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    if kpts.shape[0] == 0:
        return np.zeros((0, 4), dtype=np.float64)
    lo = kpts[:, :, :2].min(axis=1)
    hi = kpts[:, :, :2].max(axis=1)
    return np.concatenate([lo, hi - lo], axis=1)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class PoseResult:
    """The people found in one image.

    Attributes:
        keypoints: ``(N, J, 3)`` float ``(x, y, confidence)`` in original image pixels; confidence
            is the joint's heatmap value (refined joints included).
        scores: ``(N,)`` person scores (mean joint confidence before refine, as the official
            code ranks people), sorted as the decoder returns them.
        skeleton: the joint layout (for drawing and names).
        bboxes: ``(N, 4)`` ``[x, y, w, h]`` over all joints, as in the COCO results.
        image: the ``(H, W, 3)`` uint8 RGB input, kept for :meth:`plot` (``None`` if not kept).
        path: the file the image came from, if any.

    The arrays are read-only copies, so a result cannot change after it is made.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    skeleton: Skeleton
    bboxes: np.ndarray = field(default=None)  # type: ignore[assignment]  # filled in __post_init__
    image: np.ndarray | None = field(default=None, repr=False)
    path: Path | None = None

    def __post_init__(self) -> None:
        kpts = np.asarray(self.keypoints, dtype=np.float64)
        if kpts.size == 0:
            kpts = kpts.reshape(0, self.skeleton.num_keypoints, 3)
        if kpts.ndim != 3 or kpts.shape[1:] != (self.skeleton.num_keypoints, 3):
            raise ValueError(f"keypoints must be (N, {self.skeleton.num_keypoints}, 3), got {kpts.shape}")
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != kpts.shape[0]:
            raise ValueError(f"{kpts.shape[0]} people but {scores.shape[0]} scores")
        boxes = bboxes_from_keypoints(kpts) if self.bboxes is None else np.asarray(self.bboxes, np.float64)
        object.__setattr__(self, "keypoints", _readonly(kpts))
        object.__setattr__(self, "scores", _readonly(scores))
        object.__setattr__(self, "bboxes", _readonly(boxes.reshape(-1, 4)))

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def plot(self, image: np.ndarray | None = None, *, threshold: float = 0.1, bgr: bool = False,
             show_scores: bool = True) -> np.ndarray:
        """Draw the skeletons on ``image`` (default: the stored input image).

        Args:
            image: ``(H, W, 3)`` uint8 RGB image of the same size as the input.
            threshold: joints below this confidence are not drawn.
            bgr: return BGR (ready for ``cv2.imwrite``) instead of RGB.
            show_scores: write each person's score next to it.

        Returns:
            A new ``(H, W, 3)`` uint8 image, RGB unless ``bgr``.
        """
        base = self.image if image is None else to_rgb_uint8(image)
        if base is None:
            raise ValueError("PoseResult.plot: no image stored in this result; pass image=...")
        drawn = draw_poses(base, self.keypoints, self.skeleton, self.scores if show_scores else None,
                           threshold=threshold)
        return np.ascontiguousarray(drawn[:, :, ::-1]) if bgr else drawn

    def to_coco(self, image_id: int, *, category_id: int = 1) -> list[dict[str, Any]]:
        """COCO keypoint results entries (see :func:`litepose.evaluation.to_coco_results`)."""
        return to_coco_results(image_id, self.keypoints, self.scores, category_id=category_id)


def _resolve_device(device: str | torch.device) -> torch.device:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device {device!r}: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine (use --device cpu)")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r}: MPS is not available on this machine")
    return dev


def _resolve_skeleton(skeleton: Skeleton | str | int | os.PathLike[str] | None) -> Skeleton | None:
    if skeleton is None or isinstance(skeleton, Skeleton):
        return skeleton
    if isinstance(skeleton, int):
        return get_skeleton(skeleton)
    return load_skeleton(os.fspath(skeleton))


def _load_model(spec: Any, skeleton: Skeleton | None) -> tuple[nn.Module, Skeleton | None]:
    """An ``nn.Module``, a project checkpoint path, an arch JSON path, or a zoo name -> (model, skeleton)."""
    from torch import nn

    from litepose.models.checkpoint import load_checkpoint
    from litepose.models.zoo import create_model, list_models

    if isinstance(spec, nn.Module):
        return spec, skeleton if skeleton is not None else getattr(spec, "skeleton", None)
    text = os.fspath(spec)
    path = Path(text)
    if path.is_file() and path.suffix.lower() != ".json":
        loaded = load_checkpoint(path)
        ck_sk = loaded.skeleton
        if skeleton is not None and ck_sk is not None and skeleton.num_keypoints != ck_sk.num_keypoints:
            raise ValueError(f"{path}: the checkpoint predicts {ck_sk.num_keypoints} keypoints, the skeleton "
                             f"{skeleton.name!r} has {skeleton.num_keypoints}")
        return loaded.model, skeleton if skeleton is not None else ck_sk
    if text in list_models() or (path.is_file() and path.suffix.lower() == ".json"):
        sk = skeleton if skeleton is not None else get_skeleton(17)
        model = create_model(text, num_keypoints=sk.num_keypoints)
        warnings.warn(
            f"{text}: no weights given, so the model has RANDOM weights and its predictions are meaningless "
            "(no released LitePose weights can be downloaded); pass a checkpoint trained with "
            "`litepose train` or converted with `litepose convert`", RandomWeightsWarning, stacklevel=3)
        return model, sk
    if path.suffix or os.sep in text or "/" in text:
        raise FileNotFoundError(f"{text}: no such checkpoint file")
    raise ValueError(f"unknown model {text!r}: not a checkpoint file nor a zoo name ({', '.join(list_models())})")


def _maps_module(torch_maps: bool) -> Any:
    """The maps functions: torch's (the torch backend) or the NumPy/OpenCV twins (exported models)."""
    if torch_maps:
        from litepose.decoding import maps
    else:
        from litepose.decoding import maps_numpy as maps
    return maps


def _inference_mode(torch_maps: bool) -> Any:
    """``torch.inference_mode()`` around the torch path; nothing (no torch import) for the others."""
    if not torch_maps:
        return contextlib.nullcontext()
    import torch

    return torch.inference_mode()


class _StageClock:
    """Adds the seconds since its previous mark to ``times[stage]`` at each mark; does nothing without ``times``."""

    def __init__(self, times: dict[str, float] | None) -> None:
        self.times = times
        self._last = time.perf_counter()

    def mark(self, stage: str) -> None:
        if self.times is not None:
            now = time.perf_counter()
            self.times[stage] = self.times.get(stage, 0.0) + (now - self._last)
            self._last = now


def _exported_file(spec: Any) -> Path | None:
    """``spec`` as a path when it names an exported model file (by suffix), else None."""
    if isinstance(spec, str | os.PathLike):
        path = Path(spec)
        if path.suffix.lower() in FILE_SUFFIXES:
            return path
    return None


class Predictor:
    """Multi-person pose prediction with the official test-time pipeline.

    Args:
        model_or_checkpoint: an ``nn.Module`` (a :class:`~litepose.models.LitePose`), the path of a
            project checkpoint (``litepose.save`` / ``litepose train``), a zoo name such as
            ``"litepose-s"`` (random weights, with a :class:`RandomWeightsWarning`), or an exported
            model file written by ``litepose export``: ``.onnx`` (onnxruntime) or ``.xml`` (OpenVINO
            IR), which also gives the skeleton, the input size and the normalisation.
        device: where a torch network runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``...); onnxruntime and
            OpenVINO run on the CPU.
        flip_test: also run the horizontally flipped image and average (official default: on).
        scales: test scales (official default ``(1.0,)``); with several, heatmaps are averaged over
            scales and the tags come from scale 1.0, which must then be among them. Any values in
            [0.25, 4], the largest at most 8 times the smallest, work: a scale whose resized input is
            not a multiple of 32 (the official code fails there) is warped into a black canvas padded
            to the next multiple of 32 on the right/bottom, and only the image part of its maps is
            used; scales without padding are computed exactly as the official code does.
        input_size: network input size (short side), 32 to 2048; default ``model.spec.input_size``
            (an exported file: the size it was exported for, its ``test_size``).
        skeleton: a :class:`Skeleton`, a built-in name/file, or a joint count; default: the
            checkpoint's (or exported file's) skeleton, else the built-in one with the model's joint
            count. For a zoo name it also fixes the joint count (default COCO-17).
        detection_threshold, tag_threshold, max_people, adjust, refine: grouping parameters
            (official values by default; see :func:`litepose.decode`).
        joint_order: the order in which the grouping visits joints: ``None`` or ``"official"``
            (the skeleton's ``group_order``, official parity), ``"anatomical"`` (the fix for the
            CrowdPose order, reference §8.10), or an explicit permutation.
        backend: the runtime of the network: ``"torch"`` (default for modules, checkpoints and zoo
            names), ``"onnxruntime"`` (default for ``.onnx``) or ``"openvino"`` (default for ``.xml``;
            it also reads ``.onnx``). A torch model on onnxruntime or OpenVINO is BatchNorm-folded and
            converted in memory once, with a dynamic input size.
        threads: intra-op threads of the runtime (torch: ``set_num_threads`` around each forward,
            restored after it); default: the runtime's own choice.

    Size limits: an image more than 6 times as long as it is wide (or the reverse) is padded with
    black at the right or bottom to 6:1, and an image whose input at the largest scale would exceed
    4096 px a side or 4 Mpx gets a smaller input size, each with a warning (see
    :func:`~litepose.inference.preprocess.plan_input`); other images follow the official pipeline.

    A file exported at a fixed input size (say 256x256) takes only inputs of that size, while the
    official resize gives each aspect ratio its own: each image is letterboxed into it (the largest
    input size whose resize fits, padded black on the right/bottom, the padding's maps cut off:
    :func:`~litepose.inference.preprocess.plan_fixed_input`). Export with a dynamic size for the
    official pipeline on every image. A backend that takes one image per call (a file exported with
    batch 1) runs the flip test as two calls.

    A module passed in is switched to eval mode and moved to ``device`` (in place, as
    ``module.to`` does). Everything runs under ``torch.inference_mode()``.

    Calling the predictor on an image (``(H, W, 3)`` uint8 RGB array, or grayscale/RGBA/16-bit;
    ``bgr=True`` for OpenCV arrays), a path, or a list of them returns a :class:`PoseResult` or a
    list of them.
    """

    def __init__(self, model_or_checkpoint: Any, device: str | torch.device = "cpu", flip_test: bool = True,
                 scales: Sequence[float] = (1.0,), input_size: int | None = None,
                 skeleton: Skeleton | str | int | None = None, detection_threshold: float = DETECTION_THRESHOLD,
                 tag_threshold: float = 1.0, max_people: int = 30, adjust: bool = True, refine: bool = True,
                 joint_order: str | Sequence[int] | None = None, backend: str | None = None,
                 threads: int | None = None) -> None:
        # Options first: a bad value is reported before a model is loaded.
        scale_list = check_predictor_options(scales=scales, input_size=input_size,
                                             detection_threshold=detection_threshold, tag_threshold=tag_threshold,
                                             max_people=max_people)
        check_backend(backend)
        if threads is not None and (isinstance(threads, bool) or int(threads) != threads or threads < 1):
            raise ValueError(f"threads must be a positive integer, got {threads}")
        exported = _exported_file(model_or_checkpoint)
        self.model: nn.Module | None = None
        if exported is not None:
            if str(device) != "cpu":
                raise ValueError(f"device {str(device)!r}: exported models run on the CPU (onnxruntime's CPU provider, "
                                 "OpenVINO's CPU plugin); use device='cpu'")
            self.device: str | torch.device = "cpu"
            self.backend: Backend = open_backend(exported, backend, threads=threads)
            sk = skeleton_for(self.backend.metadata, _resolve_skeleton(skeleton), str(exported))
            warning = getattr(self.backend, "precision_warning", None)
            if warning:
                warnings.warn(f"{exported}: {warning}", stacklevel=2)
        else:
            self.device = _resolve_device(device)
            model, sk_or_none = _load_model(model_or_checkpoint, _resolve_skeleton(skeleton))
            num_joints = int(getattr(model, "num_keypoints", 0) or 0)
            if sk_or_none is None:
                if not num_joints:
                    raise ValueError("cannot tell the model's joint count: pass skeleton=...")
                sk_or_none = get_skeleton(num_joints)
            sk = sk_or_none
            if num_joints and sk.num_keypoints != num_joints:
                raise ValueError(f"the model predicts {num_joints} keypoints but skeleton {sk.name!r} has "
                                 f"{sk.num_keypoints}")
            metadata = module_metadata(model, sk, test_size=input_size)
            if backend in (None, "torch"):
                self.backend = TorchBackend(model, metadata, device=self.device, threads=threads)
            else:
                if self.device.type != "cpu":
                    raise ValueError(f"device {str(self.device)!r}: the {backend} backend runs on the CPU; "
                                     "use device='cpu'")
                from litepose.runtime.from_torch import module_backend

                self.backend = module_backend(model.eval(), metadata, backend, threads=threads)
            self.model = model.eval().to(self.device)
        self.skeleton: Skeleton = sk
        self.num_joints = sk.num_keypoints
        size = input_size if input_size is not None else self.backend.metadata.test_size
        check_predictor_options(input_size=size)
        self.input_size = int(size)
        # Any scales in [MIN_TEST_SCALE, MAX_TEST_SCALE] work. The official sizes are multiples of 64 at
        # the smallest scale times s/min(scales), truncated; when one is not a multiple of 32 (which the
        # network needs, and where the official code fails, reference §8.15) that scale's input is
        # padded, see predict_maps.
        # Official order: largest scale first (only matters for float summation order).
        self.scales = tuple(sorted(scale_list, reverse=True))
        self.flip_test = bool(flip_test)
        self.detection_threshold = float(detection_threshold)
        self.tag_threshold = float(tag_threshold)
        self.max_people = int(max_people)
        self.adjust = bool(adjust)
        self.refine = bool(refine)
        self.joint_order = self._resolve_order(joint_order)
        # The NumPy maps of each scale, reused from image to image by predict_keypoints (see _predict_maps).
        self._map_buffers = [MapBuffers() for _ in self.scales]
        fixed_h, fixed_w = self.backend.input_size
        if (fixed_h, fixed_w) != (None, None):
            # Scales that cannot share a fixed input fail for every image: say so now (an image of the
            # input's own shape fits best).
            plan_fixed_input(fixed_w or 64, fixed_h or 64, self.input_size, self.scales, (fixed_h, fixed_w))

    def _resolve_order(self, joint_order: str | Sequence[int] | None) -> tuple[int, ...]:
        if joint_order is None or joint_order == "official":
            return tuple(self.skeleton.group_order)
        if joint_order == "anatomical":
            return tuple(self.skeleton.anatomical_order)
        if isinstance(joint_order, str):
            raise ValueError(f"joint_order {joint_order!r}: use 'official', 'anatomical' or a permutation")
        order = tuple(int(j) for j in joint_order)
        if sorted(order) != list(range(self.num_joints)):
            raise ValueError(f"joint_order must be a permutation of 0..{self.num_joints - 1}, got {list(order)}")
        return order

    def __repr__(self) -> str:
        return (f"Predictor(skeleton={self.skeleton.name!r}, input_size={self.input_size}, scales={self.scales}, "
                f"flip_test={self.flip_test}, backend={self.backend.name!r}, device={str(self.device)!r})")

    @overload
    def __call__(self, inputs: np.ndarray | str | os.PathLike[str], *, bgr: bool = ...,
                 keep_image: bool = ...) -> PoseResult: ...

    @overload
    def __call__(self, inputs: list[Any] | tuple[Any, ...], *, bgr: bool = ...,
                 keep_image: bool = ...) -> list[PoseResult]: ...

    def __call__(self, inputs: Any, *, bgr: bool = False, keep_image: bool = True) -> PoseResult | list[PoseResult]:
        """Predict the people in one image (array or path) or in a list of them.

        Args:
            inputs: an image array (RGB unless ``bgr``), an image path, or a list/tuple of those.
            bgr: arrays are in OpenCV's BGR order.
            keep_image: store the RGB image in the result (for :meth:`PoseResult.plot`).
        """
        if isinstance(inputs, list | tuple):
            return [self._predict_one(x, bgr=bgr, keep_image=keep_image) for x in inputs]
        return self._predict_one(inputs, bgr=bgr, keep_image=keep_image)

    def _predict_one(self, item: Any, *, bgr: bool, keep_image: bool) -> PoseResult:
        path: Path | None = None
        if isinstance(item, str | os.PathLike):
            path = Path(item)
            image = load_image(path)
        elif isinstance(item, np.ndarray):
            image = to_rgb_uint8(item, bgr=bgr)
        else:
            raise TypeError(f"expected an image array or a path, got {type(item).__name__}")
        keypoints, scores = self.predict_keypoints(image)
        return PoseResult(keypoints, scores, self.skeleton, image=image if keep_image else None, path=path)

    def predict_maps(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, ResizeMeta]:
        """The maps the grouping runs on, for one ``(H, W, 3)`` uint8 RGB image (reference §5.1-5.2).

        Returns:
            ``heatmaps`` ``(J, H_1, W_1)`` float32 and ``tags`` ``(J, H_1, W_1, L)`` float32 at the
            scale-1.0 resized-input resolution (``L = 2`` with flip test, else 1), and ``meta``, the
            resize of the **smallest** test scale: ``meta.to_original(points, W_1, H_1)`` maps map
            positions back to image pixels, the official ``get_final_preds`` call. (It equals inverting
            the scale-1.0 resize unless truncating a size to an integer changed its aspect ratio, which
            happens only at scales the official code cannot run; the difference is then below ~1/W_1
            of the image size.) An image beyond the size limits is first padded and/or given a smaller
            input size (:func:`~litepose.inference.preprocess.plan_input`, with a warning); the maps
            and ``meta`` then describe the padded image, whose pixel positions are the original's.
        """
        return self._predict_maps(image, reuse=False, clock=_StageClock(None))

    def _predict_maps(self, image: np.ndarray, *, reuse: bool,
                      clock: _StageClock) -> tuple[np.ndarray, np.ndarray, ResizeMeta]:
        """:meth:`predict_maps`; with ``reuse``, the NumPy maps are written into arrays this predictor keeps
        (:class:`~litepose.decoding.maps_numpy.MapBuffers`, one per scale) and returned as views of them,
        overwritten by the next call: for :meth:`predict_keypoints`, which decodes them at once. (Fresh
        multi-megabyte arrays per image cost their page faults and unmapping: with the maps stage's own
        arrays reused, an XS image at 256x256 without flip took 14 ms of CPU time on one thread instead of
        19.5, measured on a loaded 2-core machine.) A predictor is therefore not to be shared between threads."""
        plan = plan_input(image.shape[1], image.shape[0], self.input_size, self.scales)
        if plan.warning:
            warnings.warn(plan.warning, stacklevel=3)
        input_size = plan.input_size
        fixed = self.backend.input_size
        if fixed != (None, None):  # a network exported at a fixed input size: letterbox into it
            plan = plan_fixed_input(plan.width, plan.height, input_size, self.scales, fixed)
            input_size = plan.input_size
        image = pad_image(image, plan.width, plan.height)
        min_scale = min(self.scales)
        # Every scale's maps are projected to the scale-1.0 resized input (official `base_size`).
        base = test_resize_meta(plan.width, plan.height, input_size, 1.0, min_scale)
        project_to = (base.resized_h, base.resized_w)
        mean, std = self.backend.metadata.mean, self.backend.metadata.std
        torch_maps = isinstance(self.backend, TorchBackend)

        def buffers(k: int) -> dict[str, Any]:
            return {"buffers": self._map_buffers[k]} if reuse and not torch_maps else {}

        per_scale = []
        meta = base
        with _inference_mode(torch_maps):
            maps = _maps_module(torch_maps)
            for k, s in enumerate(self.scales):  # largest first, as the official loop; `meta` ends as the smallest's
                # pad_to=32 is a no-op for official (multiple-of-32) sizes; otherwise the image sits in
                # the top-left (H_r, W_r) of a black canvas and valid_size crops its maps back.
                x, meta = preprocess_numpy(image, input_size, s, min_scale, pad_to=_NET_MULTIPLE,
                                           canvas=None if fixed == (None, None) else fixed, mean=mean, std=std)
                clock.mark("preprocess")
                plain, flipped = self._forward(x)
                if clock.times is not None and torch_maps and str(self.device).startswith("cuda"):
                    import torch

                    torch.cuda.synchronize(self.device)  # the network's time, not queued kernels, goes to it
                clock.mark("network")
                per_scale.append((s, maps.outputs_to_maps(plain, self.num_joints, flip_outputs=flipped,
                                                          flip_index=self.skeleton.flip_index,
                                                          project_to=project_to,
                                                          valid_size=(meta.resized_h, meta.resized_w),
                                                          **buffers(k))))
                clock.mark("maps")
            heatmaps, tags = maps.aggregate_scales(per_scale)
            if torch_maps:
                heatmaps, tags = heatmaps.float().cpu().numpy(), tags.float().cpu().numpy()
        hm, tg = np.asarray(heatmaps, dtype=np.float32), np.asarray(tags, dtype=np.float32)
        if hm.ndim == 4:  # drop the batch axis of 1
            hm, tg = hm[0], tg[0]
        clock.mark("maps")
        return hm, tg, meta

    def _forward(self, x: np.ndarray) -> tuple[Any, Any]:
        """The network's outputs for the input ``x`` ``[1, 3, H, W]`` and, with flip test, for its mirror
        (``None`` without): tensors on the device from the torch backend, else arrays."""
        backend = self.backend
        if isinstance(backend, TorchBackend):
            import torch

            xt = torch.from_numpy(x).to(backend.device)
            if not self.flip_test:
                return backend.forward(xt), None
            # One batch of two: the plain and the mirrored image (BN is in eval mode). Mirroring a
            # padded canvas puts the padding on the left; flipping the outputs back realigns it.
            out = backend.forward(torch.cat([xt, torch.flip(xt, dims=[3])], dim=0))
            return type(out)(*(t[:1] for t in out)), type(out)(*(t[1:] for t in out))
        if not self.flip_test:
            return backend.run(x), None
        mirrored = np.ascontiguousarray(x[..., ::-1])
        if backend.max_batch is not None and backend.max_batch < 2:  # a file exported with batch 1
            return backend.run(x), backend.run(mirrored)
        stride4, stride2 = backend.run(np.concatenate([x, mirrored]))
        return (stride4[:1], stride2[:1]), (stride4[1:], stride2[1:])

    def predict_keypoints(self, image: np.ndarray, *,
                          stage_times: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The pipeline on one ``(H, W, 3)`` uint8 RGB image.

        Args:
            image: the image.
            stage_times: if given, the seconds spent in each of :data:`STAGES` are added to it
                (``preprocess``: planning, resize and normalisation; ``network``: the backend's forward,
                flipped pass included; ``maps``: stage averaging, flip merge, projection, scale
                aggregation; ``decode``: grouping and the mapping back to image pixels). Over several
                scales each stage sums its scales; the stages add up to the whole call.

        Returns:
            keypoints ``(N, J, 3)`` in original image pixels and scores ``(N,)``.
        """
        from litepose.decoding import decode

        clock = _StageClock(stage_times)
        hm, tg, meta = self._predict_maps(image, reuse=True, clock=clock)
        keypoints, scores = decode(hm, tg, detection_threshold=self.detection_threshold,
                                   tag_threshold=self.tag_threshold, max_people=self.max_people,
                                   adjust=self.adjust, refine=self.refine, joint_order=self.joint_order)
        keypoints = np.array(keypoints, dtype=np.float64).reshape(-1, self.num_joints, 3)
        if keypoints.shape[0]:
            # get_final_preds: the smallest scale's center/scale with the maps' size; the official code
            # writes the mapped positions into its float32 person arrays, hence the float32 rounding.
            xy = meta.to_original(keypoints[..., :2], hm.shape[2], hm.shape[1])
            keypoints[..., :2] = xy.astype(np.float32)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        clock.mark("decode")
        return keypoints, scores

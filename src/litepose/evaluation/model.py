"""Keypoint AP of a model on an annotated image folder: the one loop that ``litepose eval``, training
validation and the architecture search share.

:func:`evaluate_model` predicts every image listed in a COCO-format annotation file (read from
``image_dir/<file_name>``) with a :class:`~litepose.inference.predictor.Predictor` and scores the
results with :func:`~litepose.evaluation.coco.evaluate_coco`. Several processes can each predict one
shard of the images (``shard=(rank, world_size)``) and merge them through a ``gather`` function that
the caller supplies (training passes its ``torch.distributed`` object all-gather), so this package
needs nothing from ``litepose.training``.

``subset=N`` evaluates the first ``N`` images only, against ground truth cut to those images (so AP is
not diluted by images that were never predicted).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litepose.evaluation.coco import Kind, evaluate_coco

if TYPE_CHECKING:
    from torch import nn

    from litepose.inference.predictor import Predictor

__all__ = ["ModelEvaluation", "annotated_images", "evaluate_model", "predict_images", "subset_annotations"]

PathLike = str | os.PathLike[str]
Results = list[dict[str, Any]]


@dataclass(frozen=True)
class ModelEvaluation:
    """What :func:`evaluate_model` found.

    Attributes:
        results: the COCO keypoint results of every image (merged over the shards when gathered;
            this process's share otherwise).
        metrics: metric name -> value (see :func:`~litepose.evaluation.coco.evaluate_coco`); ``None``
            on every shard but the first, which alone evaluates.
        predicted: images this process predicted.
        skipped: one line per unreadable image this process skipped (``skip_unreadable=True``).
        seconds: wall time of this process's predictions.
    """

    results: Results
    metrics: dict[str, float] | None
    predicted: int
    skipped: tuple[str, ...]
    seconds: float


def annotated_images(ann_file: PathLike, image_dir: PathLike) -> list[tuple[int, Path]]:
    """``(image_id, image_dir/file_name)`` of the images listed in ``ann_file``, in its order.

    Raises:
        FileNotFoundError: no such annotation file.
        ValueError: not a JSON object with a non-empty ``images`` list of entries with ``id`` and
            ``file_name`` (the message names the file and the entry).
    """
    path = Path(ann_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such annotation file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read annotations ({err})") from None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list) or not images:
        raise ValueError(f"{path}: no 'images' list")
    pairs = []
    for entry in images:
        if not isinstance(entry, dict) or not entry.get("file_name") or "id" not in entry:
            raise ValueError(f"{path}: image entry without 'file_name' or 'id': {entry}")
        pairs.append((int(entry["id"]), Path(image_dir) / entry["file_name"]))
    return pairs


def subset_annotations(ann_file: PathLike, num_images: int, out_file: PathLike) -> Path:
    """Write the first ``num_images`` images of ``ann_file`` (and only their annotations) to ``out_file``."""
    from litepose.io import atomic_write_json

    data = json.loads(Path(ann_file).read_text())
    images = data["images"][:num_images]
    keep = {im["id"] for im in images}
    subset = {**data, "images": images, "annotations": [a for a in data["annotations"] if a["image_id"] in keep]}
    atomic_write_json(out_file, subset)
    return Path(out_file)


def predict_images(predictor: Predictor, images: Sequence[tuple[int, Path]], *, skip_unreadable: bool = False,
                   progress: bool = False, desc: str = "images") -> tuple[Results, list[str]]:
    """COCO keypoint results of ``(image_id, path)`` pairs, and one line per unreadable image skipped.

    Images are read with :func:`~litepose.inference.preprocess.load_image` (the one image reader).

    Raises:
        ValueError: an image cannot be read (unless ``skip_unreadable``); the message names its id
            and file.
    """
    from litepose.inference.preprocess import load_image

    results: Results = []
    skipped: list[str] = []
    iterator: Any = images
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(images, desc=desc, unit="img", file=sys.stderr, dynamic_ncols=True, leave=False)
    for image_id, path in iterator:
        try:
            image = load_image(path)
        except (OSError, ValueError) as err:
            if not skip_unreadable:
                raise ValueError(f"image id={image_id}: {err}") from None
            skipped.append(f"image id={image_id}: {err}")
            continue
        results += predictor(image, keep_image=False).to_coco(image_id)
    return results, skipped


def evaluate_model(model: nn.Module | Predictor | PathLike, ann_file: PathLike, image_dir: PathLike, *,
                   subset: int | None = None, subset_ann_file: PathLike | None = None, kind: Kind | None = None,
                   verbose: bool = False, skip_unreadable: bool = False, progress: bool = False,
                   desc: str = "evaluate", shard: tuple[int, int] = (0, 1),
                   gather: Callable[[Any], list[Any]] | None = None,
                   **predictor_options: Any) -> ModelEvaluation:
    """Predict the images of ``ann_file`` with ``model`` and score them.

    Args:
        model: a ready :class:`~litepose.inference.predictor.Predictor`, or a module (a
            :class:`~litepose.models.LitePose`): it is run by a ``Predictor(model, **predictor_options)``
            on the device it is on, in eval mode, then put back in the mode it was in; or the path of a
            checkpoint or an exported model (``.onnx``, ``.xml``: no torch needed), run by
            ``Predictor(path, **predictor_options)`` (``backend=`` and ``threads=`` among them).
        ann_file: COCO-format annotations (COCO person keypoints, CrowdPose or a custom skeleton).
        image_dir: the folder of its images (``file_name`` is relative to it).
        subset: evaluate the first ``subset`` images only.
        subset_ann_file: where the ground truth cut to ``subset`` is written (default: a temporary
            file, removed afterwards).
        kind, verbose: passed to :func:`~litepose.evaluation.coco.evaluate_coco`.
        skip_unreadable: skip (and report in :attr:`ModelEvaluation.skipped`) images that cannot be
            read, which then count as misses; by default an unreadable image is an error.
        progress: show a progress bar on stderr, labelled ``desc``.
        shard: ``(rank, world_size)``: this process predicts images ``rank::world_size``.
        gather: exchanges the shards' ``(results, error message or None)``: called on every process
            with its own pair, returns every process's in rank order (``None``: one process), e.g.
            ``torch.distributed.all_gather_object``. A shard that fails still takes part, and then
            every process raises.
        predictor_options: ``Predictor`` options when ``model`` is a module (``skeleton``,
            ``input_size``, ``flip_test``, ``detection_threshold``...).

    Raises:
        ValueError: an unreadable image (without ``skip_unreadable``), or none of this shard's images
            readable; and what :func:`annotated_images` and ``evaluate_coco`` raise.
    """
    rank, world_size = shard
    every = annotated_images(ann_file, image_dir)
    pairs = every[:subset]
    mine = pairs[rank::world_size]
    start = time.perf_counter()
    failure: ValueError | None = None
    try:
        with _predictor_for(model, predictor_options) as predictor:
            results, skipped = predict_images(predictor, mine, skip_unreadable=skip_unreadable,
                                              progress=progress, desc=desc)
        if mine and len(skipped) == len(mine):
            raise ValueError(f"{image_dir}: none of the {len(mine)} images of {ann_file} could be read "
                             f"({skipped[0]})")
    except ValueError as err:
        if gather is None:
            raise
        # Still take part in the gather: the other shards would otherwise wait in it for ever.
        failure, results, skipped = err, [], []
    seconds = time.perf_counter() - start
    if gather is not None:
        parts = gather((results, None if failure is None else str(failure)))
        if failure is not None:
            raise failure
        failed = [message for _, message in parts if message is not None]
        if failed:
            raise ValueError(f"another process could not evaluate its images: {failed[0]}")
        results = [r for part, _ in parts for r in part]
    metrics = None
    if rank == 0:
        cut = len(pairs) if len(pairs) < len(every) else None
        metrics = _evaluate(results, ann_file, cut, subset_ann_file, kind=kind, verbose=verbose)
    return ModelEvaluation(results, metrics, len(mine) - len(skipped), tuple(skipped), seconds)


@contextmanager
def _predictor_for(model: nn.Module | Predictor | PathLike, options: dict[str, Any]) -> Iterator[Predictor]:
    from litepose.inference.predictor import Predictor

    if isinstance(model, Predictor):
        if options:
            raise TypeError(f"evaluate_model: predictor options {sorted(options)} go with a module, "
                            "not with a ready Predictor")
        yield model
        return
    if isinstance(model, str | os.PathLike):  # a checkpoint or an exported file
        yield Predictor(model, **options)
        return
    was_training = model.training
    device = next((p.device for p in model.parameters()), "cpu")
    try:
        yield Predictor(model, device=device, **options)  # the Predictor switches the model to eval mode
    finally:
        model.train(was_training)


def _evaluate(results: Results, ann_file: PathLike, subset: int | None, subset_ann_file: PathLike | None, *,
              kind: Kind | None, verbose: bool) -> dict[str, float]:
    """``evaluate_coco`` against ``ann_file``, or against its first ``subset`` images."""
    if subset is None:
        return evaluate_coco(results, ann_file, kind=kind, verbose=verbose)
    if subset_ann_file is not None:
        cut = subset_annotations(ann_file, subset, subset_ann_file)
        return evaluate_coco(results, cut, kind=kind, verbose=verbose)
    with tempfile.TemporaryDirectory(prefix="litepose-eval-") as tmp:
        cut = subset_annotations(ann_file, subset, Path(tmp) / Path(ann_file).name)
        return evaluate_coco(results, cut, kind=kind, verbose=verbose)

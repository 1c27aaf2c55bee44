"""Test-time preprocessing: image loading and the official resize (reference §5.1).

The network sees the image warped by :func:`litepose.geometry.test_resize_meta`'s affine (short side to
``ceil64(input_size)``, long side padded to a multiple of 64, bilinear, black border), in RGB,
normalised with the ImageNet mean and std. The :class:`~litepose.geometry.ResizeMeta` returned with
every input maps decoded positions back to the original image.

Image arrays in this module are ``(H, W, 3)`` uint8 **RGB** unless stated otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from litepose.geometry import ResizeMeta, ceil_to_multiple, test_resize_meta

if TYPE_CHECKING:
    import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "load_image",
    "normalize_image",
    "preprocess",
    "preprocess_numpy",
    "to_rgb_uint8",
    "warp_to_input",
]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def to_rgb_uint8(image: np.ndarray, *, bgr: bool = False, source: str = "image") -> np.ndarray:
    """Bring any common image array to ``(H, W, 3)`` uint8 RGB.

    Handles grayscale ``(H, W)`` / ``(H, W, 1)``, gray+alpha ``(H, W, 2)``, colour ``(H, W, 3)`` and
    colour+alpha ``(H, W, 4)``; uint8, uint16 (scaled by 1/257, so 65535 -> 255), and float images
    (values in [0, 1] are scaled by 255, others clipped to [0, 255]). Alpha is dropped without
    compositing, as ``cv2.imread(IMREAD_COLOR)`` (what the official code reads images with) does.

    Args:
        image: the array.
        bgr: the colour channels are in OpenCV's BGR order (e.g. straight from ``cv2.imread``).
        source: how to name the image in error messages.

    Shapes:
        ``(H, W[, C])`` -> ``(H, W, 3)``.
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"{source}: expected an (H, W), (H, W, 1|2|3|4) image array, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"{source}: empty image of shape {img.shape}")
    if img.dtype == np.uint8:
        pass
    elif img.dtype == np.uint16:
        img = ((img.astype(np.float32) + 128.0) / 257.0).astype(np.uint8)
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif np.issubdtype(img.dtype, np.floating):
        f = np.nan_to_num(img.astype(np.float32))
        if f.size and float(f.max()) <= 1.0:
            f = f * 255.0
        img = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.integer):
        img = np.clip(img, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"{source}: unsupported image dtype {img.dtype}")
    channels = img.shape[2]
    if channels in (1, 2):  # gray, gray + alpha
        img = np.repeat(img[:, :, :1], 3, axis=2)
    else:
        img = img[:, :, :3]
        if bgr:
            img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    Decoded exactly as the official code reads images (``cv2.imread`` with ``IMREAD_COLOR |
    IMREAD_IGNORE_ORIENTATION``, then BGR -> RGB): EXIF orientation is ignored, because COCO-style
    annotations refer to the stored pixel grid; grayscale is replicated to three channels, alpha is
    dropped, and 16-bit files are reduced to 8 bits by OpenCV's decoder (PNG keeps the high byte).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty, corrupt, or in a format OpenCV cannot decode.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if not p.is_file():
        raise ValueError(f"{p}: not a file")
    # np.fromfile + imdecode instead of imread: works for non-ASCII paths and never prints warnings.
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as err:
        raise ValueError(f"{p}: cannot read file ({err.strerror or err})") from None
    if data.size == 0:
        raise ValueError(f"{p}: empty file")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as err:  # e.g. above OpenCV's pixel limit
        raise ValueError(f"{p}: cannot decode image ({str(err).strip().splitlines()[-1][:160]})") from None
    if img is None:
        raise ValueError(f"{p}: cannot decode image (corrupt, truncated, or not an image format OpenCV reads)")
    return to_rgb_uint8(img, bgr=True, source=str(p))


def warp_to_input(image: np.ndarray, input_size: int, scale_factor: float = 1.0,
                  min_scale: float = 1.0, *, pad_to: int | None = None) -> tuple[np.ndarray, ResizeMeta]:
    """The official test-time resize of an RGB image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        input_size: the model's input size (the short side becomes ``ceil64(input_size·min_scale)``
            at the smallest scale).
        scale_factor: this test scale; ``min_scale``: the smallest test scale.
        pad_to: if given, the canvas is enlarged on the right/bottom to the next multiple of
            ``pad_to`` (e.g. 32, what the network needs) and filled black; the image is warped with the
            same affine, so the top-left ``(H_r, W_r)`` block is exactly the unpadded warp.

    Returns:
        The warped ``(H_r, W_r, 3)`` uint8 image (``H_r``, ``W_r`` multiples of 64 at the smallest
        scale), or the padded canvas, and its :class:`ResizeMeta` (always the unpadded size).
    """
    h, w = image.shape[:2]
    meta = test_resize_meta(w, h, input_size, scale_factor, min_scale)
    out_w, out_h = meta.resized_w, meta.resized_h
    if pad_to is not None:
        if int(pad_to) < 1:
            raise ValueError(f"pad_to must be positive, got {pad_to}")
        out_w, out_h = ceil_to_multiple(out_w, int(pad_to)), ceil_to_multiple(out_h, int(pad_to))
    # Bilinear with a black constant border: cv2.warpAffine's defaults, which the official code uses.
    # Each output pixel depends only on its own position, so a larger canvas leaves the others unchanged.
    warped = cv2.warpAffine(image, meta.matrix, (out_w, out_h),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return warped, meta


def normalize_image(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32, ``(x/255 - mean)/std`` (ToTensor + Normalize)."""
    x = image.astype(np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess_numpy(image: np.ndarray, input_size: int, scale_factor: float = 1.0,
                     min_scale: float = 1.0, *, pad_to: int | None = None) -> tuple[np.ndarray, ResizeMeta]:
    """Torch-free preprocessing (e.g. for onnxruntime): the batch ``(1, 3, H, W)`` float32 and its meta.

    ``pad_to`` as in :func:`warp_to_input` (the batch is then the padded canvas).
    """
    warped, meta = warp_to_input(to_rgb_uint8(image), input_size, scale_factor, min_scale, pad_to=pad_to)
    return normalize_image(warped)[None], meta


def preprocess(image: np.ndarray, input_size: int, scale_factor: float = 1.0,
               min_scale: float = 1.0, *, pad_to: int | None = None) -> tuple[torch.Tensor, ResizeMeta]:
    """Preprocess an RGB image for the network.

    Returns:
        The tensor ``(1, 3, H_r, W_r)`` float32 (the padded canvas with ``pad_to``, see
        :func:`warp_to_input`) and the :class:`ResizeMeta` of the resize.
    """
    import torch

    batch, meta = preprocess_numpy(image, input_size, scale_factor, min_scale, pad_to=pad_to)
    return torch.from_numpy(batch), meta

"""Test-time preprocessing: image loading and the official resize (reference §5.1).

The network sees the image warped by :func:`litepose.geometry.test_resize_meta`'s affine (short side to
``ceil64(input_size)``, long side padded to a multiple of 64, bilinear, black border), in RGB,
normalised with the ImageNet mean and std. The :class:`~litepose.geometry.ResizeMeta` returned with
every input maps decoded positions back to the original image.

Image arrays in this module are ``(H, W, 3)`` uint8 **RGB** unless stated otherwise.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
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
    "MAX_ASPECT_RATIO",
    "MAX_INPUT_PIXELS",
    "MAX_INPUT_SIDE",
    "MAX_INPUT_SIZE",
    "MAX_SCALE_RATIO",
    "MAX_TEST_SCALE",
    "MIN_INPUT_SIZE",
    "MIN_TEST_SCALE",
    "InputPlan",
    "load_image",
    "normalize_image",
    "pad_image",
    "plan_fixed_input",
    "plan_input",
    "preprocess",
    "preprocess_numpy",
    "to_rgb_uint8",
    "warp_to_input",
]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

# Bounds on what the network is given, so that no image and no option can exhaust time or memory
# (at default settings LitePose-XS then needs at most ~0.3 s and ~0.7 GB per image on 2 CPU cores).
# Test scales and the input size are checked once, as options; an image whose network input would
# still be too large is padded or given a smaller input size, with a warning (see plan_input).
MIN_TEST_SCALE = 0.25
MAX_TEST_SCALE = 4.0
MAX_SCALE_RATIO = 8.0  # largest / smallest test scale
MIN_INPUT_SIZE = 32
MAX_INPUT_SIZE = 2048
MAX_ASPECT_RATIO = 6.0  # long side / short side of an image; beyond it the image is padded
MAX_INPUT_SIDE = 4096  # px, any side of the network input at any scale
MAX_INPUT_PIXELS = 4096 * 1024  # px, the network input at any scale


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
    """Read an image file as ``(H, W, 3)`` uint8 RGB: the one image reader of prediction, evaluation and training.

    Decoded exactly as the official code reads images (``cv2.imread`` with ``IMREAD_COLOR |
    IMREAD_IGNORE_ORIENTATION``, then BGR -> RGB): EXIF orientation is ignored, because COCO-style
    annotations refer to the stored pixel grid; grayscale is replicated to three channels, alpha is
    dropped, and 16-bit files are reduced to 8 bits by OpenCV's decoder (PNG keeps the high byte).
    A truncated JPEG or PNG is an error, never a partly grey image (``cv2.imread`` returns those with
    a printed warning only).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty, truncated, corrupt, or in a format OpenCV cannot decode; the
            message (one line) names the file.
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
    truncated = _truncation(data)
    if truncated:
        raise ValueError(f"{p}: cannot decode image (truncated: {truncated})")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as err:  # e.g. above OpenCV's pixel limit
        raise ValueError(f"{p}: cannot decode image ({str(err).strip().splitlines()[-1][:160]})") from None
    if img is None:
        raise ValueError(f"{p}: cannot decode image (corrupt, truncated, or not an image format OpenCV reads)")
    return to_rgb_uint8(img, bgr=True, source=str(p))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _truncation(data: np.ndarray) -> str | None:
    """Why the encoded JPEG or PNG ``data`` is cut short, or ``None`` (other formats are not checked).

    Whether a decoder rejects a truncated file depends on the OpenCV build (``imread`` fills the
    missing rows with grey and prints a warning), so the end markers are checked on the bytes.
    """
    raw = data.tobytes()
    if raw.startswith(b"\xff\xd8"):
        return _jpeg_truncation(raw)
    if raw.startswith(_PNG_SIGNATURE) and raw.rfind(b"IEND") < 0:
        return "a PNG without its IEND chunk"
    return None


def _jpeg_truncation(raw: bytes) -> str | None:
    """A JPEG must hold an end-of-image marker (FFD9) after its first scan.

    The header segments are skipped by their lengths, so an EXIF thumbnail (a whole JPEG inside the
    APP1 segment, with its own end marker) is not mistaken for the image's end; bytes after the end
    marker (which some cameras append) are allowed. Entropy-coded data cannot contain FFD9 (every FF
    byte there is followed by 00 or a restart marker), so the first FFD9 after the scan is the end.
    """
    pos = 2
    while pos + 4 <= len(raw):
        if raw[pos] != 0xFF:
            return None  # not a marker where one belongs: leave the verdict to the decoder
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0xDA:  # start of scan
            return None if raw.find(b"\xff\xd9", pos) >= 0 else "a JPEG without its end-of-image marker"
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
        else:
            pos += 2 + int.from_bytes(raw[pos + 2:pos + 4], "big")
    return "a JPEG that ends inside its headers"


@dataclass(frozen=True)
class InputPlan:
    """How one image goes to the network within the size limits (see :func:`plan_input`).

    Attributes:
        width, height: the image size after padding (the original size when no padding is needed).
        input_size: the input size to use for this image (the requested one unless it was lowered).
        warning: why the image is not processed as requested (one line), else ``None``.
    """

    width: int
    height: int
    input_size: int
    warning: str | None = None


def plan_input(width: int, height: int, input_size: int, scales: Sequence[float]) -> InputPlan:
    """Fit one image's network inputs into the limits; a no-op (official pipeline) for ordinary images.

    1. An image more than :data:`MAX_ASPECT_RATIO` times as long as it is wide (or the reverse) is
       padded with black on the right or at the bottom to that ratio: resizing its short side to the
       input size would otherwise make the long side explode (a 2x1000 image became 256x128000).
       Positions on the padded image are positions on the original (the padding is right/bottom).
    2. If any scale's input (:func:`~litepose.geometry.test_resize_meta`) would still exceed
       :data:`MAX_INPUT_SIDE` on a side or :data:`MAX_INPUT_PIXELS` in area, the input size is
       lowered for this image until every scale fits.

    Step 2 always succeeds for scales that :func:`~litepose.inference.predictor.check_predictor_options`
    accepts (largest / smallest <= :data:`MAX_SCALE_RATIO`): at the smallest input size the smallest
    scale's input is 64 px by at most 64·6 = 384 px, so the largest is at most 512x3072 px.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    notes = []
    padded_w, padded_h = width, height
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        if width > height:
            padded_h = math.ceil(width / MAX_ASPECT_RATIO)
        else:
            padded_w = math.ceil(height / MAX_ASPECT_RATIO)
        notes.append(f"more than {MAX_ASPECT_RATIO:g}:1, padded to {padded_w}x{padded_h} with black")
    min_scale, max_scale = min(scales), max(scales)
    # Below this size the smallest scale's short side would round to 0 px instead of 64.
    smallest = math.ceil(1.0 / min_scale)
    size = int(input_size)
    while True:
        # The largest scale has the largest input (sides grow with the scale).
        meta = test_resize_meta(padded_w, padded_h, size, max_scale, min_scale)
        side, pixels = max(meta.resized_w, meta.resized_h), meta.resized_w * meta.resized_h
        if side <= MAX_INPUT_SIDE and pixels <= MAX_INPUT_PIXELS:
            break
        if size <= smallest:
            raise ValueError(f"image {width}x{height}: no input size fits the limits at scales {list(scales)}")
        if size == input_size:
            notes.append(f"its {max_scale:g}x input ({meta.resized_w}x{meta.resized_h}) would exceed "
                         f"{MAX_INPUT_SIDE} px a side or {MAX_INPUT_PIXELS / 2**20:g} Mpx")
        # Input sides grow linearly with the input size: shrink in proportion, then step down past rounding.
        shrink = min(MAX_INPUT_SIDE / side, math.sqrt(MAX_INPUT_PIXELS / pixels))
        size = max(smallest, min(size - 1, int(size * shrink)))
    if size != input_size:
        notes.append(f"input size lowered from {input_size} to {size}")
    warning = f"image {width}x{height}: " + "; ".join(notes) if notes else None
    return InputPlan(padded_w, padded_h, size, warning)


def plan_fixed_input(width: int, height: int, input_size: int, scales: Sequence[float],
                     fixed: tuple[int | None, int | None]) -> InputPlan:
    """Fit one image to a network exported at a fixed input size ``fixed = (H, W)`` (``None``: a free side).

    The official resize cannot give every image the same input size (the long side follows the aspect
    ratio), so the image is letterboxed: the largest input size up to ``input_size`` whose resized
    input fits ``fixed`` at every test scale is used, and the input is padded with black on the
    right/bottom to ``fixed`` (:func:`warp_to_input` ``canvas``), exactly as the Predictor pads sizes
    that are not multiples of 32: the maps of the padding are cut off (``valid_size``). An image whose
    aspect ratio does not fit even at the smallest size (64 px short side) is first padded with black
    on the right or bottom to the aspect ratio of ``fixed`` (square when a side is free). Images whose
    resized input already fits are processed exactly as by a network with a free input size.

    Raises:
        ValueError: the test scales span more than ``fixed`` allows (e.g. scales 1 and 2 on a 64x64 input).
    """
    fixed_h, fixed_w = fixed
    min_scale = min(scales)

    def fits(w: int, h: int, size: int) -> bool:
        for s in scales:
            meta = test_resize_meta(w, h, size, s, min_scale)
            if (fixed_h is not None and meta.resized_h > fixed_h) or (fixed_w is not None and meta.resized_w > fixed_w):
                return False
        return True

    def largest(w: int, h: int) -> int | None:
        size = int(input_size)
        while not fits(w, h, size):
            base = ceil_to_multiple(size * min_scale, 64)  # the short side at the smallest scale
            size = int((base - 64) / min_scale)  # the largest size whose short side is one step down
            if base <= 64 or size < 1:
                return None
        return size

    size = largest(width, height)
    padded_w, padded_h = width, height
    if size is None:
        aspect = fixed_w / fixed_h if fixed_w is not None and fixed_h is not None else 1.0
        if width > aspect * height:
            padded_h = math.ceil(width / aspect)
        else:
            padded_w = math.ceil(height * aspect)
        size = largest(padded_w, padded_h)
    if size is None:
        sides = "x".join("any" if s is None else str(s) for s in (fixed_w, fixed_h))
        raise ValueError(f"the network takes a fixed {sides} input, too small for test scales {list(scales)} "
                         "(use one scale, or a model exported with a dynamic or larger input)")
    return InputPlan(padded_w, padded_h, size)


def pad_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` on a black ``(height, width)`` canvas at the top-left (unchanged if already that size)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if width < w or height < h:
        raise ValueError(f"pad_image: cannot pad a {w}x{h} image to {width}x{height}")
    canvas = np.zeros((height, width, *image.shape[2:]), dtype=image.dtype)
    canvas[:h, :w] = image
    return canvas


def warp_to_input(image: np.ndarray, input_size: int, scale_factor: float = 1.0,
                  min_scale: float = 1.0, *, pad_to: int | None = None,
                  canvas: tuple[int | None, int | None] | None = None) -> tuple[np.ndarray, ResizeMeta]:
    """The official test-time resize of an RGB image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        input_size: the model's input size (the short side becomes ``ceil64(input_size·min_scale)``
            at the smallest scale).
        scale_factor: this test scale; ``min_scale``: the smallest test scale.
        pad_to: if given, the canvas is enlarged on the right/bottom to the next multiple of
            ``pad_to`` (e.g. 32, what the network needs) and filled black; the image is warped with the
            same affine, so the top-left ``(H_r, W_r)`` block is exactly the unpadded warp.
        canvas: ``(H, W)`` sides the canvas must have (a network exported at a fixed input size); a
            ``None`` side follows ``pad_to``. The image is placed as with ``pad_to``; a side smaller
            than the resized image is a ``ValueError``.

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
    if canvas is not None:
        fixed_h, fixed_w = canvas
        if (fixed_h is not None and fixed_h < meta.resized_h) or (fixed_w is not None and fixed_w < meta.resized_w):
            raise ValueError(f"the resized image ({meta.resized_w}x{meta.resized_h}) does not fit the fixed "
                             f"input {fixed_w or out_w}x{fixed_h or out_h}")
        out_h = out_h if fixed_h is None else int(fixed_h)
        out_w = out_w if fixed_w is None else int(fixed_w)
    # Bilinear with a black constant border: cv2.warpAffine's defaults, which the official code uses.
    # Each output pixel depends only on its own position, so a larger canvas leaves the others unchanged.
    warped = cv2.warpAffine(image, meta.matrix, (out_w, out_h),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return warped, meta


def normalize_image(image: np.ndarray, mean: Sequence[float] | np.ndarray = IMAGENET_MEAN,
                    std: Sequence[float] | np.ndarray = IMAGENET_STD) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32, ``(x/255 - mean)/std`` (ToTensor + Normalize; the
    ImageNet mean and std unless an exported model names others)."""
    return _normalize_into(image, np.empty((3, *image.shape[:2]), dtype=np.float32), mean, std)


def _normalize_into(image: np.ndarray, out: np.ndarray, mean: Sequence[float] | np.ndarray,
                    std: Sequence[float] | np.ndarray) -> np.ndarray:
    """:func:`normalize_image` written into ``out`` ``(3, H, W)`` float32, plane by plane.

    The same float32 operations in the same order as ``((x / 255) - mean) / std`` on the interleaved
    image (bit-identical), in place on each contiguous plane: one pass to convert and three in-place
    passes per plane instead of full-image temporaries and a transpose (0.07 ms against 0.55 ms for a
    256x256 input here).
    """
    mean32 = np.asarray(mean, dtype=np.float32).reshape(3)
    std32 = np.asarray(std, dtype=np.float32).reshape(3)
    for c in range(3):
        plane = out[c]
        plane[...] = image[:, :, c]
        plane /= np.float32(255.0)
        plane -= mean32[c]
        plane /= std32[c]
    return out


def preprocess_numpy(image: np.ndarray, input_size: int, scale_factor: float = 1.0,
                     min_scale: float = 1.0, *, pad_to: int | None = None,
                     canvas: tuple[int | None, int | None] | None = None,
                     mean: Sequence[float] | np.ndarray = IMAGENET_MEAN,
                     std: Sequence[float] | np.ndarray = IMAGENET_STD) -> tuple[np.ndarray, ResizeMeta]:
    """The network input of an RGB image without torch: the batch ``(1, 3, H, W)`` float32 and its meta.

    ``pad_to`` and ``canvas`` as in :func:`warp_to_input` (the batch is then the padded canvas);
    ``mean`` and ``std`` as in :func:`normalize_image`.
    """
    warped, meta = warp_to_input(to_rgb_uint8(image), input_size, scale_factor, min_scale, pad_to=pad_to,
                                 canvas=canvas)
    return normalize_image(warped, mean, std)[None], meta


def preprocess(image: np.ndarray, input_size: int, scale_factor: float = 1.0,
               min_scale: float = 1.0, *, pad_to: int | None = None) -> tuple[torch.Tensor, ResizeMeta]:
    """:func:`preprocess_numpy` as a torch tensor ``(1, 3, H_r, W_r)`` float32, with its :class:`ResizeMeta`."""
    import torch

    batch, meta = preprocess_numpy(image, input_size, scale_factor, min_scale, pad_to=pad_to)
    return torch.from_numpy(batch), meta

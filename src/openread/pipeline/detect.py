"""Stage 2: image -> text regions (PP-OCRv6 DB text detector).

The image is scaled by one factor (shorter side up to ``min_side`` for small images, but at
most ``max_upscale`` times; longer side down to ``max_side`` and area down to ``max_pixels``
for large ones), padded to a multiple of 32 (never stretched), run through the detector, and
the probability map is turned into rotated rectangles (minimum-area boxes around the connected
text kernels, expanded by the DB unclip offset). The single place where detector coordinates
are mapped back to image pixels is ``_to_image``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import pyclipper

from ..models import OnnxModel

__all__ = ["DetectOptions", "TextRegion", "detect"]

Quad = npt.NDArray[np.float32]
"""Shape (4, 2), float32, (x, y) image pixels, clockwise on screen from top-left."""


_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class DetectOptions:
    min_side: int = 736
    max_side: int = 2000
    max_upscale: float = 3.0
    """Small images are enlarged at most this many times towards ``min_side``: a 325x80 label
    is read at 975x240, not 2000x492. Measured ad hoc (docs/performance.md) on 121 label-sized
    crops of icdar15, FUNSD and SROIE (with the pixel budget below): bag-of-words F1
    0.527/0.867 at 3x, 0.529/0.857 at 2x, 0.522/0.871 unbounded; end-to-end word H-mean
    0.587/0.826, 0.566/0.827, 0.555/0.835; median latency 331/513 ms, 179/369 ms, 420/579 ms.
    Not 2x: a rendered 578x159 Hebrew line is then
    read by PP-OCR as word-shaped Latin junk and never handed to the Hebrew model."""
    max_pixels: int = 1_048_576
    """At most this many pixels (1024 x 1024) reach the detector: a large page is scaled down
    to fit, which bounds the cost and memory of detection. Photos up to 1312x736 and every line
    image stay as they are. Measured on the dev set against no budget (max_side 2000 alone):
    receipts (SROIE) page CER 0.217 vs 0.220, BoW F1 0.934 vs 0.927 (line e2e 0.788 vs 0.796),
    French handwriting CER 0.470 vs 0.493, English 0.556 vs 0.555, Devanagari signs e2e 0.296 vs
    0.279, in 0.56-0.78x the time on those pages; a 1280 px longest side instead cost icdar15
    photos 0.007 and Cyrillic lines 0.15 CER."""
    max_aspect: float = 8.0
    """Images wider (or taller) than this ratio are padded, so the detector sees context."""
    thresh: float = 0.3
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    max_candidates: int = 1000
    min_box_side: float = 3.0
    imagenet_norm: bool = False
    """Pixels normalised with ImageNet's mean and std per channel (PaddleOCR's own convention,
    ``inference.yml``) instead of to [-1, 1] (RapidOCR's, used for the small detector)."""

    def __post_init__(self) -> None:
        if not 32 <= self.min_side <= self.max_side:
            raise ValueError("need 32 <= min_side <= max_side")
        if not (0 < self.thresh < 1 and 0 < self.box_thresh < 1 and self.unclip_ratio > 0):
            raise ValueError("thresholds must be in (0, 1) and unclip_ratio > 0")


@dataclass(frozen=True, slots=True)
class TextRegion:
    """A detected text region: a rotated rectangle in image pixels, and the detector's mean
    probability inside it."""

    quad: Quad
    score: float


@dataclass(frozen=True, slots=True)
class _Scaled:
    tensor: npt.NDArray[np.float32]  # (1, 3, H32, W32), normalised to [-1, 1]
    scale: float  # detector pixels per image pixel


def detect(
    model: OnnxModel, pixels: npt.NDArray[np.uint8], options: DetectOptions = DetectOptions()
) -> tuple[TextRegion, ...]:
    """Text regions in ``pixels`` (H, W, 3) uint8 BGR, in no particular order."""
    height, width = pixels.shape[:2]
    scaled = _prepare(pixels, options)
    probability = model.run(scaled.tensor)[0, 0]
    regions = []
    for box, score in _boxes(probability, options):
        quad = _to_image(box, scaled.scale, width, height)
        if min(_side_lengths(quad)) > options.min_box_side:
            regions.append(TextRegion(quad, score))
    return tuple(regions)


def _prepare(pixels: npt.NDArray[np.uint8], options: DetectOptions) -> _Scaled:
    height, width = pixels.shape[:2]
    scale = min(1.0, options.max_side / max(height, width))
    if min(height, width) * scale < options.min_side:
        scale = min(
            options.min_side / min(height, width),
            options.max_side / max(height, width),
            max(1.0, options.max_upscale),
        )
    if width * height * scale * scale > options.max_pixels:
        scale = math.sqrt(options.max_pixels / (width * height))
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    resized = cv2.resize(pixels, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    # very elongated images get room around them (the detector needs context), then every
    # side is padded up to a multiple of 32; padding is at the bottom/right so (0, 0) stays put
    pad_h = max(new_h, int(new_w / options.max_aspect))
    pad_w = max(new_w, int(new_h / options.max_aspect))
    out_h = -(-pad_h // 32) * 32
    out_w = -(-pad_w // 32) * 32
    if options.imagenet_norm:  # channels in the image's (BGR) order, as PaddleOCR applies them
        scale_c = 1.0 / (255.0 * _IMAGENET_STD)
        shift_c = -_IMAGENET_MEAN / _IMAGENET_STD
    else:
        scale_c = np.full(3, 2.0 / 255.0, dtype=np.float32)
        shift_c = np.full(3, -1.0, dtype=np.float32)
    tensor = np.empty((out_h, out_w, 3), dtype=np.float32)
    tensor[:] = shift_c  # padding is black
    tensor[:new_h, :new_w] = resized.astype(np.float32) * scale_c + shift_c
    return _Scaled(tensor.transpose(2, 0, 1)[None].copy(), scale)


def _boxes(
    probability: npt.NDArray[np.float32], options: DetectOptions
) -> list[tuple[npt.NDArray[np.float32], float]]:
    binary = (probability > options.thresh).astype(np.uint8)
    bitmap = np.asarray(cv2.dilate(binary, np.ones((2, 2), dtype=np.uint8)), dtype=np.uint8)
    contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for contour in contours[: options.max_candidates]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < options.min_box_side:
            continue
        points = cv2.boxPoints(rect).astype(np.float32)
        score = _mean_inside(probability, points)
        if score < options.box_thresh:
            continue
        expanded = _unclip(points, options.unclip_ratio)
        if expanded is None:
            continue
        rect = cv2.minAreaRect(expanded)
        if min(rect[1]) < options.min_box_side + 2:
            continue
        found.append((cv2.boxPoints(rect).astype(np.float32), score))
    return found


def _mean_inside(probability: npt.NDArray[np.float32], points: npt.NDArray[np.float32]) -> float:
    h, w = probability.shape
    x0 = int(np.clip(np.floor(points[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(points[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(points[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(points[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = (points - np.array([x0, y0], dtype=np.float32)).astype(np.int32)
    cv2.fillPoly(mask, [shifted], 1)
    return float(cv2.mean(probability[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(points: npt.NDArray[np.float32], ratio: float) -> npt.NDArray[np.float32] | None:
    area = float(cv2.contourArea(points))
    perimeter = float(cv2.arcLength(points, True))
    if perimeter <= 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(points.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(area * ratio / perimeter)
    if len(paths) != 1:
        return None
    return np.asarray(paths[0], dtype=np.float32).reshape(-1, 1, 2)


def _to_image(box: npt.NDArray[np.float32], scale: float, width: int, height: int) -> Quad:
    """Detector pixels -> image pixels, clipped to the image, ordered clockwise from the
    top-left corner as seen on screen."""
    quad = box / scale
    quad[:, 0] = np.clip(quad[:, 0], 0, width - 1)
    quad[:, 1] = np.clip(quad[:, 1], 0, height - 1)
    return _order_clockwise(quad)


def _order_clockwise(points: npt.NDArray[np.float32]) -> Quad:
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def _side_lengths(quad: Quad) -> tuple[float, float]:
    width = float(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = float(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    return width, height

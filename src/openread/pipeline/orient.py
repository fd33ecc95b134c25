"""Stage 3: text regions -> oriented line crops.

A region's quad is ordered clockwise from its top-left corner *on screen*. Text inside it can
run in one of four directions; turning the text upright is a cyclic shift of the quad's corners
plus the matching quarter turn of the crop:

    k = 0  upright                       quad [tl, tr, br, bl]  crop as warped
    k = 1  rotated 90° clockwise         quad [tr, br, bl, tl]  crop turned 90° counter-clockwise
    k = 2  upside down                   quad [br, bl, tl, tr]  crop turned 180°
    k = 3  rotated 90° counter-clockwise quad [bl, tl, tr, br]  crop turned 90° clockwise

so a ``LineCrop``'s quad always starts at the text's own top-left corner and its pixels always
show the text upright when the guess is right. This module proposes the likely directions
(the first is the preferred one); the recognizer reads the candidates and keeps the reading it
is most confident in, so a wrong guess by the line classifier cannot damage correct text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from ..models import OnnxModel
from .detect import TextRegion

__all__ = [
    "LineCrop",
    "OrientOptions",
    "OrientedRegion",
    "orient",
    "page_turn",
    "turn_image",
    "unturn_points",
    "warp",
]


@dataclass(frozen=True, slots=True)
class OrientOptions:
    vertical_aspect: float = 1.5
    """A region this many times taller than wide holds rotated (or vertical) text."""
    flip_probability: float = 0.9
    """Line-classifier probability of 180° above which the upside-down reading is also tried."""
    classifier_width: int = 192
    classifier_height: int = 48
    classifier_batch: int = 32
    """Crops per classifier call (bounded, so a page of many lines needs no larger buffers)."""


@dataclass(frozen=True, slots=True)
class LineCrop:
    """One reading direction of a region.

    ``quad``: shape (4, 2) float32, image pixels, clockwise from the text's own top-left corner.
    ``pixels``: shape (h, w, 3) uint8 BGR, the region warped so the text runs left to right
    (if this direction is the right one); ``pixels`` column 0 lies on edge quad[0]-quad[3].
    """

    quad: npt.NDArray[np.float32]
    pixels: npt.NDArray[np.uint8]
    turn: int


@dataclass(frozen=True, slots=True)
class OrientedRegion:
    """A region with its candidate reading directions, the preferred one first.

    ``always_compare``: the alternatives must be read too (rotated regions, or the line
    classifier saw upside-down text); otherwise they are read only when the first reading is
    poor."""

    region: TextRegion
    candidates: tuple[LineCrop, ...]
    always_compare: bool

    @property
    def preferred(self) -> LineCrop:
        return self.candidates[0]


def orient(
    classifier: OnnxModel,
    pixels: npt.NDArray[np.uint8],
    regions: Sequence[TextRegion],
    options: OrientOptions = OrientOptions(),
) -> tuple[OrientedRegion, ...]:
    """Candidate reading directions for every region (same order as ``regions``)."""
    upright = [warp(pixels, region.quad) for region in regions]
    vertical = [_is_vertical(crop, options) for crop in upright]
    flip_scores = _flip_probabilities(
        classifier, [c for c, v in zip(upright, vertical, strict=True) if not v], options
    )
    flips = iter(flip_scores)
    oriented = []
    for region, crop, is_vertical in zip(regions, upright, vertical, strict=True):
        turns: tuple[int, ...]
        if is_vertical:
            turns = (1, 3, 0)
            compare = True
        else:
            turns = (0, 2)
            compare = next(flips) >= options.flip_probability
        candidates = tuple(_turned(region.quad, crop, k) for k in turns)
        oriented.append(OrientedRegion(region, candidates, compare))
    return tuple(oriented)


def warp(pixels: npt.NDArray[np.uint8], quad: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The part of ``pixels`` inside ``quad`` (clockwise from its top-left corner), warped to
    an upright rectangle (h, w, 3) uint8."""
    width = max(1, round(max(_dist(quad[0], quad[1]), _dist(quad[3], quad[2]))))
    height = max(1, round(max(_dist(quad[0], quad[3]), _dist(quad[1], quad[2]))))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    warped = cv2.warpPerspective(
        pixels, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)


def _dist(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    return math.hypot(float(a[0] - b[0]), float(a[1] - b[1]))


def _is_vertical(crop: npt.NDArray[np.uint8], options: OrientOptions) -> bool:
    return bool(crop.shape[0] >= options.vertical_aspect * crop.shape[1])


def _turned(quad: npt.NDArray[np.float32], crop: npt.NDArray[np.uint8], turn: int) -> LineCrop:
    return LineCrop(
        quad=np.ascontiguousarray(np.roll(quad, -turn, axis=0)),
        pixels=np.ascontiguousarray(np.rot90(crop, turn)),
        turn=turn,
    )


def _flip_probabilities(
    classifier: OnnxModel, crops: Sequence[npt.NDArray[np.uint8]], options: OrientOptions
) -> list[float]:
    """Probability that each (horizontal) crop shows upside-down text."""
    if not crops:
        return []
    flips: list[float] = []
    for start in range(0, len(crops), options.classifier_batch):
        chunk = crops[start : start + options.classifier_batch]
        batch = np.stack([_classifier_input(crop, options) for crop in chunk])
        flips.extend(float(p) for p in classifier.run(batch)[:, 1])
    return flips


def _classifier_input(
    crop: npt.NDArray[np.uint8], options: OrientOptions
) -> npt.NDArray[np.float32]:
    height, width = options.classifier_height, options.classifier_width
    resized_w = min(width, max(1, math.ceil(height * crop.shape[1] / crop.shape[0])))
    resized = cv2.resize(crop, (resized_w, height)).astype(np.float32)
    tensor = np.zeros((3, height, width), dtype=np.float32)
    tensor[:, :, :resized_w] = (resized * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
    return tensor


def page_turn(turns_and_weights: Sequence[tuple[int, float]], majority: float = 0.6) -> int:
    """The quarter turn that makes the page upright, from the turns its lines were read in
    (each weighted, e.g. by its number of characters): the turn a clear ``majority`` of the
    weight agrees on, else 0 (an upright page, or a page that mixes directions)."""
    total = sum(weight for _, weight in turns_and_weights)
    if total <= 0:
        return 0
    by_turn: dict[int, float] = {}
    for turn, weight in turns_and_weights:
        by_turn[turn % 4] = by_turn.get(turn % 4, 0.0) + weight
    turn, weight = max(by_turn.items(), key=lambda item: item[1])
    return turn if weight >= majority * total else 0


def turn_image(pixels: npt.NDArray[np.uint8], turn: int) -> npt.NDArray[np.uint8]:
    """The image turned by ``turn`` quarter turns counter-clockwise (``np.rot90``), i.e. the
    same turn that makes a line crop with that ``turn`` upright."""
    return np.ascontiguousarray(np.rot90(pixels, turn % 4))


def unturn_points(
    points: npt.NDArray[np.float32], turn: int, width: int, height: int
) -> npt.NDArray[np.float32]:
    """Map (N, 2) points of ``turn_image(pixels, turn)`` back to ``pixels`` (``width`` x
    ``height``): the one place where the page rotation is undone."""
    x, y = points[:, 0], points[:, 1]
    turn %= 4
    if turn == 1:
        back = np.stack([(width - 1) - y, x], axis=1)
    elif turn == 2:
        back = np.stack([(width - 1) - x, (height - 1) - y], axis=1)
    elif turn == 3:
        back = np.stack([y, (height - 1) - x], axis=1)
    else:
        back = np.stack([x, y], axis=1)
    return back.astype(np.float32)

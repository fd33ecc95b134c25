"""Stage 4: oriented line crops -> recognised lines with character positions (PP-OCRv6 CTC).

Crops are resized to the recogniser's height (48 px), sorted by width and run in batches
padded to the widest crop of the batch. Greedy CTC decoding keeps, for every character, the
span of output frames it was read from; a frame is 8 input pixels, so a character's position
along the line is known as a fraction ``u`` of the crop width (0 = the text's left edge).

Several reading directions of one region compete: the preferred one is read first; the others
are read when the orientation stage asks for it or when the first reading is poor, and the
most confident reading wins (by a margin, so a doubtful classifier cannot flip good text).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .models import ModelStore
from .orient import LineCrop, OrientedRegion

__all__ = ["Char", "RecognizeOptions", "RecognizedLine", "recognize", "recognize_oriented"]

_STRIDE = 8  # input pixels per output frame of the recogniser


@dataclass(frozen=True, slots=True)
class RecognizeOptions:
    height: int = 48
    min_width: int = 320
    batch_size: int = 6
    min_confidence: float = 0.5
    """Lines read with a lower mean character probability are dropped as noise."""
    compare_below: float = 0.8
    """A preferred reading less confident than this is compared with the other directions."""
    switch_margin: float = 0.02
    """Another direction replaces the preferred one only if it is this much more confident..."""
    rescue_margin: float = 0.15
    """...or this much, when it was read only because the preferred reading was poor (hard
    handwriting read upside down can look as confident as the right reading of it)."""


@dataclass(frozen=True, slots=True)
class Char:
    """One decoded character: ``start``/``end`` are fractions of the crop width (0..1) of the
    first and last frame it was read from; ``probability`` its mean class probability."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class RecognizedLine:
    """A read line: ``quad`` (4, 2) float32 clockwise from the text's top-left corner, its
    characters in reading order (spaces included), and the crop's aspect (width / height)."""

    quad: npt.NDArray[np.float32]
    chars: tuple[Char, ...]
    aspect: float

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chars)

    @property
    def confidence(self) -> float:
        visible = [c.probability for c in self.chars if not c.text.isspace()]
        return float(np.mean(visible)) if visible else 0.0


def recognize_oriented(
    models: ModelStore,
    regions: Sequence[OrientedRegion],
    options: RecognizeOptions = RecognizeOptions(),
) -> tuple[RecognizedLine, ...]:
    """The best reading of every region, dropping empty and too doubtful lines."""
    best = list(recognize(models, [r.preferred for r in regions], options))
    pending = [
        (index, crop, options.switch_margin if region.always_compare else options.rescue_margin)
        for index, region in enumerate(regions)
        if region.always_compare or best[index].confidence < options.compare_below
        for crop in region.candidates[1:]
    ]
    if pending:
        others = recognize(models, [crop for _, crop, _ in pending], options)
        for (index, _, margin), line in zip(pending, others, strict=True):
            if line.confidence > best[index].confidence + margin:
                best[index] = line
    return tuple(
        line for line in best if line.text.strip() and line.confidence >= options.min_confidence
    )


def recognize(
    models: ModelStore, crops: Sequence[LineCrop], options: RecognizeOptions = RecognizeOptions()
) -> tuple[RecognizedLine, ...]:
    """Read each crop as one line of text (same order as ``crops``)."""
    results: list[RecognizedLine | None] = [None] * len(crops)
    aspects = [c.pixels.shape[1] / max(1, c.pixels.shape[0]) for c in crops]
    order = sorted(range(len(crops)), key=lambda i: aspects[i])
    for start in range(0, len(order), options.batch_size):
        indices = order[start : start + options.batch_size]
        batch, widths = _batch([crops[i].pixels for i in indices], options)
        probabilities = models.recognizer.run(batch)
        for row, index in enumerate(indices):
            chars = _decode(probabilities[row], widths[row], models.charset)
            results[index] = RecognizedLine(crops[index].quad, chars, aspects[index])
    return tuple(r for r in results if r is not None)


def _batch(
    images: Sequence[npt.NDArray[np.uint8]], options: RecognizeOptions
) -> tuple[npt.NDArray[np.float32], list[int]]:
    height = options.height
    widths = [max(1, math.ceil(height * img.shape[1] / max(1, img.shape[0]))) for img in images]
    batch_width = max(options.min_width, *widths)
    batch = np.zeros((len(images), 3, height, batch_width), dtype=np.float32)
    for row, (img, width) in enumerate(zip(images, widths, strict=True)):
        resized = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
        batch[row, :, :, :width] = (resized.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(
            2, 0, 1
        )
    return batch, widths


def _decode(
    frames: npt.NDArray[np.float32], width: int, charset: Sequence[str]
) -> tuple[Char, ...]:
    """Greedy CTC decoding of one line; frames (T, classes) -> characters with positions."""
    best = frames.argmax(axis=1)
    scores = frames.max(axis=1)
    chars: list[Char] = []
    frame = 0
    total = len(best)
    while frame < total:
        index = int(best[frame])
        run_end = frame
        while run_end + 1 < total and int(best[run_end + 1]) == index:
            run_end += 1
        if index != 0 and index < len(charset):
            chars.append(
                Char(
                    text=charset[index],
                    start=min(1.0, frame * _STRIDE / width),
                    end=min(1.0, (run_end + 1) * _STRIDE / width),
                    probability=float(scores[frame : run_end + 1].mean()),
                )
            )
        frame = run_end + 1
    return tuple(_strip_spaces(chars))


def _strip_spaces(chars: list[Char]) -> list[Char]:
    """Drop leading/trailing spaces and collapse runs of spaces to one."""
    out: list[Char] = []
    for char in chars:
        if char.text.isspace() and (not out or out[-1].text.isspace()):
            continue
        out.append(char)
    while out and out[-1].text.isspace():
        out.pop()
    return out

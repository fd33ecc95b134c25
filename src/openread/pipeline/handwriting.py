"""Stage 5b: handwritten lines read again by openread's own handwriting reader.

PP-OCRv6 small reads print well and handwriting poorly. openread ships PP-OCRv6 small's
recogniser fine-tuned on handwriting (``data/handwriting_rec.onnx``, trained by
``train/handwriting.py`` on real French handwritten lines, rendered English handwriting and
replayed printed lines; never on the eval-data). After the style stage has labelled the lines,
those called handwriting and read as Latin script are cut again from the page along their quad
(upright, as the style stage cuts them) and read by that reader (at each of
``HandwritingOptions.widths``, the most confident reading kept; by default once, as cut), with
the same decoding (positions, lexicon correction) as every other line; printed lines and other
scripts stay as they were. ``HandwritingOptions`` says when the new reading replaces the old one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from ..models import ModelStore
from .orient import LineCrop, warp
from .recognize import RecognizedLine, RecognizeOptions, kept, recognize

__all__ = ["HandwritingOptions", "read", "reread", "routed"]


@dataclass(frozen=True, slots=True)
class HandwritingOptions:
    margin: float = 0.0
    """The new reading replaces the old one when its confidence is at least the old one's plus
    ``margin`` (-1: always, as long as it is kept, see ``recognize.kept``)."""
    scripts: tuple[str, ...] = ("Latn",)
    """Scripts of the lines read again (the reader was trained on Latin handwriting)."""
    below: float = 0.95
    """Only lines PP-OCRv6 small read less confidently than this are read again (1.01: every
    routed line). A line it reads at 0.95 or more is nearly always right. The new reading could
    only replace it by being as confident, and the lines routed that way are mostly printed ones
    the style stage took for handwriting. Measured with ``python -m bench.handwriting`` on the
    eval-data's 2,605 ground-truth regions (493 of them styled handwriting): handwriting_fr,
    handwriting_en, the sticky note and icdar15 read the same text as with every routed line
    read again, funsd moved 0.0183 -> 0.0182 and sroie 0.1512 -> 0.1515 (one region). The
    share of routed lines read again fell to 0.16 on funsd, 0.02 on sroie and 0.20 on icdar15,
    and stayed at 0.99 and 0.97 on the two handwriting subsets (0.9 would have cut
    handwriting_fr to 0.86 and moved its CER)."""
    widths: tuple[float, ...] = (1.0,)
    """Each routed crop is read at each of these widths (1.5: widened 1.5x) and the most
    confident reading is kept. Handwriting packs more letters into a line's height than print,
    and the recogniser sees a line in 8-pixel columns, so a dense cursive line may read better
    widened. On the 200 held-out French lines of the train-data (never trained on, not the
    eval-data; ``python -m train.heldout``) the CER was 1x 0.241, 1.25x 0.209, 1.5x 0.206,
    1.75x 0.211, 2x 0.228, and the better of 1x and 1.5x 0.202. On the eval-data's pages the
    better of (1.0, 1.5) was mixed (handwriting_fr 0.403 -> 0.413, handwriting_en 0.544 ->
    0.537) for 2.3x the reader's time, so the default reads once (README, "Handwriting
    reader")."""

    def __post_init__(self) -> None:
        if not self.widths or not all(0.5 <= w <= 4.0 for w in self.widths):
            raise ValueError(f"widths must be factors within 0.5..4, got {self.widths}")
        if not 0.0 < self.below <= 1.01:
            raise ValueError(f"below must be in (0, 1.01], got {self.below}")


def routed(line: RecognizedLine, options: HandwritingOptions = HandwritingOptions()) -> bool:
    """Whether ``line`` goes to the handwriting reader."""
    return (
        line.confidence < options.below
        and line.appearance is not None
        and line.appearance.style == "handwriting"
        and line.script in options.scripts
    )


def read(
    models: ModelStore,
    crops: Sequence[LineCrop],
    options: HandwritingOptions = HandwritingOptions(),
    recognize_options: RecognizeOptions | None = None,
) -> tuple[RecognizedLine, ...]:
    """``crops`` read by the handwriting reader (``models.handwriting``, which must be
    loaded) at each of ``options.widths``, the most confident reading of each kept (the
    first on a tie); positions stay fractions of the crop and each line keeps its crop's own
    aspect."""
    if models.handwriting is None:
        raise ValueError("the store has no handwriting reader")
    recognize_options = recognize_options or RecognizeOptions()
    readings = [
        recognize(
            models,
            [_widen(crop, factor) for crop in crops],
            recognize_options,
            recognizer=models.handwriting,
        )
        for factor in options.widths
    ]
    best = [
        max(candidates, key=lambda line: line.confidence)
        for candidates in zip(*readings, strict=True)
    ]
    return tuple(
        dataclasses.replace(line, aspect=crop.pixels.shape[1] / max(1, crop.pixels.shape[0]))
        for line, crop in zip(best, crops, strict=True)
    )


def _widen(crop: LineCrop, factor: float) -> LineCrop:
    """``crop`` with its pixels widened ``factor`` times (same height)."""
    if factor == 1.0:
        return crop
    h, w = crop.pixels.shape[:2]
    width = max(1, round(w * factor))
    method = cv2.INTER_LINEAR if factor > 1.0 else cv2.INTER_AREA
    pixels = np.ascontiguousarray(
        cv2.resize(crop.pixels, (width, h), interpolation=method), dtype=np.uint8
    )
    return dataclasses.replace(crop, pixels=pixels)


def reread(
    models: ModelStore,
    pixels: npt.NDArray[np.uint8],
    lines: Sequence[RecognizedLine],
    options: HandwritingOptions = HandwritingOptions(),
    recognize_options: RecognizeOptions | None = None,
) -> tuple[RecognizedLine, ...]:
    """``lines`` with the handwritten ones read by ``models.handwriting`` (unchanged without
    it). ``pixels``: (H, W, 3) uint8 BGR, the image the quads refer to."""
    if models.handwriting is None:
        return tuple(lines)
    recognize_options = recognize_options or RecognizeOptions()
    chosen = [i for i, line in enumerate(lines) if routed(line, options)]
    if not chosen:
        return tuple(lines)
    crops = [LineCrop(lines[i].quad, warp(pixels, lines[i].quad), lines[i].turn) for i in chosen]
    again = read(models, crops, options, recognize_options)
    out = list(lines)
    for i, new in zip(chosen, again, strict=True):
        old = lines[i]
        if kept(new, recognize_options) and new.confidence >= old.confidence + options.margin:
            out[i] = dataclasses.replace(
                new, turn=old.turn, script=old.script, appearance=old.appearance
            )
    return tuple(out)

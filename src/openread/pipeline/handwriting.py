"""Stage 5b: handwritten lines read again by openread's own handwriting reader.

PP-OCRv6 small reads print well and handwriting poorly. openread ships PP-OCRv6 small's
recogniser fine-tuned on handwriting (``data/handwriting_rec.onnx``, trained by
``train/handwriting.py`` on real French handwritten lines, rendered English handwriting and
replayed printed lines; never on the eval-data). After the style stage has labelled the lines,
those called handwriting and read as Latin script are cut again from the page along their quad
(upright, as the style stage cuts them) and read by that reader, with the same decoding
(positions, lexicon correction) as every other line; printed lines and other scripts stay as
they were. ``HandwritingOptions`` says when the new reading replaces the old one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..models import ModelStore
from .orient import LineCrop, warp
from .recognize import RecognizedLine, RecognizeOptions, kept, recognize

__all__ = ["HandwritingOptions", "reread", "routed"]


@dataclass(frozen=True, slots=True)
class HandwritingOptions:
    margin: float = 0.0
    """The new reading replaces the old one when its confidence is at least the old one's plus
    ``margin`` (-1: always, as long as it is kept, see ``recognize.kept``)."""
    scripts: tuple[str, ...] = ("Latn",)
    """Scripts of the lines read again (the reader was trained on Latin handwriting)."""


def routed(line: RecognizedLine, options: HandwritingOptions = HandwritingOptions()) -> bool:
    """Whether ``line`` goes to the handwriting reader."""
    return (
        line.appearance is not None
        and line.appearance.style == "handwriting"
        and line.script in options.scripts
    )


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
    again = recognize(models, crops, recognize_options, recognizer=models.handwriting)
    out = list(lines)
    for i, new in zip(chosen, again, strict=True):
        old = lines[i]
        if kept(new, recognize_options) and new.confidence >= old.confidence + options.margin:
            out[i] = dataclasses.replace(
                new, turn=old.turn, script=old.script, appearance=old.appearance
            )
    return tuple(out)

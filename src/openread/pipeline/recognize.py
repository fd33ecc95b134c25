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
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from ..models import ModelStore, OnnxModel, Reader
from ..result import Appearance
from .lexicon import CorrectOptions, Lexicon, case_like, ctc_log_likelihoods
from .orient import LineCrop, OrientedRegion

__all__ = [
    "CascadeOptions",
    "Char",
    "RecognizeOptions",
    "RecognizedLine",
    "ink_mask",
    "kept",
    "read_regions",
    "recognize",
    "recognize_oriented",
    "sure",
    "sure_features",
]

_STRIDE = 8  # input pixels per output frame of the recogniser
_EDGE_PUNCTUATION = ".,;:!?()[]{}\"'«»“”‘’"


@dataclass(frozen=True, slots=True)
class CascadeOptions:
    """When the draft (tiny) recogniser's reading of a line is kept (see ``sure``)."""

    min_probability: float = 0.99
    """Every visible character at least this probable..."""
    min_confidence: float = 0.8
    """...and their mean at least this."""
    min_visible: int = 1
    """Lines with fewer visible characters are read again."""
    ascii_only: bool = True
    """Only readings of ASCII characters are kept (the tiny recogniser knows 6904 of the small
    one's 18708 symbols: accented letters, CJK and the rest are read again)."""


@dataclass(frozen=True, slots=True)
class RecognizeOptions:
    height: int = 48
    min_width: int = 320
    batch_size: int = 6
    min_confidence: float = 0.5
    """Lines read with a lower mean character probability are dropped as noise..."""
    min_confidence_long: float = 0.4
    long_line: int = 8
    """...except lines of several words and at least ``long_line`` visible characters, kept
    down to ``min_confidence_long``: noise reads as a short or single-token blob, while a long
    doubtful line of words is hard text (handwriting)."""
    compare_below: float = 0.8
    """A preferred reading less confident than this is compared with the other directions."""
    correction: CorrectOptions = field(default_factory=CorrectOptions)
    """How doubtful words are checked against the lexicon (when the store has one)."""
    switch_margin: float = 0.02
    """Another direction replaces the preferred one only if it is this much more confident..."""
    rescue_margin: float = 0.15
    """...or this much, when it was read only because the preferred reading was poor (hard
    handwriting read upside down can look as confident as the right reading of it)."""
    cascade: CascadeOptions = field(default_factory=CascadeOptions)
    """Which draft readings are kept when the store has a draft reader."""


@dataclass(frozen=True, slots=True)
class Char:
    """One decoded character: ``start``/``end`` are fractions of the crop width (0..1) of the
    first and last frame it was read from; ``probability`` its mean class probability."""

    text: str
    start: float
    end: float
    probability: float
    gap_before: float = 0.0
    """Widest ink-free gap between this character and the previous visible one, in line
    heights (0 for the first character and for spaces)."""


@dataclass(frozen=True, slots=True)
class RecognizedLine:
    """A read line: ``quad`` (4, 2) float32 clockwise from the text's top-left corner, its
    characters in reading order (spaces included), and the crop's aspect (width / height)."""

    quad: npt.NDArray[np.float32]
    chars: tuple[Char, ...]
    aspect: float
    turn: int = 0
    """The quarter turns that made the crop upright (see ``orient``)."""
    script: str = ""
    """ISO 15924 code of the script it was read as (``""``: not identified yet)."""
    ink: npt.NDArray[np.bool_] | None = None
    """Shape (h, w) bool: which pixels of the crop, scaled to a fixed height, hold ink (see
    ``ink_mask``), so that words can be fitted to their ink; ``None`` when unknown."""
    appearance: Appearance | None = None
    """Handwritten or not, once the style stage has classified the line (``None`` before)."""

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chars)

    @property
    def visible(self) -> int:
        """How many characters are not spaces."""
        return sum(not c.text.isspace() for c in self.chars)

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
    return tuple(line for _, line in read_regions(models, regions, options) if kept(line, options))


def read_regions(
    models: ModelStore,
    regions: Sequence[OrientedRegion],
    options: RecognizeOptions = RecognizeOptions(),
) -> tuple[tuple[LineCrop, RecognizedLine], ...]:
    """The best reading of every region and the crop it was read from (same order as
    ``regions``, nothing dropped)."""
    crops = [r.preferred for r in regions]
    best = list(recognize(models, crops, options))
    pending = [
        (index, crop, options.switch_margin if region.always_compare else options.rescue_margin)
        for index, region in enumerate(regions)
        if region.always_compare or best[index].confidence < options.compare_below
        for crop in region.candidates[1:]
    ]
    if pending:
        others = recognize(models, [crop for _, crop, _ in pending], options)
        for (index, crop, margin), line in zip(pending, others, strict=True):
            if line.confidence > best[index].confidence + margin:
                best[index] = line
                crops[index] = crop
    return tuple(zip(crops, best, strict=True))


def kept(line: RecognizedLine, options: RecognizeOptions = RecognizeOptions()) -> bool:
    """Whether ``line`` is text worth returning (not empty, not too doubtful)."""
    if line.visible == 0:
        return False
    words = len(line.text.split())
    long_text = line.visible >= options.long_line and words >= 2
    floor = options.min_confidence_long if long_text else options.min_confidence
    return line.confidence >= floor


def recognize(
    models: ModelStore,
    crops: Sequence[LineCrop],
    options: RecognizeOptions = RecognizeOptions(),
    recognizer: OnnxModel | None = None,
) -> tuple[RecognizedLine, ...]:
    """Read each crop as one line of text (same order as ``crops``).

    With a ``draft`` reader in the store (the cascade), every crop is read by it first and
    only the readings it is not sure of (``sure``) are read again by the main recogniser.
    ``recognizer``: another model sharing the store's ``charset`` reads every crop instead."""
    if recognizer is not None:
        return _read(Reader(recognizer, models.charset), models.lexicon, crops, options)
    if models.draft is None:
        return _read(models.reader, models.lexicon, crops, options)
    lines = list(_read(models.draft, models.lexicon, crops, options))
    again = [i for i, line in enumerate(lines) if not sure(line, options.cascade)]
    if again:
        redone = _read(models.reader, models.lexicon, [crops[i] for i in again], options)
        for index, line in zip(again, redone, strict=True):
            lines[index] = line
    return tuple(lines)


def sure(line: RecognizedLine, options: CascadeOptions = CascadeOptions()) -> bool:
    """Whether a draft reading is kept (not read again by the main recogniser)."""
    probabilities = [c.probability for c in line.chars if not c.text.isspace()]
    return sure_features(
        line.confidence,
        min(probabilities, default=0.0),
        len(probabilities),
        line.text.isascii(),
        options,
    )


def sure_features(
    confidence: float, min_probability: float, visible: int, ascii: bool, options: CascadeOptions
) -> bool:
    """``sure`` on a line's figures: mean and least visible character probability, how many
    visible characters, whether all of them are ASCII."""
    return (
        visible >= options.min_visible
        and (ascii or not options.ascii_only)
        and min_probability >= options.min_probability
        and confidence >= options.min_confidence
    )


def _read(
    reader: Reader,
    lexicon: Lexicon | None,
    crops: Sequence[LineCrop],
    options: RecognizeOptions,
) -> tuple[RecognizedLine, ...]:
    results: list[RecognizedLine | None] = [None] * len(crops)
    aspects = [c.pixels.shape[1] / max(1, c.pixels.shape[0]) for c in crops]
    order = sorted(range(len(crops)), key=lambda i: aspects[i])
    for start in range(0, len(order), options.batch_size):
        indices = order[start : start + options.batch_size]
        batch, widths, inks = _batch([crops[i].pixels for i in indices], options)
        probabilities = reader.model.run(batch)
        for row, index in enumerate(indices):
            frames = probabilities[row, : max(1, math.ceil(widths[row] / _STRIDE))]
            chars = _decode(
                frames,
                widths[row],
                np.asarray(inks[row].any(axis=0), dtype=np.bool_),
                charset=reader.charset,
                symbols=reader.symbol_index,
                lexicon=lexicon,
                options=options,
            )
            crop = crops[index]
            results[index] = RecognizedLine(
                crop.quad, chars, aspects[index], crop.turn, ink=inks[row]
            )
    return tuple(r for r in results if r is not None)


def _batch(
    images: Sequence[npt.NDArray[np.uint8]], options: RecognizeOptions
) -> tuple[npt.NDArray[np.float32], list[int], list[npt.NDArray[np.bool_]]]:
    """The padded batch, each crop's resized width and its ink (48, width) bool."""
    height = options.height
    resized = [_to_height(img, height) for img in images]
    widths = [img.shape[1] for img in resized]
    batch_width = max(options.min_width, *widths)
    batch = np.zeros((len(images), 3, height, batch_width), dtype=np.float32)
    for row, (img, width) in enumerate(zip(resized, widths, strict=True)):
        batch[row, :, :, :width] = (img.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
    return batch, widths, [_ink(img) for img in resized]


def _to_height(pixels: npt.NDArray[np.uint8], height: int) -> npt.NDArray[np.uint8]:
    """A crop (h, w, 3) scaled to (height, ceil(height * w / h), 3): area averaging when
    shrinking (no aliasing of tall crops), linear when enlarging."""
    width = max(1, math.ceil(height * pixels.shape[1] / max(1, pixels.shape[0])))
    method = cv2.INTER_AREA if pixels.shape[0] > height else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(pixels, (width, height), interpolation=method), dtype=np.uint8)


def ink_mask(pixels: npt.NDArray[np.uint8], height: int = 48) -> npt.NDArray[np.bool_]:
    """The ink of a line crop (h, w, 3) uint8 BGR scaled to ``height`` rows, as the recogniser
    sees it: shape (height, ceil(height * w / h)) bool."""
    return _ink(_to_height(pixels, height))


def _ink(resized: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Which pixels of a (48, w, 3) crop hold ink: Otsu threshold of the grey image, ink being
    the minority class (dark on light or light on dark)."""
    grey = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)
    _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = binary == 0
    if ink.mean() > 0.5:
        ink = ~ink
    return np.ascontiguousarray(ink, dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class _Run:
    """A decoded character and the frames [first, last] it was read from."""

    text: str
    first: int
    last: int
    probability: float


def _decode(
    frames: npt.NDArray[np.float32],
    width: int,
    ink: npt.NDArray[np.bool_],
    *,
    charset: Sequence[str],
    symbols: dict[str, int],
    lexicon: Lexicon | None,
    options: RecognizeOptions,
) -> tuple[Char, ...]:
    """Decode one line: frames (T, classes) -> characters with positions along the crop;
    ``ink`` (width,) marks the crop's columns that hold ink."""
    runs = _greedy(frames, charset)
    if lexicon is not None:
        runs = _correct(runs, frames, symbols, lexicon, options.correction)
    chars = []
    previous: float | None = None
    for run in runs:
        center = (run.first + run.last + 1) * _STRIDE / 2.0
        gap = 0.0
        if not run.text.isspace():
            if previous is not None:
                gap = _blank_run(ink, previous, center) / options.height
            previous = center
        chars.append(
            Char(
                text=run.text,
                start=min(1.0, run.first * _STRIDE / width),
                end=min(1.0, (run.last + 1) * _STRIDE / width),
                probability=run.probability,
                gap_before=gap,
            )
        )
    return tuple(_strip_spaces(chars))


def _blank_run(ink: npt.NDArray[np.bool_], start: float, stop: float) -> int:
    """Length of the longest run of ink-free columns between two x positions."""
    segment = ~ink[max(0, int(start)) : max(0, math.ceil(stop)) + 1]
    if not segment.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], segment.astype(np.int8), [0]))))
    return int((edges[1::2] - edges[::2]).max())


def _greedy(frames: npt.NDArray[np.float32], charset: Sequence[str]) -> list[_Run]:
    """Greedy CTC decoding: best class per frame, repeats merged, blanks dropped."""
    best = frames.argmax(axis=1)
    scores = frames.max(axis=1)
    runs: list[_Run] = []
    frame = 0
    total = len(best)
    while frame < total:
        index = int(best[frame])
        run_end = frame
        while run_end + 1 < total and int(best[run_end + 1]) == index:
            run_end += 1
        if index != 0 and index < len(charset):
            probability = float(scores[frame : run_end + 1].mean())
            runs.append(_Run(charset[index], frame, run_end, probability))
        frame = run_end + 1
    return runs


def _correct(
    runs: list[_Run],
    frames: npt.NDArray[np.float32],
    symbols: dict[str, int],
    lexicon: Lexicon,
    options: CorrectOptions,
) -> list[_Run]:
    """Replace doubtful letter tokens by the best-supported dictionary word (see lexicon)."""
    log_probs: npt.NDArray[np.float32] | None = None
    out: list[_Run] = []
    start = 0
    for end in [*(i for i, r in enumerate(runs) if r.text.isspace()), len(runs)]:
        token = runs[start:end]
        if token and _doubtful(token, options):
            if log_probs is None:
                log_probs = np.log(np.maximum(frames, 1e-12)).astype(np.float32)
            lo = runs[start - 1].last + 1 if start > 0 else 0
            hi = runs[end].first if end < len(runs) else len(frames)
            token = _best_reading(token, log_probs[lo:hi], symbols, lexicon, options)
        out.extend(token)
        if end < len(runs):
            out.append(runs[end])
        start = end + 1
    return out


def _doubtful(token: list[_Run], options: CorrectOptions) -> bool:
    text = "".join(r.text for r in token)
    core = text.strip(_EDGE_PUNCTUATION)
    return (
        len(core) >= options.min_length
        and core.isalpha()
        and min(r.probability for r in token) < options.doubtful
    )


def _best_reading(
    token: list[_Run],
    log_probs: npt.NDArray[np.float32],
    index: dict[str, int],
    lexicon: Lexicon,
    options: CorrectOptions,
) -> list[_Run]:
    text = "".join(r.text for r in token)
    core = text.strip(_EDGE_PUNCTUATION)
    prefix = text[: text.index(core)]
    suffix = text[len(prefix) + len(core) :]

    readings = [(text, lexicon.log_frequency.get(core.lower(), options.unknown_log_frequency))]
    for candidate in lexicon.candidates(core, options.max_edits):
        readings.append(
            (prefix + case_like(candidate, core) + suffix, lexicon.log_frequency[candidate])
        )
    # words with a symbol the recogniser lacks cannot be read (score -inf), so they are left out
    scorable = [(word, freq) for word, freq in readings if all(ch in index for ch in word)]
    likelihoods = ctc_log_likelihoods(log_probs, [[index[ch] for ch in w] for w, _ in scorable])
    best_text, best_score = text, -math.inf
    for (word, frequency), likelihood in zip(scorable, likelihoods, strict=True):
        value = float(likelihood) + options.weight * frequency
        if value > best_score:
            best_text, best_score = word, value
    if best_text == text:
        return token
    first, last = token[0].first, token[-1].last
    probability = sum(r.probability for r in token) / len(token)
    span = (last - first + 1) / len(best_text)
    return [
        _Run(
            ch,
            first + int(i * span),
            first + max(int((i + 1) * span) - 1, int(i * span)),
            probability,
        )
        for i, ch in enumerate(best_text)
    ]


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

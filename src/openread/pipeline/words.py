"""Stage 5: a recognised line -> its words, each with its extent along the line.

Words follow Azure's rules: a word is an unbroken run of characters; spaces separate words;
every CJK character (Han, kana, full-width forms) is a word of its own (Korean puts spaces
between its words, so Hangul follows the spaces). Punctuation
that opens or closes a word (brackets, quotes, ``, ; : ! ?``, a final full stop) is a word of
its own when it stands apart from the word on the image, as in Azure's handwritten
``"wish to see in the world !"``, and stays attached when it is set tight, as in Azure's
printed ``"Hello World!"``. "Apart" needs two signals to agree, because each alone is coarse:
the CTC centres lie at least ``DETACHED_PITCH`` times the line's character pitch apart (tight
punctuation measures <= 1, handwriting with a gap 1.5-2), and the ink-free gap between the two
characters is at least halfway between the line's typical gap inside words and its typical gap
between words. Punctuation inside a word always stays (``3.50``, ``don't``, ``62-03``).

A word's extent is computed from the CTC positions of its first and last characters, widened
by half the line's character pitch and never past the midpoint to the neighbouring character.
Positions are fractions of the line length (0 = the text's own left edge). A right-to-left
line (Arabic, Hebrew) is split on its mirror image and its words come in reading order, the
rightmost first, as Azure gives them.

Then words and line are fitted to the ink of the crop (when the recogniser kept it): the
detector's box is grown around the text, so each word is narrowed to the first and last ink
column inside its extent (taking in the rest of a letter its reading cuts), and the line
takes the band of rows its words' ink fills, from its first to its last word
(``LineWords.extent``); every word spans that band, as Azure's words span their line's
height. ``layout`` turns these fractions into pixels.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..result import Appearance
from ..scripts import script
from .recognize import Char, RecognizedLine

__all__ = ["Extent", "LineWords", "WordSpan", "is_cjk", "split_words", "tokenize"]


@dataclass(frozen=True, slots=True)
class WordSpan:
    """A word and where it lies along its line: ``start < end``, both in [0, 1]."""

    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Extent:
    """A part of a line's quad: ``[start, end]`` along the text and ``[top, bottom]`` across
    it, fractions of the quad's length and height (``0 <= start < end <= 1``, same across)."""

    start: float = 0.0
    end: float = 1.0
    top: float = 0.0
    bottom: float = 1.0


@dataclass(frozen=True, slots=True)
class LineWords:
    """A line split into words. ``quad`` (4, 2) float32, clockwise from the text's top-left:
    the detector's box; ``extent``: the part of it that the line's ink fills (the whole quad
    when its ink is unknown). Word extents are fractions of the quad's length too, and every
    word spans the line's ``extent`` across."""

    quad: npt.NDArray[np.float32]
    words: tuple[WordSpan, ...]
    script: str = ""
    """ISO 15924 code of the line's script (``""``: unknown)."""
    extent: Extent = Extent()
    appearance: Appearance | None = None
    """Handwritten or not (see ``pipeline.style``; ``None``: not classified)."""

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


DETACHED_PITCH = 1.4

Detached = Callable[[int, int], bool]
"""``detached(i, j)``: whether character ``i`` (punctuation) stands apart from neighbour ``j``."""

_OPENING = set("\"'¿¡")
_CLOSING = set(",;:!?\"'…")


def is_cjk(ch: str) -> bool:
    """True for characters of scripts written without spaces (each one is a word)."""
    code = ord(ch)
    return (
        0x2E80 <= code <= 0x2FDF  # CJK radicals
        or 0x3000 <= code <= 0x30FF  # CJK symbols and punctuation, hiragana, katakana
        or 0x3100 <= code <= 0x31FF  # bopomofo, hangul compatibility jamo, katakana ext.
        or 0x3400 <= code <= 0x4DBF  # CJK ext. A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF00 <= code <= 0xFFEF  # half-width and full-width forms
        or 0x20000 <= code <= 0x3134F  # CJK ext. B..G
    )


def _opens(ch: str) -> bool:
    return ch in _OPENING or unicodedata.category(ch) in ("Ps", "Pi")


def _closes(ch: str) -> bool:
    return ch in _CLOSING or unicodedata.category(ch) in ("Pe", "Pf")


def tokenize(text: str, detached: Detached | None = None) -> list[tuple[int, int]]:
    """Word boundaries of ``text`` as (start, end) character index ranges, in order.
    ``detached`` says whether a punctuation mark stands apart (default: never)."""
    apart: Detached = detached or (lambda _i, _j: False)
    spans: list[tuple[int, int]] = []
    start = 0
    for index, ch in enumerate([*text, " "]):
        if ch.isspace():
            if start < index:
                spans.extend(_split_chunk(text, start, index, apart))
            start = index + 1
    return spans


def _split_chunk(text: str, start: int, end: int, apart: Detached) -> list[tuple[int, int]]:
    """Split a space-free run text[start:end] into words (CJK characters, outer punctuation)."""
    pieces: list[tuple[int, int]] = []
    begin = start
    for i in range(start, end):
        if is_cjk(text[i]):
            if begin < i:
                pieces.extend(_split_punctuation(text, begin, i, apart))
            pieces.append((i, i + 1))
            begin = i + 1
    if begin < end:
        pieces.extend(_split_punctuation(text, begin, end, apart))
    return pieces


def _split_punctuation(text: str, start: int, end: int, apart: Detached) -> list[tuple[int, int]]:
    """Split opening and closing punctuation that stands apart off a word; a run of the same
    mark stays one word (``!!``, ``...``) and a run of punctuation only stays whole."""
    if all(_opens(c) or _closes(c) or c == "." for c in text[start:end]):
        return [(start, end)]
    lead: list[tuple[int, int]] = []
    while start < end - 1 and _opens(text[start]):
        run = start + 1
        while run < end - 1 and text[run] == text[start]:
            run += 1
        if not apart(run - 1, run):
            break
        lead.append((start, run))
        start = run
    trail: list[tuple[int, int]] = []
    while end - 1 > start and (_closes(text[end - 1]) or _final_stop(text, start, end)):
        run = end - 1
        while run - 1 > start and text[run - 1] == text[end - 1]:
            run -= 1
        if not apart(run, run - 1):
            break
        trail.insert(0, (run, end))
        end = run
    return [*lead, (start, end), *trail]


def _final_stop(chunk: str, start: int, end: int) -> bool:
    """A full stop ending a word of two or more characters without other full stops (so
    ``world.`` splits but ``U.S.``, ``A.`` and ``3.`` stay whole)."""
    core = chunk[start : end - 1]
    return (
        chunk[end - 1] == "."
        and len(core) >= 2
        and "." not in core
        and not core.isdigit()
        and core[-1] != "."
    )


def split_words(line: RecognizedLine) -> LineWords:
    """The words of ``line`` with their extents along it, in reading order (for a
    right-to-left line the first word is the rightmost: its extent is the largest), each
    fitted to its ink when the line's ink is known."""
    if line.script and _is_rtl(line.script):
        mirrored = tuple(
            dataclasses.replace(c, start=1.0 - c.end, end=1.0 - c.start) for c in line.chars
        )
        split = _split_words(dataclasses.replace(line, chars=mirrored))
        words = tuple(
            dataclasses.replace(w, start=1.0 - w.end, end=1.0 - w.start) for w in split.words
        )
    else:
        words = _split_words(line).words
    if line.ink is None:
        return LineWords(line.quad, words, line.script, appearance=line.appearance)
    fitted = _fit_line(line.quad, words, line.ink, line.script)
    return dataclasses.replace(fitted, appearance=line.appearance)


def _fit_line(
    quad: npt.NDArray[np.float32],
    words: tuple[WordSpan, ...],
    ink: npt.NDArray[np.bool_],
    code: str,
) -> LineWords:
    """The line fitted to its words' ink: each word along the line to its own ink, the line
    across to the band from the highest to the lowest of its words' ink (every word of a line
    shares that band, as in Azure's output), and along from its first to its last word."""
    order = sorted(range(len(words)), key=lambda i: words[i].start)
    bounds = [(0.0, 1.0)] * len(words)
    for k, i in enumerate(order):
        lo = words[order[k - 1]].end if k > 0 else 0.0
        hi = words[order[k + 1]].start if k + 1 < len(order) else 1.0
        bounds[i] = (lo, hi)
    fitted = [_ink_extent(word, ink, *bounds[i]) for i, word in enumerate(words)]
    found = [extent for extent in fitted if extent is not None]
    if not found:
        return LineWords(quad, words, code)
    refitted = tuple(
        word if extent is None else dataclasses.replace(word, start=extent.start, end=extent.end)
        for word, extent in zip(words, fitted, strict=True)
    )
    line = Extent(
        start=min(word.start for word in refitted),
        end=max(word.end for word in refitted),
        top=min(extent.top for extent in found),
        bottom=max(extent.bottom for extent in found),
    )
    return LineWords(quad, refitted, code, line)


INK_PAD = 0.06
"""Margin left around a word's ink when it is fitted to it, in line heights."""
GLYPH_REACH = 0.5
"""How far (line heights) a word may reach beyond its reading to take in the rest of a glyph
that its reading's first or last frame cuts."""


def _ink_extent(
    word: WordSpan, ink: npt.NDArray[np.bool_], lo: float = 0.0, hi: float = 1.0
) -> Extent | None:
    """Where ``word``'s ink lies: along the line within the word's extent, and across it,
    as fractions of the line crop whose ink ``ink`` (h, w) bool is (see
    ``recognize.ink_mask``), each widened by ``INK_PAD``. The detector's line box is loose (it
    is grown from the text's kernel, and a slanted or curved line leaves words off its
    centre), while a word's box should hug its letters. Across the line the word keeps the
    band of rows that holds most of its ink (rows where at least 4 % of its columns hold ink,
    broken by at most one empty row), so a rule or the edge of the next line is not taken for
    it; along the line it runs from the first to the last ink column of that band, and where
    the reading starts or ends inside ink (CTC puts the outer characters a frame inside their
    letters) it takes in the rest of that ink run, if the run ends within ``GLYPH_REACH`` and
    before the neighbouring words' readings (``lo``, ``hi``). ``None`` when the word has no
    clear band (under a quarter of the height)."""
    height, width = ink.shape
    c0 = max(0, math.floor(word.start * width))
    c1 = min(width, math.ceil(word.end * width))
    if c1 - c0 < 2:
        return None
    window = ink[:, c0:c1]
    band = _ink_band(window.sum(axis=1), max(1.0, 0.04 * (c1 - c0)))
    if band is None or band[1] - band[0] < 0.25 * height:
        return None
    top, bottom = band
    inked: npt.NDArray[np.bool_] = np.asarray(ink[top:bottom].any(axis=0), dtype=np.bool_)
    columns = np.flatnonzero(inked[c0:c1])
    first, last = c0 + int(columns[0]), c0 + int(columns[-1])
    pad = INK_PAD * height
    reach = int(GLYPH_REACH * height)
    start = max(word.start, (first - pad) / width)
    end = min(word.end, (last + 1 + pad) / width)
    if first == c0:  # the reading starts inside a glyph
        edge = _glyph_edge(inked, first, -1, max(math.ceil(lo * width), c0 - reach))
        if edge is not None:
            start = max(lo, (edge - pad) / width)
    if last == c1 - 1:  # or ends inside one
        edge = _glyph_edge(inked, last, 1, min(math.floor(hi * width) - 1, last + reach))
        if edge is not None:
            end = min(hi, (edge + 1 + pad) / width)
    if end <= start:
        return None
    return Extent(start, end, max(0.0, (top - pad) / height), min(1.0, (bottom + pad) / height))


def _glyph_edge(inked: npt.NDArray[np.bool_], column: int, step: int, limit: int) -> int | None:
    """The last ink column of the run through ``column`` (``inked`` (w,) bool) going ``step``
    (-1: left, 1: right), if the run ends by ``limit`` (or at the crop's edge); ``None`` if
    the ink goes on past it (a rule, a border or background, not a glyph)."""
    width = len(inked)
    edge = column
    while (limit - edge) * step > 0 and 0 <= edge + step < width and inked[edge + step]:
        edge += step
    if 0 <= edge + step < width and inked[edge + step]:
        return None
    return edge


def _ink_band(rows: npt.NDArray[np.int_], floor: float) -> tuple[int, int] | None:
    """The run of rows [top, bottom) with at least ``floor`` ink pixels each (one row below it
    does not break a run) that holds the most ink; ``None`` when no row reaches ``floor``."""
    best: tuple[int, int] | None = None
    best_ink = 0
    start: int | None = None
    last = -2
    for row in [*np.flatnonzero(rows >= floor).tolist(), len(rows) + 2]:
        if start is not None and row > last + 2:
            total = int(rows[start : last + 1].sum())
            if total > best_ink:
                best, best_ink = (start, last + 1), total
            start = None
        if row < len(rows):
            if start is None:
                start = row
            last = row
    return best


def _is_rtl(code: str) -> bool:
    try:
        return script.by_code(code).rtl
    except KeyError:
        return False


def _split_words(line: RecognizedLine) -> LineWords:
    chars = line.chars
    text = line.text
    centers = [(c.start + c.end) / 2.0 for c in chars]
    pitch = _pitch(chars, centers)
    gap_threshold = _word_gap_threshold(chars)

    def detached(i: int, j: int) -> bool:
        if pitch is None or abs(centers[i] - centers[j]) < DETACHED_PITCH * pitch:
            return False
        return chars[max(i, j)].gap_before >= gap_threshold

    spans = tokenize(text, detached)
    half = pitch / 2.0 if pitch is not None else 0.3 / max(line.aspect, 1e-6)
    words = []
    for first, last_excl in spans:
        last = last_excl - 1
        cjk = is_cjk(text[first])
        width = max(half, 0.45 / line.aspect) if cjk else half
        left = centers[first] - width
        right = centers[last] + width
        if first > 0:
            left = max(left, (centers[first - 1] + centers[first]) / 2.0)
        if last + 1 < len(chars):
            right = min(right, (centers[last] + centers[last + 1]) / 2.0)
        left, right = max(0.0, left), min(1.0, right)
        if right <= left:
            mid = min(max(centers[first], 0.0), 1.0)
            left, right = max(0.0, mid - 1e-3), min(1.0, mid + 1e-3)
        probability = float(np.mean([c.probability for c in chars[first:last_excl]]))
        words.append(WordSpan(text[first:last_excl], left, right, min(1.0, max(0.0, probability))))
    return LineWords(line.quad, tuple(words), line.script)


def _word_gap_threshold(chars: tuple[Char, ...]) -> float:
    """Halfway between the line's median ink gap inside words and its median gap between
    words (in line heights); without a space on the line, a quarter of its height above the
    gap inside words."""
    inside = [
        c.gap_before
        for previous, c in itertools.pairwise(chars)
        if c.text.isalnum() and previous.text.isalnum()
    ]
    between = [c.gap_before for previous, c in itertools.pairwise(chars) if previous.text.isspace()]
    letters = statistics.median(inside) if inside else 0.0
    if not between:
        return letters + 0.25
    return (letters + statistics.median(between)) / 2.0


def _pitch(chars: tuple[Char, ...], centers: list[float]) -> float | None:
    """The line's typical distance between the centres of neighbouring letters or digits, as
    a fraction of the line length (None when the line has no such pair)."""
    pitches = [
        centers[i + 1] - centers[i]
        for i in range(len(chars) - 1)
        if chars[i].text.isalnum() and chars[i + 1].text.isalnum()
    ]
    pitches = [p for p in pitches if p > 0]
    return statistics.median(pitches) if pitches else None

"""Stage 7: calibrated word confidences (the last stage: it changes numbers, never words).

A word's raw confidence is the recogniser's mean character probability, which says little about
whether the word is right: on scene photos raw confidences near 0.95 went with about 60 % of
words right (expected calibration error 0.32 on icdar15, 0.08 on FUNSD forms). Azure's word
confidence is "how sure the service is about the detected word"; a client that keeps words above
0.5 expects half of the words at 0.5 to be right. So each word's confidence is replaced by
``P(word is right | features)``, a logistic map of a few features that the raw reading and its
context give (``FEATURES``), fitted by ``bench/calibrate.py`` on half of the dev set's word
ground truth and written to ``calibration_map.py`` (which records what it was fitted on). "Right"
is the benchmark's end-to-end match: the word's box overlaps a ground-truth word by IoU >= 0.5
and their texts agree (case-insensitive, outer punctuation stripped).

It runs on the finished ``ReadResult``, after every decision that uses the raw confidence (line
dropping in ``recognize.kept``, the reading directions, script doubt in ``scriptid``, lexicon
correction), so it cannot change which words are returned, their text or their boxes. The map is
monotonic in the raw confidence for fixed context (its weight is positive), so within a line the
order of its words by confidence is kept.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

from ..result import Line, ReadResult, Word
from . import calibration_map
from .words import is_cjk

__all__ = ["FEATURES", "LogisticMap", "calibrate", "default_map", "word_features"]


def _logit(p: float) -> float:
    q = min(1.0 - 1e-3, max(1e-3, p))
    return math.log(q / (1.0 - q))


def _core(text: str) -> str:
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return text[start:end]


def _height(word: Word) -> float:
    a, _, _, d = word.polygon
    return max(1.0, math.hypot(d.x - a.x, d.y - a.y))


def _width(word: Word) -> float:
    a, b, _, _ = word.polygon
    return max(1.0, math.hypot(b.x - a.x, b.y - a.y))


def _at_edge(word: Word, context: _Context) -> float:
    """Whether the word's box touches the image's border (text cut by the frame)."""
    margin = 2
    return float(
        any(
            p.x <= margin
            or p.y <= margin
            or p.x >= context.image_width - 1 - margin
            or p.y >= context.image_height - 1 - margin
            for p in word.polygon
        )
    )


def _upper(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum(ch.isupper() for ch in letters) / len(letters) if letters else 0.0


@dataclass(frozen=True, slots=True)
class _Context:
    """What a word's features need from its line and page."""

    line: Line
    line_logit: float
    page_words: int
    page_height: float
    """The median word height on the page (pixels)."""
    image_height: int
    image_width: int
    lexicon: Container[str] | None
    cjk_share: float = 0.0
    """The share of the page's letters that are CJK characters."""


def _lexical(core: str, lexicon: Container[str] | None) -> float:
    return float(
        lexicon is not None and len(core) >= 2 and core.isalpha() and core.lower() in lexicon
    )


def _mixed_case(core: str) -> float:
    """Upper case after lower case inside a word (``tHe``, ``SoNY``): junk more often than not."""
    return float(any(a.islower() and b.isupper() for a, b in itertools.pairwise(core)))


def _joined(core: str) -> float:
    """A letter next to a digit inside a word (``4Parks``, ``No:03c5262``): often two words
    read as one, or a misread."""
    return float(
        any(
            (a.isalpha() and b.isdigit()) or (a.isdigit() and b.isalpha())
            for a, b in itertools.pairwise(core)
        )
    )


def _cjk_share(words: Sequence[Word]) -> float:
    letters = [ch for w in words for ch in w.text if ch.isalpha()]
    return sum(is_cjk(ch) for ch in letters) / len(letters) if letters else 0.0


def _cjk_minority(word: Word, context: _Context) -> float:
    """A CJK word on a page whose letters are mostly not CJK (a Chinese shop name among
    English signs). Scene-text ground truth transcribed in one script (icdar15: English)
    leaves such words unannotated, so they are never right there (see docs/accuracy.md)."""
    return float(context.cjk_share < 0.5 and any(is_cjk(ch) for ch in word.text))


_Feature = Callable[[Word, _Context], float]

_DEFINITIONS: dict[str, _Feature] = {
    "logit": lambda w, c: _logit(w.confidence),
    "line_logit": lambda w, c: c.line_logit,
    "length": lambda w, c: math.log1p(len(_core(w.text))),
    "single": lambda w, c: float(len(_core(w.text)) == 1),
    "punct": lambda w, c: float(not _core(w.text)),
    "digits": lambda w, c: sum(ch.isdigit() for ch in w.text) / len(w.text),
    "lexicon": lambda w, c: _lexical(_core(w.text), c.lexicon),
    "mixed_case": lambda w, c: _mixed_case(_core(w.text)),
    "page_words": lambda w, c: math.log1p(c.page_words),
    "line_words": lambda w, c: math.log(len(c.line.words)),
    "rel_height": lambda w, c: math.log(_height(w) / c.page_height),
    "abs_height": lambda w, c: math.log(_height(w) / c.image_height),
    "edge": _at_edge,
    "joined": lambda w, c: _joined(_core(w.text)),
    "upper": lambda w, c: _upper(w.text),
    "pitch": lambda w, c: math.log(_width(w) / _height(w) / len(w.text)),
    "low_logit": lambda w, c: min(0.0, _logit(w.confidence) - 3.0),
    "cjk_minority": _cjk_minority,
}
FEATURES = tuple(_DEFINITIONS)
"""Every feature a map may use, by name (see ``word_features``)."""


def word_features(
    result: ReadResult, lexicon: Container[str] | None, names: Sequence[str] = FEATURES
) -> list[list[float]]:
    """The features ``names`` of every word of ``result`` (in ``result.words`` order), from its
    raw confidence, its text and its line's and page's words."""
    words = result.words
    if not words:
        return []
    page_height = statistics.median(_height(w) for w in words)
    cjk_share = _cjk_share(words)
    rows = []
    for line in result.lines:
        context = _Context(
            line=line,
            line_logit=statistics.fmean(_logit(w.confidence) for w in line.words),
            page_words=len(words),
            page_height=page_height,
            image_height=result.height,
            image_width=result.width,
            lexicon=lexicon,
            cjk_share=cjk_share,
        )
        for word in line.words:
            rows.append([_DEFINITIONS[name](word, context) for name in names])
    return rows


@dataclass(frozen=True, slots=True)
class LogisticMap:
    """``P(right) = 1 / (1 + exp(-(bias + sum(weight * feature))))``."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def __post_init__(self) -> None:
        if len(self.features) != len(self.weights):
            raise ValueError("one weight per feature")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown calibration features {sorted(unknown)}")

    def probability(self, row: Sequence[float]) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, row, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def default_map() -> LogisticMap:
    """The map shipped with openread (fitted by ``bench/calibrate.py``)."""
    return LogisticMap(calibration_map.FEATURES, calibration_map.WEIGHTS, calibration_map.BIAS)


def calibrate(
    result: ReadResult, lexicon: Container[str] | None, mapping: LogisticMap | None = None
) -> ReadResult:
    """``result`` with every word's confidence replaced by its calibrated one (3 decimals,
    in [0, 1]); words, texts and polygons are unchanged."""
    mapping = mapping or default_map()
    rows = iter(word_features(result, lexicon, mapping.features))
    blocks = []
    for block in result.blocks:
        lines = []
        for line in block.lines:
            words = tuple(
                dataclasses.replace(word, confidence=round(mapping.probability(next(rows)), 3))
                for word in line.words
            )
            lines.append(dataclasses.replace(line, words=words))
        blocks.append(dataclasses.replace(block, lines=tuple(lines)))
    return dataclasses.replace(result, blocks=tuple(blocks))

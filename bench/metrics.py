"""Accuracy metrics of the benchmark: pure functions over plain values, no I/O.

* Detection (ICDAR 2015 protocol): predicted polygons vs ground-truth polygons, a pair matches
  when IoU >= 0.5; pairs are taken one-to-one, greedily by IoU descending. Ground truth marked
  ``ignore`` ("don't care") is not counted, and predictions that overlap a don't-care region
  (IoU >= 0.5, or >= 50 % of the prediction's area inside it) are removed before counting.
* End-to-end: the same geometric matching; a matched pair counts when its texts agree, either
  loosely (case-insensitive, outer punctuation stripped) or exactly (``e2eX``).
* Page CER / WER: Levenshtein distance of the normalised page texts over the ground-truth length,
  summed over a subset before dividing.
* Bag-of-words: multiset of normalised whitespace tokens, matches = multiset intersection.
* Exact word hits (Azure sticky note): GT words found verbatim among the predicted words.
* Calibration (word GT only): every predicted word that is not in a don't-care region is right
  when it is an end-to-end match (matched one-to-one at IoU >= 0.5 to a cared GT word, texts
  agreeing loosely) and wrong otherwise. Expected calibration error (ECE) over ``CAL_BINS``
  equal-width confidence bins: sum over bins of |sum of confidences - number right| / words,
  i.e. how far, on average, a word's confidence is from the chance that it is right (0 =
  perfectly calibrated).

Text normalisation: every text is put in Unicode NFC first, and whitespace before closing
punctuation (``, . ; : ! ? % ) ] }`` and closing quotes) and after opening punctuation
(``( [ {`` and opening quotes) is removed, for every engine and the ground truth alike: Azure's
4.0 wire format writes punctuation that stands apart as a word of its own (``"the world !"``),
which is a difference of format, not of what was read. "Outer punctuation" is any leading or
trailing character that is not a letter, a combining mark or a digit (Unicode categories L*, M*,
N*), so scripts whose vowel signs are marks (Devanagari) keep them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from shapely import STRtree, make_valid, unary_union
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

__all__ = [
    "CAL_BINS",
    "IOU_THRESHOLD",
    "Calibration",
    "DetectionScore",
    "EditCounts",
    "MatchCounts",
    "Point",
    "Polygon",
    "Region",
    "bag_of_words",
    "bow_counts",
    "calibration",
    "cer",
    "drop_dont_care",
    "exact_word_hits",
    "match_regions",
    "normalize_page",
    "score_regions",
    "strip_outer_punctuation",
    "texts_agree",
    "wer",
]

IOU_THRESHOLD = 0.5
"""Minimum IoU of a matching pair, and of a prediction with a don't-care region."""

DONT_CARE_COVER = 0.5
"""A prediction whose area lies at least this much inside a don't-care region is dropped."""

Point = tuple[float, float]
Polygon = tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Region:
    """A text region: a polygon and its text; ``ignore`` marks a ground-truth don't-care;
    ``confidence`` is a prediction's own (0..1; ``None``: none given)."""

    polygon: Polygon
    text: str
    ignore: bool = False
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class MatchCounts:
    """Matched / predicted / expected counts; P, R and H-mean derive from them."""

    matched: int = 0
    predicted: int = 0
    expected: int = 0

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(
            self.matched + other.matched,
            self.predicted + other.predicted,
            self.expected + other.expected,
        )

    @property
    def precision(self) -> float:
        if self.predicted == 0:
            return 1.0 if self.expected == 0 else 0.0
        return self.matched / self.predicted

    @property
    def recall(self) -> float:
        if self.expected == 0:
            return 1.0 if self.predicted == 0 else 0.0
        return self.matched / self.expected

    @property
    def hmean(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


@dataclass(frozen=True, slots=True)
class EditCounts:
    """Edit operations against a reference of ``reference`` units (chars or words)."""

    edits: int = 0
    reference: int = 0

    def __add__(self, other: EditCounts) -> EditCounts:
        return EditCounts(self.edits + other.edits, self.reference + other.reference)

    @property
    def rate(self) -> float:
        if self.reference == 0:
            return 0.0 if self.edits == 0 else 1.0
        return self.edits / self.reference


@dataclass(frozen=True, slots=True)
class DetectionScore:
    """Counts of one image: detection, loose end-to-end and exact end-to-end."""

    det: MatchCounts
    e2e: MatchCounts
    e2e_exact: MatchCounts

    def __add__(self, other: DetectionScore) -> DetectionScore:
        return DetectionScore(
            self.det + other.det, self.e2e + other.e2e, self.e2e_exact + other.e2e_exact
        )


# --- text ------------------------------------------------------------------------------------


_SPACE_BEFORE_CLOSING = re.compile(r"\s+(?=[,.;:!?%)\]}»”’])")
_SPACE_AFTER_OPENING = re.compile(r"(?<=[(\[{«“‘])\s+")


def _canon(text: str) -> str:
    """NFC, whitespace runs (newlines included) collapsed to one space, ends trimmed, no space
    before closing or after opening punctuation."""
    collapsed = " ".join(unicodedata.normalize("NFC", text).split())
    return _SPACE_AFTER_OPENING.sub("", _SPACE_BEFORE_CLOSING.sub("", collapsed))


def _is_core(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMN"


def strip_outer_punctuation(text: str) -> str:
    """Remove leading and trailing characters that are not letters, marks or digits."""
    start, end = 0, len(text)
    while start < end and not _is_core(text[start]):
        start += 1
    while end > start and not _is_core(text[end - 1]):
        end -= 1
    return text[start:end]


def _loose_key(text: str) -> str:
    return strip_outer_punctuation(_canon(text).casefold())


def texts_agree(predicted: str, expected: str, *, exact: bool = False) -> bool:
    """Whether two region texts agree.

    Exact: equal after NFC and whitespace collapsing. Loose: equal after that plus case folding
    and outer-punctuation stripping; a GT text made only of punctuation (e.g. "!") then has to be
    equal case-folded, so it is not matched by any other punctuation.
    """
    if exact:
        return _canon(predicted) == _canon(expected)
    key = _loose_key(expected)
    if not key:
        return _canon(predicted).casefold() == _canon(expected).casefold()
    return _loose_key(predicted) == key


def normalize_page(text: str) -> str:
    """Page text for CER/WER: NFC, each line's whitespace runs collapsed to one space and its
    ends trimmed, empty lines dropped, lines joined by a single newline."""
    lines = (_canon(line) for line in unicodedata.normalize("NFC", text).splitlines())
    return "\n".join(line for line in lines if line)


def cer(predicted: str, expected: str) -> EditCounts:
    """Character edits (unit-cost Levenshtein) between normalised pages; a line break is one
    character, case and punctuation count."""
    pred, gt = normalize_page(predicted), normalize_page(expected)
    return EditCounts(Levenshtein.distance(pred, gt), len(gt))


def wer(predicted: str, expected: str) -> EditCounts:
    """Word edits between the pages' whitespace tokens (a line break is a space); exact tokens,
    case and punctuation count."""
    pred, gt = _canon(predicted).split(), _canon(expected).split()
    return EditCounts(Levenshtein.distance(pred, gt), len(gt))


def bag_of_words(text: str) -> Counter[str]:
    """Multiset of whitespace tokens, case-folded, outer punctuation stripped; tokens that are
    only punctuation are dropped."""
    tokens = (_loose_key(token) for token in text.split())
    return Counter(token for token in tokens if token)


def bow_counts(predicted: str, expected: str) -> MatchCounts:
    """Bag-of-words matches: size of the multiset intersection; P = matches / predicted tokens,
    R = matches / GT tokens."""
    pred, gt = bag_of_words(predicted), bag_of_words(expected)
    return MatchCounts((pred & gt).total(), pred.total(), gt.total())


def exact_word_hits(predicted: Iterable[str], expected: Iterable[str]) -> int:
    """How many GT words occur verbatim (case-sensitive) among the predicted words, each
    predicted word used once (multiset intersection, order-free)."""
    pred = Counter(unicodedata.normalize("NFC", w) for w in predicted)
    gt = Counter(unicodedata.normalize("NFC", w) for w in expected)
    return (pred & gt).total()


# --- geometry --------------------------------------------------------------------------------


def _shape(polygon: Polygon) -> BaseGeometry:
    """A valid shapely geometry for a polygon (self-intersections repaired, < 3 points empty)."""
    if len(polygon) < 3:
        return ShapelyPolygon()
    shape: BaseGeometry = ShapelyPolygon(polygon)
    if shape.is_valid:
        return shape
    repaired = make_valid(shape)  # a bow tie becomes its two lobes; stray lines are dropped
    parts = getattr(repaired, "geoms", [repaired])
    return unary_union([part for part in parts if part.geom_type.endswith("Polygon")])


def _overlaps(
    first: Sequence[BaseGeometry], second: Sequence[BaseGeometry]
) -> list[tuple[int, int, float, float]]:
    """(i, j, intersection area, IoU) for every pair with a positive intersection."""
    if not first or not second:
        return []
    tree = STRtree(list(second))
    pairs = []
    for i, shape in enumerate(first):
        for j in tree.query(shape):
            other = second[int(j)]
            inter = float(shape.intersection(other).area)
            if inter <= 0.0:
                continue
            union = float(shape.area + other.area) - inter
            pairs.append((i, int(j), inter, inter / union if union > 0 else 0.0))
    return pairs


def drop_dont_care(predicted: Sequence[Region], expected: Sequence[Region]) -> list[Region]:
    """The predictions left after removing those that match a don't-care GT region (IoU >= 0.5
    or >= 50 % of their own area inside it)."""
    dont_care = [_shape(g.polygon) for g in expected if g.ignore]
    if not dont_care:
        return list(predicted)
    shapes = [_shape(p.polygon) for p in predicted]
    dropped = set()
    for i, _, inter, iou in _overlaps(shapes, dont_care):
        area = float(shapes[i].area)
        if iou >= IOU_THRESHOLD or (area > 0 and inter / area >= DONT_CARE_COVER):
            dropped.add(i)
    return [p for i, p in enumerate(predicted) if i not in dropped]


def match_regions(
    predicted: Sequence[Region], expected: Sequence[Region]
) -> list[tuple[Region, Region]]:
    """One-to-one (prediction, GT) pairs with IoU >= 0.5, taken greedily by IoU descending
    (ties: earlier prediction, then earlier GT). Both inputs are used as given."""
    pred_shapes = [_shape(p.polygon) for p in predicted]
    gt_shapes = [_shape(g.polygon) for g in expected]
    candidates = [
        (iou, i, j) for i, j, _, iou in _overlaps(pred_shapes, gt_shapes) if iou >= IOU_THRESHOLD
    ]
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_pred: set[int] = set()
    used_gt: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i in used_pred or j in used_gt:
            continue
        used_pred.add(i)
        used_gt.add(j)
        pairs.append((predicted[i], expected[j]))
    return pairs


CAL_BINS = 10
"""Equal-width confidence bins of the calibration error."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """Predicted words per confidence bin (``CAL_BINS`` bins over [0, 1]): how many, the sum of
    their confidences and how many were right. Sums over images by ``+``."""

    words: tuple[int, ...] = (0,) * CAL_BINS
    confidence: tuple[float, ...] = (0.0,) * CAL_BINS
    right: tuple[int, ...] = (0,) * CAL_BINS

    def __add__(self, other: Calibration) -> Calibration:
        return Calibration(
            tuple(a + b for a, b in zip(self.words, other.words, strict=True)),
            tuple(a + b for a, b in zip(self.confidence, other.confidence, strict=True)),
            tuple(a + b for a, b in zip(self.right, other.right, strict=True)),
        )

    @property
    def total(self) -> int:
        return sum(self.words)

    @property
    def ece(self) -> float:
        """Expected calibration error (NaN without words)."""
        if not self.total:
            return math.nan
        gaps = (abs(c - r) for c, r in zip(self.confidence, self.right, strict=True))
        return sum(gaps) / self.total


def calibration(predicted: Sequence[Region], expected: Sequence[Region]) -> Calibration:
    """Calibration counts of one image's predicted words (those with a confidence)."""
    kept = [p for p in drop_dont_care(predicted, expected) if p.confidence is not None]
    pairs = match_regions(kept, [g for g in expected if not g.ignore])
    right = {id(p) for p, g in pairs if texts_agree(p.text, g.text)}
    words, sums, hits = [0] * CAL_BINS, [0.0] * CAL_BINS, [0] * CAL_BINS
    for p in kept:
        confidence = min(1.0, max(0.0, float(p.confidence or 0.0)))
        b = min(CAL_BINS - 1, int(confidence * CAL_BINS))
        words[b] += 1
        sums[b] += confidence
        hits[b] += id(p) in right
    return Calibration(tuple(words), tuple(sums), tuple(hits))


def score_regions(predicted: Sequence[Region], expected: Sequence[Region]) -> DetectionScore:
    """Detection and end-to-end counts of one image (ICDAR 2015): don't-care predictions are
    removed, the rest matched geometrically to the cared GT; e2e counts the matched pairs whose
    texts agree (loosely, and exactly for ``e2e_exact``)."""
    cared = [g for g in expected if not g.ignore]
    kept = drop_dont_care(predicted, expected)
    pairs = match_regions(kept, cared)
    loose = sum(texts_agree(p.text, g.text) for p, g in pairs)
    exact = sum(texts_agree(p.text, g.text, exact=True) for p, g in pairs)
    n_pred, n_gt = len(kept), len(cared)
    return DetectionScore(
        MatchCounts(len(pairs), n_pred, n_gt),
        MatchCounts(loose, n_pred, n_gt),
        MatchCounts(exact, n_pred, n_gt),
    )

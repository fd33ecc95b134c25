"""Calibrated word confidences (``pipeline/calibrate.py``): they change numbers, never words,
and on images the map was not fitted on they mean what they say.

Held out = 5-fold by image (``bench.calibrate``'s ``cross_fit``): each word is scored by a map
of the shipped features fitted without its image. When the map was written: icdar15 436 words,
ECE raw 0.318 -> held out 0.040 (a perfect map shows 0.036 by chance on them); FUNSD 1,316
words, 0.080 -> 0.017 (chance 0.013). 3 to 10 folds gave 0.034-0.044 and 0.016-0.019.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from bench.calibrate import FOLDS, cross_fit, cross_rows, ece, subset_samples

from openread import Engine
from openread.pipeline.calibrate import (
    FEATURES,
    LogisticMap,
    calibrate,
    default_map,
    word_features,
)
from openread.result import Block, Line, Point, ReadResult, Word


@pytest.fixture(scope="module")
def raw_engine(engine: Engine) -> Engine:
    """The session engine's models, calibration off: the recogniser's raw confidences."""
    return Engine(dataclasses.replace(engine.settings, calibrate=False), models=engine.models)


def test_calibration_changes_confidences_only(
    engine: Engine, raw_engine: Engine, sticky_note: Path
) -> None:
    data = sticky_note.read_bytes()
    calibrated, raw = engine.read(data), raw_engine.read(data)
    assert [(w.text, w.polygon) for w in calibrated.words] == [
        (w.text, w.polygon) for w in raw.words
    ]
    assert [(line.text, line.polygon) for line in calibrated.lines] == [
        (line.text, line.polygon) for line in raw.lines
    ]
    assert [w.confidence for w in calibrated.words] != [w.confidence for w in raw.words]
    assert all(0.0 <= w.confidence <= 1.0 for w in calibrated.words)
    assert all(round(w.confidence, 3) == w.confidence for w in calibrated.words)
    # the same raw result calibrated by hand gives the engine's numbers
    assert calibrate(raw, engine.models.lexicon) == calibrated


def test_map_is_monotonic_in_the_raw_confidence() -> None:
    mapping = default_map()
    assert set(mapping.features) <= set(FEATURES)
    for feature in ("logit", "low_logit"):
        if feature in mapping.features:
            assert mapping.weights[mapping.features.index(feature)] > 0


def _page(*lines: tuple[str, ...]) -> ReadResult:
    """A page of lines of words, each word a 20 x 20 box in a row."""

    def box(x: int, y: int) -> tuple[Point, Point, Point, Point]:
        return (Point(x, y), Point(x + 20, y), Point(x + 20, y + 20), Point(x, y + 20))

    rows = []
    for y, texts in enumerate(lines):
        words = tuple(Word(t, box(30 * x, 30 * y), 0.9) for x, t in enumerate(texts))
        rows.append(Line(" ".join(texts), box(0, 30 * y), words))
    return ReadResult(400, 400, "test", (Block(tuple(rows)),))


def test_cjk_minority_marks_cjk_words_on_pages_mostly_in_other_scripts() -> None:
    def minority(page: ReadResult) -> list[float]:
        return [row[0] for row in word_features(page, None, ("cjk_minority",))]

    # a Chinese shop name among English signs: only the CJK words
    assert minority(_page(("SALE", "TODAY"), ("新", "海", "OPEN"))) == [0, 0, 1, 1, 0]
    # a Chinese page with one English word: nothing
    assert minority(_page(("新", "海", "特", "价"), ("OK",))) == [0, 0, 0, 0, 0]
    # punctuation is no letter: a page of digits and one CJK word is mostly CJK
    assert minority(_page(("2024", "新"))) == [0, 0]


def test_map_rejects_unknown_features() -> None:
    with pytest.raises(ValueError, match="unknown"):
        LogisticMap(("no_such_feature",), (1.0,), 0.0)
    with pytest.raises(ValueError, match="one weight"):
        LogisticMap(("logit",), (1.0, 2.0), 0.0)


@pytest.mark.evaldata
@pytest.mark.slow
def test_confidences_are_calibrated_on_held_out_images(raw_engine: Engine, eval_data: Path) -> None:
    """Every word of icdar15 and FUNSD scored by a map fitted (as ``bench.calibrate`` fits the
    shipped one, same features) without its image, 5 folds by image: held-out ECE <= 0.05 on
    each subset, well below the raw confidences'; and the shipped map (fitted on all of them)
    within the same bound."""
    samples = [
        s for subset in ("icdar15", "funsd") for s in subset_samples(raw_engine, eval_data, subset)
    ]
    names = default_map().features
    _, held = cross_fit(samples, names, FOLDS)
    rows = {r["subset"]: r for r in cross_rows(samples, held)}
    assert rows["icdar15"]["words"] > 400
    assert rows["funsd"]["words"] > 1200
    for subset, row in rows.items():
        assert row["ece_held_out"] <= 0.05, (subset, row)
        assert row["ece_held_out"] < row["ece_raw"] / 2, (subset, row)
    shipped = default_map()
    columns = [FEATURES.index(n) for n in shipped.features]
    for subset in rows:
        part = [s for s in samples if s.subset == subset]
        confidence = np.array(
            [round(shipped.probability([s.features[c] for c in columns]), 3) for s in part]
        )
        y = np.array([float(s.right) for s in part])
        assert ece(confidence, y) <= 0.05, subset

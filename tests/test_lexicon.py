"""The lexicon correction: CTC likelihoods, candidates, and what it may and may not change."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from openread import Engine, Settings
from openread.models import resolve
from openread.pipeline.lexicon import (
    LEXICON_FILES,
    Lexicon,
    case_like,
    ctc_log_likelihood,
    ctc_log_likelihoods,
)


def brute_force(probs: np.ndarray, label: list[int]) -> float:
    """Sum over every frame path that collapses to ``label`` (tiny inputs only)."""
    total = 0.0
    for path in itertools.product(range(probs.shape[1]), repeat=probs.shape[0]):
        collapsed = [k for i, k in enumerate(path) if k != 0 and (i == 0 or path[i - 1] != k)]
        if collapsed == label:
            total += math.prod(probs[t, k] for t, k in enumerate(path))
    return math.log(total)


@pytest.mark.parametrize("label", [[1], [1, 2], [1, 1], [2, 1, 2], []])
def test_ctc_forward_equals_the_sum_over_paths(label: list[int]) -> None:
    rng = np.random.default_rng(len(label))
    probs = rng.dirichlet(np.ones(3), size=5).astype(np.float32)
    expected = brute_force(probs, label) if label else float(np.log(probs[:, 0]).sum())
    assert ctc_log_likelihood(np.log(probs), label) == pytest.approx(expected, rel=1e-5)


def test_batched_likelihoods_equal_one_label_at_a_time() -> None:
    rng = np.random.default_rng(7)
    log_probs = np.log(rng.dirichlet(np.ones(6), size=9)).astype(np.float32)
    labels = [[1], [2, 2], [], [3, 1, 4, 1], [5, 4, 3, 2, 1], [1, 1, 1]]
    batched = ctc_log_likelihoods(log_probs, labels)
    for label, value in zip(labels, batched, strict=True):  # padding changes nothing
        assert value == ctc_log_likelihoods(log_probs, [label])[0]
    # a label too long for the frames has no alignment
    assert ctc_log_likelihoods(log_probs[:2], [[1, 2, 3]])[0] == -math.inf
    assert ctc_log_likelihoods(log_probs, []).shape == (0,)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.mark.parametrize(
    "word", ["Evenything", "bmnt", "teh", "Strasse", "garcon", "Ubersetzung", "xq", "qqqqqqqqqqq"]
)
def test_candidate_search_equals_a_full_scan(lexicon: Lexicon, word: str) -> None:
    """The letter-count prefilter drops no word a Levenshtein scan of the bucket finds."""
    key = word.lower()
    expected: list[str] = []
    for length in range(max(1, len(key) - 2), len(key) + 3):
        bucket = [w for w in lexicon.log_frequency if len(w) == length]
        matches = process.extract(
            key, bucket, scorer=Levenshtein.distance, score_cutoff=2, limit=25
        )
        expected.extend(m[0] for m in matches)
    assert lexicon.candidates(word, 2) == expected


def test_case_follows_the_reading() -> None:
    assert case_like("beauty", "BENUTY") == "BEAUTY"
    assert case_like("everything", "Evenything") == "Everything"
    assert case_like("but", "bmnt") == "but"


def test_word_lists_are_verified_files() -> None:
    for model in LEXICON_FILES:
        assert resolve(model).is_file()


def test_lexicon_can_be_switched_off(sticky_note: Path) -> None:
    raw = Engine.load(Settings(lexicon=False))
    assert raw.models.lexicon is None
    text = raw.read(sticky_note).text
    assert "Evenything" in text  # the recogniser's own reading, uncorrected
    assert Settings.from_env({"OPENREAD_LEXICON": "false"}).lexicon is False


def test_candidates_are_near_words() -> None:
    lexicon = Lexicon({"everything": -9.0, "beauty": -10.0, "has": -7.0, "but": -6.0})
    assert "everything" in lexicon.candidates("Evenything", 2)
    assert lexicon.candidates("zzzzzzzz", 2) == []

"""Lexicon-constrained correction of doubtful words (part of the recognition stage).

Greedy CTC decoding reads each frame on its own, so a hard handwritten word comes out as
"Evenything" or "bmnt". For a token that the recogniser was unsure of (some character below
``doubtful`` probability) and that consists of letters, dictionary words within edit distance 2
are scored by their full CTC likelihood over the token's own frames (the forward algorithm: the
probability of the word summed over all alignments) plus ``weight`` times the log of the word's
frequency; the greedy reading competes with an out-of-vocabulary frequency. The best wins, so a
word only changes when the image supports the dictionary word about as well as what was read.

Word frequencies come from the ``wordfreq`` package's data files (Apache-2.0 code, CC-BY-SA
data), read directly (the package is never imported) and verified like every model file.
Languages: the Latin-script ones the recogniser reads best (English, French, German, Spanish,
Italian, Portuguese, Dutch); a word's frequency is its highest among them.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from dataclasses import dataclass

import msgpack
import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from ..models import ModelFile, resolve

__all__ = [
    "LEXICON_FILES",
    "CorrectOptions",
    "Lexicon",
    "ctc_log_likelihood",
    "ctc_log_likelihoods",
]


def _wordfreq(lang: str, size: int, sha256: str) -> ModelFile:
    path = f"wordfreq/data/large_{lang}.msgpack.gz"
    return ModelFile(f"wordfreq-large-{lang}", "wordfreq", path, sha256, size)


LEXICON_FILES: tuple[ModelFile, ...] = (
    _wordfreq("en", 1494836, "dffae8066b78dce0a6667cf5f58e567054f902674667090a7ac8a8a44628b05c"),
    _wordfreq("fr", 1491216, "6f16cd80b9b66c5698ed002becea83ae30d0584c3205f1cf01714ad562c00c8b"),
    _wordfreq("de", 3622737, "8ef04d3f4a28fb48d800d25fa80a96d90a5f80c8496c9a453f99f887c6ad3c12"),
    _wordfreq("es", 1652691, "14f326b4f68d517f9b8b99c1e26ef56a508d2dc8d0ee7a9e6e8732ddab1aa65e"),
    _wordfreq("it", 1576222, "0b5500e425a50e0f1fefb256d9125e74f586ac6b2f2a6e41bc96634bd5613cc7"),
    _wordfreq("pt", 1286674, "7d764586bca6262f554d5fa77ad8e6841ef42534776e70558065140853660ce2"),
    _wordfreq("nl", 1661682, "cfdae01b2ccd5bc94be046645b6ba8682e65d6709beedf6ab98d7bdc5414d671"),
)

_LN10 = math.log(10.0)


@dataclass(frozen=True, slots=True)
class CorrectOptions:
    doubtful: float = 0.9
    """A token is checked when one of its characters has a lower probability than this."""
    max_edits: int = 2
    weight: float = 0.3
    """Weight of the log word frequency against the CTC log likelihood."""
    unknown_log_frequency: float = -20.0
    """Log frequency given to a reading that is in no word list (about 2e-9)."""
    min_length: int = 2


_BINS = 32
"""Letters are counted in ``ord(letter) % _BINS`` bins (a-z fall in 26 different ones)."""


def _letter_counts(word: str) -> npt.NDArray[np.int16]:
    """Shape (_BINS,) int16: how many letters of ``word`` fall in each bin."""
    counts = np.zeros(_BINS, dtype=np.int16)
    for ch in word:
        counts[ord(ch) % _BINS] += 1
    return counts


@dataclass(frozen=True, slots=True)
class _Bucket:
    """The words of one length, and their letter counts, shape (len(words), _BINS) int16."""

    words: tuple[str, ...]
    counts: npt.NDArray[np.int16]


class Lexicon:
    """Words with their log frequencies, bucketed by length for candidate search.

    Candidate search is exact (every word within the edit distance, the same ones and in the
    same order as a Levenshtein scan of the whole bucket) but cheap: one edit changes a word's
    letter counts by at most 2 (L1), so a word whose counts differ from the query's by more than
    ``2 * max_edits`` cannot match, and only the few that pass this vectorised test are
    compared letter by letter."""

    def __init__(self, log_frequency: dict[str, float]) -> None:
        self.log_frequency = log_frequency
        by_length: dict[int, list[str]] = {}
        for word in log_frequency:
            by_length.setdefault(len(word), []).append(word)
        self._by_length = {
            length: _Bucket(tuple(words), np.stack([_letter_counts(w) for w in words]))
            for length, words in by_length.items()
        }

    def __contains__(self, word: object) -> bool:
        """Whether ``word`` (any case) is a dictionary word."""
        return isinstance(word, str) and word.lower() in self.log_frequency

    @classmethod
    def load(cls, words_per_language: int = 40_000) -> Lexicon:
        merged: dict[str, float] = {}
        for model in LEXICON_FILES:
            for word, log_frequency in _read_wordfreq(model, words_per_language):
                if log_frequency > merged.get(word, -math.inf):
                    merged[word] = log_frequency
        return cls(merged)

    def candidates(self, word: str, max_edits: int) -> list[str]:
        """Lower-case dictionary words within ``max_edits`` edits of ``word`` (lower-cased):
        per length, at most 25, nearest first (ties in dictionary order)."""
        key = word.lower()
        query = _letter_counts(key)
        found: list[str] = []
        for length in range(max(1, len(key) - max_edits), len(key) + max_edits + 1):
            bucket = self._by_length.get(length)
            if bucket is None:
                continue
            near = np.flatnonzero(np.abs(bucket.counts - query).sum(axis=1) <= 2 * max_edits)
            if near.size == 0:
                continue
            choices = [bucket.words[i] for i in near]
            matches = process.extract(
                key, choices, scorer=Levenshtein.distance, score_cutoff=max_edits, limit=25
            )
            found.extend(match[0] for match in matches)
        return found


def _read_wordfreq(model: ModelFile, limit: int) -> list[tuple[str, float]]:
    """(word, natural log frequency) of a wordfreq cBpack file, most frequent first; only
    words made of letters. Bucket ``i`` of the file holds the words of frequency 10^(-i/100)."""
    with gzip.open(resolve(model), "rb") as handle:
        data = msgpack.unpackb(handle.read(), strict_map_key=False)
    words: list[tuple[str, float]] = []
    for centibels, bucket in enumerate(data[1:]):
        log_frequency = -centibels / 100.0 * _LN10
        words.extend((word, log_frequency) for word in bucket if word.isalpha())
        if len(words) >= limit:
            break
    return words[:limit]


def ctc_log_likelihood(log_probs: npt.NDArray[np.float32], label: Sequence[int]) -> float:
    """log P(label | frames) under CTC (blank = class 0), summed over all alignments.

    ``log_probs``: shape (T, classes), log probabilities of T frames."""
    return float(ctc_log_likelihoods(log_probs, [label])[0])


def ctc_log_likelihoods(
    log_probs: npt.NDArray[np.float32], labels: Sequence[Sequence[int]]
) -> npt.NDArray[np.float64]:
    """``ctc_log_likelihood`` of every label at once, shape (len(labels),) float64: one forward
    pass over the frames with the labels' state lattices stacked (shorter ones padded; a padded
    state only receives from the states before it, so it never changes a real one)."""
    count = len(labels)
    frames = log_probs.shape[0]
    if count == 0 or frames == 0:
        return np.full(count, -np.inf)
    longest = max(len(label) for label in labels)
    states = 2 * longest + 1
    extended = np.zeros((count, states), dtype=np.int64)
    for row, label in enumerate(labels):
        extended[row, 1 : 2 * len(label) : 2] = label
    # a state may skip the blank before it when its label differs from the one two back
    skip = np.zeros((count, states), dtype=bool)
    skip[:, 3::2] = extended[:, 3::2] != extended[:, 1:-2:2]
    emit = log_probs[:, extended]  # (T, count, states)
    alpha = np.full((count, states), -np.inf)
    alpha[:, 0] = emit[0, :, 0]
    if states > 1:
        alpha[:, 1] = emit[0, :, 1]
    none = np.full((count, 2), -np.inf)
    for t in range(1, frames):
        step = np.concatenate((none[:, :1], alpha[:, :-1]), axis=1)
        jump = np.where(skip, np.concatenate((none, alpha[:, :-2]), axis=1), -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, step), jump) + emit[t]
    rows = np.arange(count)
    ends = np.array([2 * len(label) for label in labels])
    result = np.logaddexp(alpha[rows, ends], alpha[rows, np.maximum(ends - 1, 0)])
    empty = ends == 0
    result[empty] = alpha[empty, 0]
    return np.asarray(result, dtype=np.float64)


def case_like(word: str, model: str) -> str:
    """``word`` in the letter case pattern of ``model`` (UPPER, Capitalised or lower)."""
    if len(model) > 1 and model.isupper():
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word

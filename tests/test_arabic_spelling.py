"""Arabic punctuation of a line read as Arabic (``scripts/arabic.py``): the comma the Tesseract
models read as a closing guillemet. Pure text, no models."""

from __future__ import annotations

import numpy as np

from openread.pipeline.recognize import Char, RecognizedLine
from openread.scripts.arabic import spell


def _line(text: str) -> RecognizedLine:
    n = len(text)
    chars = tuple(Char(c, k / n, (k + 1) / n, 0.9) for k, c in enumerate(text))
    quad = np.array([[0, 0], [100, 0], [100, 10], [0, 10]], dtype=np.float32)
    return RecognizedLine(quad, chars, 10.0)


def test_guillemet_after_an_arabic_letter_is_the_comma() -> None:
    line = _line("إليه» وإن أبى فاقسمها بين المسلمين» فحلف")
    spelled = spell(line)
    assert spelled.text == "إليه، وإن أبى فاقسمها بين المسلمين، فحلف"
    assert [(c.start, c.end) for c in spelled.chars] == [(c.start, c.end) for c in line.chars]
    # after a vowel sign (a combining mark) on an Arabic letter too
    assert spell(_line("حدّثنا» قال")).text == "حدّثنا، قال"
    # read apart from its word: set against it
    assert spell(_line("المزكي » أخبرنا")).text == "المزكي، أخبرنا"
    assert spell(_line("المسلمين »")).text == "المسلمين،"


def test_real_quotes_and_other_guillemets_stay() -> None:
    quoted = _line("قال «نعم» ثم")
    assert spell(quoted) is quoted  # an opening guillemet on the line: a real quotation
    assert spell(_line("1» 2")).text == "1» 2"  # not after an Arabic letter
    assert spell(_line("word» next")).text == "word» next"
    assert spell(_line("وكان »ألف")).text == "وكان »ألف"  # attached to the next word
    plain = _line("وكان فيها أربعون ألف")
    assert spell(plain) is plain

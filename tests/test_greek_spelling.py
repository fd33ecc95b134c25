"""Greek spelling of a line read as Greek (``scripts/greek.py``): each rule on its own, and that
characters keep their places on the line. Pure text, no models."""

from __future__ import annotations

import numpy as np

from openread.pipeline.recognize import Char, RecognizedLine
from openread.scripts.greek import spell


def _line(text: str) -> RecognizedLine:
    """``text`` as a read line, character k spanning [k, k + 1) / len(text) of the crop."""
    n = len(text)
    chars = tuple(Char(c, k / n, (k + 1) / n, 0.9 - 0.01 * k) for k, c in enumerate(text))
    quad = np.array([[0, 0], [100, 0], [100, 10], [0, 10]], dtype=np.float32)
    return RecognizedLine(quad, chars, 10.0)


def test_theta_symbol_is_the_letter() -> None:
    assert spell(_line("ϑεῶν καϑ’")).text == "θεῶν καθ’"


def test_elision_after_a_greek_letter_is_the_apostrophe() -> None:
    assert spell(_line("δ᾽ οὖν μ' ἐπ᾽ ἀνδρὶ")).text == "δ’ οὖν μ’ ἐπ’ ἀνδρὶ"
    # after an accented letter and before punctuation too
    assert spell(_line("εἴθ᾽, παρῇ'")).text == "εἴθ’, παρῇ’"
    # a Latin word's apostrophe, and an opening quote before a Greek word, stay
    assert spell(_line("don't 'λόγος")).text == "don't 'λόγος"


def test_spacing_breathing_before_a_capital_is_one_letter() -> None:
    line = spell(_line("᾿Αϑάνας ῞Ομηρος"))
    assert line.text == "Ἀθάνας Ὅμηρος"
    first = line.chars[0]
    assert (first.start, first.end) == (0.0, 2 / 15)  # spans the mark and the capital
    assert first.probability == 0.89  # the lower of the two
    # not before a small letter or a Latin capital
    assert spell(_line("᾿α ᾿A")).text == "᾿α ᾿A"


def test_latin_look_alikes_inside_a_greek_word_become_greek() -> None:
    assert spell(_line("OΔYΣΣEYΣ.")).text == "ΟΔΥΣΣΕΥΣ."
    assert spell(_line("ΣOΦOKΛEOYΣ")).text == "ΣΟΦΟΚΛΕΟΥΣ"
    # a word with a Latin letter that has no Greek twin is a jumble, not Greek: left alone
    assert spell(_line("σaxεσqógos")).text == "σaxεσqógos"
    # Latin words beside Greek ones stay Latin
    assert spell(_line("TEK. οἳ δ’ οὖν Hom.")).text == "TEK. οἳ δ’ οὖν Hom."


def test_a_line_without_anything_to_spell_is_returned_as_is() -> None:
    line = _line("καί σοι προφωνῶ τόνδε")
    assert spell(line) is line
    latin = _line("heißt Aias als Träger")
    assert spell(latin) is latin

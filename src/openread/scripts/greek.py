"""Greek spelling of a line read as Greek: the letters a reader of Greek expects, not the
look-alike code points recognisers emit.

Applied to a line that holds Greek letters once its reading is chosen (``scriptid``); each
rule is a Unicode fact about Greek text, not a guess about a particular book:

* ``ϑ`` (U+03D1 GREEK THETA SYMBOL, a mathematical symbol; NFKC folds it to the letter) is the
  letter ``θ``: the Tesseract Greek models answer the curly theta of 19th-century Greek fonts
  with the symbol.
* An elision mark, an apostrophe after a Greek letter at the end of a word (``δ'``, ``ἐπ᾽``),
  is U+2019, the character Unicode recommends for the apostrophe, also in Greek; U+1FBD
  (GREEK KORONIS, a spacing mark over a vowel at the start of a word) and U+0027 are
  look-alikes the recognisers emit for it.
* A spacing breathing or accent before a capital (``᾿Α``, ``῞Ο``: how polytonic capitals are
  printed) is that capital with the mark (``Ἀ``, ``Ὅ``), one precomposed letter.
* A word that mixes Greek letters with Latin capitals or ``o`` that have a Greek twin
  (``OΔYΣΣEYΣ``) is a Greek word read partly as Latin look-alikes: those letters become their
  Greek twins. A word with any other Latin letter is left alone.

Each rule maps characters to characters, so a character keeps its place on the line (a mark
and its capital become one character spanning both).
"""

from __future__ import annotations

import dataclasses
import unicodedata

from ..pipeline.recognize import Char, RecognizedLine
from .script import by_code

__all__ = ["spell"]

_GREEK = by_code("Grek")
_THETA_SYMBOL = "\u03d1"
_APOSTROPHES = frozenset({"'", "\u1fbd", "\u2019", "\u02bc", "\u1fbf"})
_ELISION = "\u2019"
_SPACING_MARKS: dict[str, str] = {
    "\u1fbf": "\u0313",  # psili
    "\u1ffe": "\u0314",  # dasia
    "\u1fce": "\u0313\u0301",  # psili and oxia
    "\u1fcd": "\u0313\u0300",  # psili and varia
    "\u1fcf": "\u0313\u0342",  # psili and perispomeni
    "\u1fde": "\u0314\u0301",  # dasia and oxia
    "\u1fdd": "\u0314\u0300",  # dasia and varia
    "\u1fdf": "\u0314\u0342",  # dasia and perispomeni
}
_TWINS: dict[str, str] = {
    "A": "Α", "B": "Β", "E": "Ε", "H": "Η", "I": "Ι", "K": "Κ", "M": "Μ", "N": "Ν",
    "O": "Ο", "P": "Ρ", "T": "Τ", "X": "Χ", "Y": "Υ", "Z": "Ζ", "o": "ο",
}  # fmt: skip
"""Latin letters whose Greek twin looks the same in print."""


def _greek_letter(text: str) -> bool:
    return text.isalpha() and _GREEK.contains(text)


def _after_greek(chars: list[Char]) -> bool:
    """Whether the last character of ``chars`` that is not a combining mark is a Greek
    letter (accented or not)."""
    for char in reversed(chars):
        if unicodedata.category(char.text).startswith("M"):
            continue
        return _greek_letter(unicodedata.normalize("NFD", char.text)[:1])
    return False


def spell(line: RecognizedLine) -> RecognizedLine:
    """``line`` with the Greek spelling rules applied (the same object when none applies)."""
    chars = list(line.chars)
    changed = False
    out: list[Char] = []
    i = 0
    while i < len(chars):
        char = chars[i]
        text = char.text
        following = chars[i + 1].text if i + 1 < len(chars) else ""
        if text == _THETA_SYMBOL:
            out.append(dataclasses.replace(char, text="θ"))
            changed = True
        elif text in _SPACING_MARKS and following.isupper() and _greek_letter(following):
            composed = unicodedata.normalize("NFC", following + _SPACING_MARKS[text])
            if len(composed) == 1:
                nxt = chars[i + 1]
                out.append(
                    Char(
                        composed,
                        min(char.start, nxt.start),
                        max(char.end, nxt.end),
                        min(char.probability, nxt.probability),
                        char.gap_before,
                    )
                )
                changed = True
                i += 2
                continue
            out.append(char)
        elif (
            text in _APOSTROPHES
            and text != _ELISION
            and _after_greek(out)
            and not following.isalpha()
            and not unicodedata.category(following or " ").startswith("M")
        ):
            out.append(dataclasses.replace(char, text=_ELISION))
            changed = True
        else:
            out.append(char)
        i += 1
    twins = _twin_positions(out)
    for k in twins:
        out[k] = dataclasses.replace(out[k], text=_TWINS[out[k].text])
    if not changed and not twins:
        return line
    return dataclasses.replace(line, chars=tuple(out))


def _twin_positions(chars: list[Char]) -> list[int]:
    """Positions of Latin look-alikes inside words that also hold Greek letters and no other
    Latin letter."""
    positions: list[int] = []
    start = 0
    for end in range(len(chars) + 1):
        if end < len(chars) and not chars[end].text.isspace():
            continue
        word = range(start, end)
        letters = [k for k in word if chars[k].text.isalpha()]
        greek = [k for k in letters if _GREEK.contains(chars[k].text)]
        latin = [k for k in letters if not _GREEK.contains(chars[k].text)]
        if greek and latin and all(chars[k].text in _TWINS for k in latin):
            positions += latin
        start = end + 1
    return positions

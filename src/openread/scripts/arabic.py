"""Arabic punctuation of a line read as Arabic: the comma a reader of Arabic expects, not the
guillemet the Tesseract models emit for it.

Applied to every line that holds Arabic letters once its reading is chosen (``scriptid``). One
rule, a fact about Arabic print rather than a guess about a particular book:

* A closing guillemet ``»`` directly after an Arabic letter, on a line with no opening ``«``,
  is the Arabic comma ``،`` (U+060C). The Arabic and ``ara`` models of Tesseract 5 answer the
  comma of classical Arabic book faces with ``»``: of the 52 ``»`` openread read on the 50
  dev lines of ``lines_arab`` (none with a ``«``), 32 stand where the ground truth has ``،``
  (17 and 15 in the two halves by file name), 1 where it has ``»``, 19 where it has nothing
  (an error either way). A real closing quote follows its opening one on the same line, which
  leaves it alone.
  A quotation opened on the line before would be rewritten: the known cost of the rule.

  Read apart from its word (``المزكي »``, a space between), it is the same comma, set
  against the word as Arabic print sets it.

A character keeps its place on the line (the space before a detached comma is dropped).
"""

from __future__ import annotations

import dataclasses
import unicodedata

from ..pipeline.recognize import Char, RecognizedLine
from .script import by_code

__all__ = ["spell"]

_ARABIC = by_code("Arab")
_CLOSING = "\u00bb"
_OPENING = "\u00ab"
_COMMA = "\u060c"


def _after_arabic(chars: list[Char]) -> bool:
    """Whether the last character of ``chars`` that is not a combining mark (a vowel sign,
    shadda) is an Arabic letter."""
    for char in reversed(chars):
        if unicodedata.category(char.text[:1]).startswith("M"):
            continue
        return char.text.isalpha() and _ARABIC.contains(char.text)
    return False


def spell(line: RecognizedLine) -> RecognizedLine:
    """``line`` with the Arabic punctuation rule applied (the same object when it does not)."""
    if _CLOSING not in line.text or _OPENING in line.text:
        return line
    chars = line.chars
    out: list[Char] = []
    changed = False
    for k, char in enumerate(chars):
        if char.text != _CLOSING:
            out.append(char)
            continue
        following = chars[k + 1].text if k + 1 < len(chars) else " "
        detached = bool(out) and out[-1].text == " " and following.isspace()
        if detached and _after_arabic(out[:-1]):
            out.pop()  # a comma stands against its word: ``المزكي »`` is ``المزكي،``
        if _after_arabic(out):
            out.append(dataclasses.replace(char, text=_COMMA))
            changed = True
        else:
            out.append(char)
    return dataclasses.replace(line, chars=tuple(out)) if changed else line

"""Stage 4b: numbers read with their context (receipts' amounts, colons' spaces).

The recogniser makes a few errors on printed numbers even on clean line crops, which only the
context can fix: a faded ``0`` read as ``C`` or ``O`` (``170.0C``), a decimal comma read for a
point (``15,56``), a decimal point lost in a gap (``0 00``), and the spaces around a colon
dropped (``TEL:07-386`` where the receipt prints ``TEL : 07-386``). The rules below change a
line's characters in place (each keeps its position on the line) and never touch a real word:

* **Money page.** The amount rules run only on a page that holds at least ``MONEY_AMOUNTS``
  amounts with two decimals (``3.50``, ``-0.75``, ``12.90SR``) and on which such amounts are at
  least ``MONEY_SHARE`` of its decimal numbers; a temperature column (``24.0C 23.5C``), a
  version or a score has one decimal and is left alone.
* **Zero for C/O.** On a money page, a token that is an amount with two decimals once each
  ``C``/``O``/``o`` in it is a zero (``170.0C``, ``1O.00``, ``(5.0C)``, ``3.0CSR``; at least one
  real digit on each side of the point) gets its zeros.
* **Decimal comma.** On a money page written with points, ``15,56`` (two digits after the
  comma: never a thousands separator) is ``15.56``.
* **Lost point.** On a money page, a line that is only ``D D`` with 1-4 digits then exactly
  two (``0 00``, ``0 60``) is an amount whose point was read as a space: ``0.00``.
* **Dates and times.** A date with a 4-digit year glued to a time gets a space
  (``04/03/201815:41:52``); on a money page ``17 21:00`` is ``17:21:00`` (the hour below 24).
* **Colon spaces.** On any page, a colon glued to what follows it (``TEL:07``, ``ID :G7``)
  gets a space after it where the ink gap there is as wide as the line's gaps between words
  (the threshold ``words`` uses to detach punctuation), i.e. where the print shows a space,
  and one before it too when that gap is as wide as well (``TEL : 07``); a colon already
  followed by a space keeps its left side as read (``Date: 09/03``: receipts print both).

``fix_lines`` runs after the lines are read and kept (so no line is dropped or added by it) and
before words are split, so a restored space makes two words, as on the wire.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .recognize import Char, RecognizedLine
from .words import _word_gap_threshold

__all__ = ["MONEY_AMOUNTS", "MONEY_SHARE", "Rewrite", "fix_lines", "money_page"]

MONEY_AMOUNTS = 3
"""A money page holds at least this many amounts with two decimals..."""
MONEY_SHARE = 0.6
"""...and they are at least this share of its decimal numbers."""

_TWO_DECIMALS = re.compile(r"(?<![\d.,])[-+]?\d{1,7}\.\d\d(?![\d.])")
_DECIMAL = re.compile(r"(?<![\d.,])\d+[.,]\d+(?![\d.,])")
_ZERO_LIKE = "CcOo"
# an amount once its C/O/o are zeros: optional sign or bracket, integer part, point, two
# decimals, optional tax-code suffix (SR, ZRL ...) or closing bracket
_AMOUNT = re.compile(r"^([-+(]?)([0-9CcOo]{1,7})\.([0-9CcOo]{2})([A-Z]{1,3}|\))?$")
_COMMA_AMOUNT = re.compile(r"^([-+(]?)(\d{1,7}),(\d\d)([A-Z]{1,3}|\))?$")
_LOST_POINT = re.compile(r"^\d{1,4} \d\d$")


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One change: the line's text before and after."""

    before: str
    after: str
    rule: str


def money_page(texts: Sequence[str]) -> bool:
    """Whether the page's lines are a receipt's or an invoice's (see the module docstring)."""
    amounts = sum(len(_TWO_DECIMALS.findall(t)) for t in texts)
    decimals = sum(len(_DECIMAL.findall(t)) for t in texts)
    return amounts >= MONEY_AMOUNTS and amounts >= MONEY_SHARE * max(1, decimals)


def _tokens(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def _zero_fix(token: str) -> str | None:
    """``token`` with its zero-like letters made zeros, if it is then an amount."""
    match = _AMOUNT.match(token)
    if match is None or not any(c in _ZERO_LIKE for c in token):
        return None
    whole, fraction = match.group(2), match.group(3)
    if not any(c.isdigit() for c in whole) and not any(c.isdigit() for c in fraction):
        return None
    if not (any(c.isdigit() for c in whole) and (fraction.isdigit() or whole.isdigit())):
        return None
    head = match.group(1)
    tail = match.group(4) or ""
    body = token[len(head) : len(token) - len(tail)]
    return head + "".join("0" if c in _ZERO_LIKE else c for c in body) + tail


def _replace(line: RecognizedLine, index: int, text: str) -> RecognizedLine:
    chars = list(line.chars)
    chars[index] = dataclasses.replace(chars[index], text=text)
    return dataclasses.replace(line, chars=tuple(chars))


def _money_fixes(line: RecognizedLine, points: bool) -> RecognizedLine:
    text = line.text
    if _LOST_POINT.match(text):
        return _replace(line, text.index(" "), ".")
    for start, end in _tokens(text):
        token = text[start:end]
        fixed = _zero_fix(token)
        if fixed is not None:
            for k, (old, new) in enumerate(zip(token, fixed, strict=True)):
                if old != new:
                    line = _replace(line, start + k, new)
            continue
        if points and _COMMA_AMOUNT.match(token):
            line = _replace(line, start + token.index(","), ".")
    return line


def _space(before: Char, after: Char) -> Char:
    return Char(" ", before.end, max(before.end, after.start), 1.0)


COLON_GAP = 0.2
"""On a line without spaces, a gap by a colon is a space when it is at least this many line
heights and ``COLON_PITCHES`` times the line's median gap inside words."""
COLON_PITCHES = 3.0


def _colon_gap(chars: Sequence[Char]) -> float:
    """The ink gap (line heights) beside a colon that is a space: the gap ``words`` detaches
    punctuation at, when the line has spaces to measure it by; else ``COLON_GAP`` and
    ``COLON_PITCHES`` times the gap inside words."""
    if any(c.text == " " for c in chars):
        return _word_gap_threshold(tuple(chars))
    inside = [
        c.gap_before
        for previous, c in itertools.pairwise(chars)
        if c.text.isalnum() and previous.text.isalnum()
    ]
    return max(COLON_GAP, COLON_PITCHES * statistics.median(inside)) if inside else math.inf


def _colon_spaces(line: RecognizedLine) -> RecognizedLine:
    """Spaces around a colon inside a token where the ink gap is a gap between words."""
    chars = line.chars
    if ":" not in line.text:
        return line
    threshold = _colon_gap(chars)
    out: list[Char] = []
    for i, char in enumerate(chars):
        nxt = chars[i + 1] if i + 1 < len(chars) else None
        prev = chars[i - 1] if i > 0 else None
        if char.text != ":" or prev is None or nxt is None or prev.text.isspace():
            out.append(char)
            continue
        after = not nxt.text.isspace() and nxt.gap_before >= threshold
        # a space before the colon only with one after it: "TEL : 07", but "Date: 09/03"
        if after and char.gap_before >= threshold:
            out.append(_space(prev, char))
        out.append(char)
        if after:
            out.append(_space(char, nxt))
    if len(out) == len(chars):
        return line
    return dataclasses.replace(line, chars=tuple(out))


_DATE_TIME = re.compile(r"(?<!\d)(\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)\d\d)(\d{1,2}:\d\d)")
_TIME_SPACE = re.compile(r"(?<![^\s:])(\d{1,2}) (\d\d:\d\d)(?![\d:])")


def _insert(line: RecognizedLine, index: int, text: str) -> RecognizedLine:
    """A character ``text`` inserted before ``index``, in the gap between its neighbours."""
    chars = list(line.chars)
    before, after = chars[index - 1], chars[index]
    chars.insert(index, Char(text, before.end, max(before.end, after.start), 1.0))
    return dataclasses.replace(line, chars=tuple(chars))


def _dates_and_times(line: RecognizedLine, money: bool) -> RecognizedLine:
    """A date glued to a time gets its space (``04/03/201815:41:52``); on a money page a time
    whose first colon was read as a space gets it back (``17 21:00``)."""
    match = _DATE_TIME.search(line.text)
    if match is not None:
        line = _insert(line, match.end(1), " ")
    if money:
        match = _TIME_SPACE.search(line.text)
        if match is not None and int(match.group(1)) < 24:
            line = _replace(line, match.end(1), ":")
    return line


def fix_lines(
    lines: Sequence[RecognizedLine], rewrites: list[Rewrite] | None = None
) -> tuple[RecognizedLine, ...]:
    """``lines`` with the rules of the module docstring applied (same lines, same order);
    each change is appended to ``rewrites`` when given."""
    texts = [line.text for line in lines]
    money = money_page(texts)
    points = money and sum(t.count(",") for t in texts) <= sum(
        len(_TWO_DECIMALS.findall(t)) for t in texts
    )
    out = []
    for line in lines:
        fixed = _dates_and_times(_colon_spaces(line), money)
        if money:
            fixed = _money_fixes(fixed, points)
        if rewrites is not None and fixed.text != line.text:
            rewrites.append(Rewrite(line.text, fixed.text, "money" if money else "colon"))
        out.append(fixed)
    return tuple(out)

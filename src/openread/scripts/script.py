"""Writing systems: which scripts openread reads, with which recogniser, and for which languages.

A script is named by its ISO 15924 code (``Latn``, ``Cyrl``, ``Arab`` ...). The PP-OCRv6
recogniser reads Latin, Han, kana and (monotonic) Greek; every other script is read by a
Tesseract 5 LSTM model from Debian's ``tesseract-ocr-script-*`` packages (see ``tesseract``).
This module is pure data and text classification: no I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "PPOCR",
    "SCRIPTS",
    "Script",
    "by_code",
    "language_scripts",
    "letters_in",
    "script_of_text",
]

PPOCR = "ppocr"
"""The recogniser name of scripts read by the PP-OCRv6 model itself."""


@dataclass(frozen=True, slots=True)
class Script:
    """One writing system: ``code`` (ISO 15924), the Tesseract model that reads it (``None``
    when PP-OCR reads it), the Unicode ranges of its letters, the languages written in it
    (BCP-47 primary subtags), and how it is laid out."""

    code: str
    name: str
    tesseract_model: str | None
    ranges: tuple[tuple[int, int], ...]
    languages: tuple[str, ...]
    rtl: bool = False
    spaced: bool = True
    """False for scripts written without spaces between words (Thai, Lao, Khmer, Myanmar)."""
    tesseract_words: bool = True
    """False where Tesseract's word boundaries are not words (it splits Thai into clusters and
    Hangul into syllables): words then break only at a visible gap."""
    tesseract_vertical: str | None = None
    """The model for this script written top to bottom (characters upright in a column); it
    reads the column turned a quarter counter-clockwise. PP-OCR reads vertical Han and kana
    itself."""
    tesseract_language: str | None = None
    """A Tesseract language pack read together with the script model when it is installed
    (the script's most used language: its dictionary corrects many words)."""
    tesseract_companions: tuple[str, ...] = ()
    """Models read together with (after) the script model where they are installed: Tesseract
    then reads each word with the model that is surest of it. For Greek, whose printed lines
    (classical commentaries, editions) mix in words in Latin letters, roman or Fraktur: the
    Greek model alone reads those as Greek look-alikes (``Ρεϊῃί`` for ``heißt``)."""

    def contains(self, char: str) -> bool:
        code = ord(char)
        return any(low <= code <= high for low, high in self.ranges)

    def share(self, text: str) -> float:
        """The share (0..1) of the letters of ``text`` that belong to this script."""
        letters = letters_in(text)
        return sum(self.contains(c) for c in letters) / len(letters) if letters else 0.0


_LATIN_LANGUAGES = (
    "af", "ast", "az", "bi", "br", "bs", "ca", "ceb", "ch", "co", "cs", "cy", "da", "de", "en",
    "eo", "es", "et", "eu", "fi", "fil", "fj", "fo", "fr", "fur", "fy", "ga", "gd", "gil", "gl",
    "gv", "ha", "haw", "hr", "ht", "hu", "ia", "id", "is", "it", "jv", "kl", "ku", "la", "lb",
    "lt", "lv", "mg", "mi", "ms", "mt", "nb", "nl", "nn", "no", "oc", "pl", "pt", "quc", "rm",
    "ro", "sk", "sl", "sm", "so", "sq", "sv", "sw", "to", "tr", "tt", "uz", "vi", "vo", "wa",
    "yo", "yua", "za", "zu",
)  # fmt: skip

SCRIPTS: tuple[Script, ...] = (
    Script(
        "Latn", "Latin", None,
        ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF)),
        _LATIN_LANGUAGES,
    ),
    Script("Hani", "Han", None, ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)),
           ("zh", "zh-Hans", "zh-Hant")),
    Script("Jpan", "Japanese", None, ((0x3040, 0x30FF), (0x31F0, 0x31FF)), ("ja",)),
    Script(
        "Grek", "Greek", "Greek", ((0x370, 0x3FF), (0x1F00, 0x1FFF)), ("el", "grc"),
        tesseract_companions=("Fraktur", "eng"),
    ),
    Script(
        "Cyrl", "Cyrillic", "Cyrillic",
        ((0x400, 0x52F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)),
        ("ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "mn", "tg", "ba", "cv", "ce", "os",
         "sah", "tyv", "kaa", "rue", "cnr"),
        tesseract_language="rus",
    ),
    Script(
        "Arab", "Arabic", "Arabic",
        ((0x600, 0x6FF), (0x750, 0x77F), (0x8A0, 0x8FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
        ("ar", "fa", "ur", "ps", "ug", "sd", "ckb", "prs"), rtl=True,
        tesseract_language="ara",
    ),
    Script("Hebr", "Hebrew", "Hebrew", ((0x590, 0x5FF), (0xFB1D, 0xFB4F)), ("he", "yi"), rtl=True),
    Script("Deva", "Devanagari", "Devanagari", ((0x900, 0x97F), (0xA8E0, 0xA8FF)),
           ("hi", "mr", "ne", "sa", "bho", "mai", "kok", "doi", "bra", "brx", "gom", "sat")),
    Script("Beng", "Bengali", "Bengali", ((0x980, 0x9FF),), ("bn", "as", "mni")),
    Script("Guru", "Gurmukhi", "Gurmukhi", ((0xA00, 0xA7F),), ("pa",)),
    Script("Gujr", "Gujarati", "Gujarati", ((0xA80, 0xAFF),), ("gu",)),
    Script("Orya", "Oriya", "Oriya", ((0xB00, 0xB7F),), ("or",)),
    Script("Taml", "Tamil", "Tamil", ((0xB80, 0xBFF),), ("ta",)),
    Script("Telu", "Telugu", "Telugu", ((0xC00, 0xC7F),), ("te",)),
    Script("Knda", "Kannada", "Kannada", ((0xC80, 0xCFF),), ("kn",)),
    Script("Mlym", "Malayalam", "Malayalam", ((0xD00, 0xD7F),), ("ml",)),
    Script("Sinh", "Sinhala", "Sinhala", ((0xD80, 0xDFF),), ("si",)),
    Script("Thai", "Thai", "Thai", ((0xE00, 0xE7F),), ("th",), spaced=False, tesseract_words=False),
    Script("Laoo", "Lao", "Lao", ((0xE80, 0xEFF),), ("lo",), spaced=False, tesseract_words=False),
    Script("Khmr", "Khmer", "Khmer", ((0x1780, 0x17FF), (0x19E0, 0x19FF)), ("km",),
           spaced=False, tesseract_words=False),
    Script("Mymr", "Myanmar", "Myanmar", ((0x1000, 0x109F),), ("my",),
           spaced=False, tesseract_words=False),
    Script(
        "Hang", "Hangul", "Hangul",
        ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F)),
        ("ko",),
        tesseract_words=False,
        tesseract_vertical="Hangul_vert",
    ),
    Script("Geor", "Georgian", "Georgian", ((0x10A0, 0x10FF), (0x2D00, 0x2D2F)), ("ka",)),
    Script("Armn", "Armenian", "Armenian", ((0x530, 0x58F), (0xFB13, 0xFB17)), ("hy",)),
    Script("Ethi", "Ethiopic", "Ethiopic", ((0x1200, 0x139F), (0x2D80, 0x2DDF)), ("am", "ti")),
)  # fmt: skip
"""Every script openread knows, PP-OCR's first (``Latn``, ``Hani``, ``Jpan``), then the others
roughly by how many people read them (the order foreign scripts are tried in)."""

_BY_CODE = {script.code: script for script in SCRIPTS}


def by_code(code: str) -> Script:
    """The script with ISO 15924 ``code``; ``KeyError`` if unknown."""
    return _BY_CODE[code]


def language_scripts(language: str | None) -> tuple[Script, ...]:
    """The scripts a language hint (BCP-47, e.g. ``ru``, ``sr-Latn``, ``zh-Hant``) points to;
    empty when the hint is absent or unknown (a hint is never an error)."""
    if not language:
        return ()
    parts = language.replace("_", "-").split("-")
    primary = parts[0].lower()
    explicit = [p.title() for p in parts[1:] if len(p) == 4 and p.isalpha()]
    if explicit and explicit[0] in _BY_CODE:
        return (_BY_CODE[explicit[0]],)
    if language in ("zh-Hans", "zh-Hant"):
        return (_BY_CODE["Hani"],)
    return tuple(s for s in SCRIPTS if primary in s.languages)


def letters_in(text: str) -> list[str]:
    """The letters and combining marks of ``text`` (what script identification looks at)."""
    return [c for c in text if unicodedata.category(c)[0] in "LM"]


def script_of_text(
    text: str, candidates: Iterable[Script] = SCRIPTS
) -> tuple[Script | None, float]:
    """The script most of the letters of ``text`` belong to, and that share (0..1); ``None``
    when the text has no letters of any candidate script."""
    best: Script | None = None
    best_share = 0.0
    for script in candidates:
        share = script.share(text)
        if share > best_share:
            best, best_share = script, share
    return best, best_share

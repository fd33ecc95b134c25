"""Stage 4b: script identification per line, and re-reading lines PP-OCR cannot read.

PP-OCRv6 reads Latin, Han, kana and Greek. On a line in another script it reads (almost)
nothing, confidently, or a few doubtful look-alike characters. So a line is *suspect* when its
reading is sparse for the crop's length (fewer than ``sparse`` visible characters per line
height of length: Latin text has 1.5-2) or doubtful (mean character probability below
``doubtful``). A suspect line is read by the Tesseract script models, and a reading counts only
when it is confident and most of its letters belong to the model's own script (the script
models also know Latin, so on a Latin line they answer in Latin and do not count).

Trying every model on every suspect line would cost too much on Latin pages full of doubtful
scene text, so the search is per page: the scripts found so far on the page (and those of the
``language`` hint) are tried first on every suspect line, and only ``max_probes`` lines per page
are tried with every installed model. A script found this way is then also tried on lines PP-OCR
read confidently in Latin look-alikes (Cyrillic ``ВОТ`` reads as Latin ``BOT``): where that
model answers in its own script, its reading wins (on a real Latin word it answers in Latin).

On a page PP-OCR reads as a Latin-script language (many dictionary words: it cannot make them
out of a script it does not know), a doubtful line it still read as Latin words is Latin it
reads poorly (handwriting, blur), and is not probed; lines it read (almost) nothing on, read in
Han or kana, or read as a jumble holding no dictionary word still are.

Once a script is found on a page, runs of pieces on one text row (the detector cuts printed
lines at word gaps) are read again as one line in it. For Cyrillic (``_ROW_SCRIPTS``) a run
also takes Latin pieces of any length (PP-OCR reads Russian words as Latin look-alikes:
``HO3MOHO``), unless the Latin model is surer of the row.

Polytonic Greek is read poorly by PP-OCR (it drops breathings and accents, and reads a Greek
word among Latin ones as a Latin-Greek jumble); a line it reads with a Greek letter is also read
with the Tesseract Greek model together with its companions, the Fraktur and English models
(``Script.tesseract_companions``: Tesseract then reads each word with the model surest of it,
so the German or English words of a commentary line stay Latin), and that reading is kept when
it is confident and Greek enough (``greek_reading``). Every line holding Greek letters is then
spelled as Greek is (``greek.spell``: ``θ`` not the theta symbol, ``’`` for elision,
precomposed capitals with breathings, Greek twins for Latin look-alikes inside Greek words),
and every line holding Arabic letters as Arabic is (``arabic.spell``: the comma the Tesseract
models read as a closing guillemet).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Container, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .. import parallel
from ..pipeline import rows
from ..pipeline.orient import LineCrop
from ..pipeline.recognize import RecognizedLine
from . import arabic as arabic_spelling
from . import greek as greek_spelling
from .script import SCRIPTS, Script, by_code, script_of_text
from .tesseract import LATIN_MODEL, TesseractModels, TesseractReading

__all__ = ["Candidate", "ScriptOptions", "identify", "label"]

_PPOCR_SCRIPTS = tuple(by_code(code) for code in ("Latn", "Hani", "Jpan", "Grek"))
_LATIN = by_code("Latn")
_LOOKALIKE = frozenset({"Cyrl", "Grek"})
_ROW_SCRIPTS = (by_code("Cyrl"),)
"""Scripts whose rows, once the script is found on the page, are read whole, Latin pieces
and all: the detector cuts a printed Russian line into pieces at word gaps, and PP-OCR reads
some as Latin look-alikes of any length (``HO3MOHO`` for ``невозможно``, ``BOIOC—CTOIO`` for
``вопрос—стою``). The row's reading stands unless the Latin model is surer of the row. Not
Greek: Greek commentaries mix real Latin-script words into their rows."""


@dataclass(frozen=True, slots=True)
class ScriptOptions:
    sparse: float = 0.35
    """Visible characters per line height of length below which PP-OCR read (almost) nothing."""
    doubtful: float = 0.65
    """PP-OCR confidence below which a line may be in a script it does not know."""
    vertical_doubtful: float = 0.9
    """A column (a tall region read turned a quarter) that PP-OCR read in Han or kana below
    this confidence is a suspect too: PP-OCR reads real vertical Chinese and Japanese at
    0.98-1.0, but a Korean column as look-alike Han at 0.6-0.8."""
    jumble_doubtful: float = 0.8
    """A Latin reading that is a jumble (``jumble_shaped``, in two tokens or more) below this
    confidence is a suspect too: PP-OCR reads a Hebrew line among English ones as ``C4 CC
    UXLα tl4LI CC UILl`` at 0.70, printed Latin at 0.9 and more."""
    min_height: int = 8
    min_aspect: float = 1.8
    """Suspect lines are at least this many pixels high and this long for their height
    (shorter crops hold one or two letters: too little to tell a script by)."""
    max_probes: int = 3
    """Suspect lines per page tried with every installed model."""
    max_misses: int = 1
    """Probing stops once this many probes found nothing, not even a near miss (suspects are
    probed most suspicious first, so a page whose worst line shows no foreign script is most
    likely all Latin; a near miss, as on a fragment of a Bengali line, lets the next suspect
    be probed)."""
    accept: float = 0.55
    """Mean word confidence a Tesseract reading needs to count (wrong-script models score
    0.2-0.53 on real lines, the right one 0.55-0.95)."""
    own_script: float = 0.6
    """Share of its letters that must belong to the model's script."""
    accept_found: float = 0.4
    """The same for a script already found on the page (or hinted)."""
    long_reading: int = 5
    accept_short: float = 0.7
    """A probe reading with fewer letters of its script than ``long_reading`` needs this
    confidence to count: a blurred Latin word reads as three confident Cyrillic letters more
    easily than as five."""
    near: float = 0.4
    """A probe reading in its own script scoring between this and ``accept`` is a near miss:
    its script is tried again on the whole text row (where it must reach ``accept``)."""
    min_letters: int = 3
    """Letters of its script a probe reading needs before it counts (scripts are found on a
    page from readings this long; once found, shorter pieces are read with them too)."""
    sure: float = 0.8
    """A reading this confident ends the search for its line."""
    dense_latin: float = 1.5
    word_shaped: float = 0.75
    """A suspect PP-OCR read in Latin with at least ``dense_latin`` letters per line height of
    length, ``word_shaped`` of them in word-shaped tokens (Latin letters in one case or
    capitalised), is not probed with every model: Latin handwriting reads so at 1.7-2.9 letters
    per height, lines in other scripts as sparse look-alikes (0-1.3) or jumbles of digits and
    mixed case. The scripts found on the page are still tried on it."""
    latin_page_words: int = 20
    latin_page_share: float = 0.5
    """A page is a Latin page when PP-OCR's Latin readings hold at least ``latin_page_words``
    dictionary words of three letters or more, and these are at least ``latin_page_share`` of
    its tokens that long (handwritten pages: 33-79 words, 0.64-0.80; signs in Devanagari and
    English: at most 16)."""
    jumble_shaped: float = 0.5
    """A Latin reading is a jumble when less than this share of its letters is in word-shaped
    tokens (Hebrew read as ``C4 tt UXLα t4L1``: 0.25; handwriting read as ``Is lmdutaij Manitg
    JaberingK.``: 0.64)."""
    jumble_words: int = 4
    """On a Latin page, a jumble holding at least this many letters in dictionary words of
    three letters or more (``have8iim i . may.``, ``in Lit aySocnbate, ) bid 2``) is Latin too:
    one three-letter run is often a word by chance (``fan3<300``), a four-letter one or two
    three-letter ones seldom."""
    probe_length: float = 8.0
    """Every model is tried on at most this many line heights from the middle of the crop (the
    winner then reads the whole line)."""
    threads: int = 1
    """Models tried at once on a probe line (libtesseract runs outside the GIL)."""
    greek_reading: float = 0.3
    """A line PP-OCR read with a Greek letter is read with the Greek model and its companions
    (``Greek+Fraktur+eng``), and that reading replaces PP-OCR's when it is confident
    (``accept``) and at least this share of its letters is Greek. PP-OCR's own confidence is
    no guide there: it reads polytonic Greek and Greek-Latin lines as look-alike jumbles at
    0.7-0.94 (``σaxεσqógos`` for ``σακεσφόρος``), above the Tesseract reading's score on 20
    of the 57 dev line pieces with a Greek letter, where the Tesseract reading was still the
    better one. Of the 41 dev lines read as one piece, the Tesseract reading had fewer errors
    on 39; on the other two it read nothing, or no Greek letter (a capitalised name). Set on
    the 50 dev lines of one book (both halves alike: the readings it lets in are 0.42-1.0
    Greek; 0.3 leaves room for lines with fewer Greek words)."""
    page_turn: int = 0
    """Quarter turns (counter-clockwise) the page was turned before detection: a crop's turn
    on the page as the camera saw it is its own turn plus this one."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A region: PP-OCR's best reading of it, the crop that reading came from, and the crop
    the geometry and line classifier proposed (``upright``). When PP-OCR cannot read a line,
    its choice between the line and the line turned over is a coin toss, so suspect lines are
    read from ``upright``."""

    crop: LineCrop
    line: RecognizedLine
    upright: LineCrop | None = None


def label(line: RecognizedLine) -> RecognizedLine:
    """``line`` with ``script`` set from its text (PP-OCR's scripts), if not set yet."""
    if line.script:
        return line
    found, _ = script_of_text(line.text, _PPOCR_SCRIPTS)
    return dataclasses.replace(line, script=found.code if found else "")


def identify(
    models: TesseractModels,
    candidates: Sequence[Candidate],
    hint: Sequence[Script] = (),
    options: ScriptOptions = ScriptOptions(),
    *,
    pixels: npt.NDArray[np.uint8] | None = None,
    dictionary: Container[str] | None = None,
) -> tuple[RecognizedLine, ...]:
    """The best reading of the candidates, each labelled with its script, in the candidates'
    order. With the page's ``pixels`` ((H, W, 3) uint8 BGR, the image the candidates' quads
    refer to), pieces of one text row in a script found on the page are read again as one
    line, which takes the place of its pieces (so there can be fewer lines than candidates).
    With a ``dictionary`` of Latin-script words (lower case), a Latin page probes fewer lines
    (see the module's description)."""
    foreign = [s for s in SCRIPTS if s.code != "Grek" and models.available(s)]
    if hint:
        # A hint narrows the search to its scripts (a Latin or CJK hint: no foreign search).
        foreign = [s for s in foreign if s in hint]
    latin_page = dictionary is not None and _latin_page(candidates, dictionary, options)
    search = _Search(models, foreign, options, dictionary if latin_page else None)
    for script in hint:
        if script in foreign:
            search.page.append(script)
    lines = [c.line for c in candidates]
    suspects = [i for i, c in enumerate(candidates) if _suspect(c, options)]
    suspects.sort(
        key=lambda i: (_density(candidates[i].line) >= options.sparse, -_area(candidates[i]))
    )
    replaced: set[int] = set()
    for i in suspects:
        suspect = candidates[i]
        if suspect.upright is not None:
            suspect = Candidate(suspect.upright, suspect.line)
        found = search.line(suspect, i)
        if found is not None and _better(found, candidates[i].line, options):
            lines[i] = found.line
            replaced.add(i)
    greek = by_code("Grek")
    if models.available(greek) and (not hint or greek in hint):
        for i, candidate in enumerate(candidates):
            if i not in replaced and greek.share(candidate.line.text) > 0:
                reading = search.read(greek, candidate, own=options.greek_reading)
                if reading is not None:
                    lines[i] = reading.line
                    replaced.add(i)
        for i, line in enumerate(lines):
            if greek.share(line.text) > 0:
                lines[i] = greek_spelling.spell(line)
    arab = by_code("Arab")
    for i, line in enumerate(lines):
        if arab.share(line.text) > 0:
            lines[i] = arabic_spelling.spell(line)
    for script in [s for s in search.page if s.code in _LOOKALIKE]:
        for i, candidate in enumerate(candidates):
            if i in replaced or label(candidate.line).script != "Latn":
                continue
            reading = search.read(script, candidate)
            if reading is not None and not search.latin_reads_better(candidate, reading):
                lines[i] = reading.line
                replaced.add(i)
    if pixels is None:
        return tuple(label(line) for line in lines)
    unread = {i for i in suspects if i not in replaced}
    joined = _read_rows(search, candidates, lines, unread, pixels)
    return tuple(label(line) for line in joined if line is not None)


def _read_rows(
    search: _Search,
    candidates: Sequence[Candidate],
    lines: list[RecognizedLine],
    unread: set[int],
    pixels: npt.NDArray[np.uint8],
) -> list[RecognizedLine | None]:
    """Read runs of pieces on one row as one line, with each script found on the page and
    each near miss. A run joins pieces read in that script, short pieces with no letters, suspect
    pieces nobody could read and short Latin look-alike pieces (PP-OCR reads a piece of an
    Arabic verse as ``KG``; for Cyrillic, Latin pieces of any length); it
    must hold a piece read in the script or an unread suspect (for a near miss: the suspect
    it nearly read, if no model read it since: a Greek line the Thai model nearly read is not
    read again in Thai once the Greek model read it). A near miss's suspect that joins no run
    is read again whole."""
    merged: list[RecognizedLine | None] = list(lines)
    scripts = [(s, unread) for s in search.page] + [
        (s, set(near) & unread) for s, near in search.near.items() if s not in search.page
    ]
    if not scripts:  # nothing found on the page (most Latin pages): no geometry to do
        return merged
    quads = [rows.screen_quad(c.crop) for c in candidates]
    taken: set[int] = set()
    for script, anchors in scripts:
        found = script in search.page

        def anchor(i: int, line: RecognizedLine) -> bool:
            if i in anchors:  # noqa: B023
                return True
            return found and label(line).script == script.code  # noqa: B023

        def joinable(i: int) -> bool:
            line = merged[i]
            if line is None or i in taken:
                return False
            code = label(line).script
            if anchor(i, line) or i in unread or (code == "" and line.visible <= 3):
                return True
            if not (found and code == "Latn"):  # noqa: B023
                return False
            return script in _ROW_SCRIPTS or _lookalike(line)  # noqa: B023

        for run in rows.segments(quads, [joinable(i) for i in range(len(quads))]):
            if not any(anchor(i, line) for i in run if (line := merged[i]) is not None):
                continue
            first = merged[run[0]]
            assert first is not None
            row = Candidate(rows.crop(pixels, [quads[i] for i in run]), first)
            reading = search.read(script, row)
            if reading is None or not (found or _accepted(reading, search.options)):
                continue
            latin = [i for i in run if (line := merged[i]) is not None and _latin_piece(line)]
            if latin and search.latin_reads_better(row, reading):
                continue  # a row of Latin words PP-OCR read as such, not look-alikes
            merged[run[0]] = reading.line
            for i in run[1:]:
                merged[i] = None
            taken.update(run)
            if script not in search.page:
                search.page.append(script)
        if not found:  # a near miss on a snippet: the whole line may be clearer
            for i in sorted(anchors - taken):
                suspect = candidates[i]
                crop = suspect.upright if suspect.upright is not None else suspect.crop
                reading = search.read(script, Candidate(crop, suspect.line))
                if reading is not None and _accepted(reading, search.options):
                    merged[i] = reading.line
                    taken.add(i)
    return merged


def _latin_piece(line: RecognizedLine) -> bool:
    """A Latin reading longer than a look-alike (``_lookalike``)."""
    return label(line).script == "Latn" and not _lookalike(line)


def _lookalike(line: RecognizedLine) -> bool:
    """A short Latin reading (at most three letters): a look-alike of Cyrillic or Greek
    letters, or what PP-OCR makes of a piece in a script it does not read."""
    letters = [c for c in line.text if c.isalpha()]
    return 0 < len(letters) <= 3


class _Search:
    """The models tried on one page, and the scripts found on it so far."""

    def __init__(
        self,
        models: TesseractModels,
        foreign: list[Script],
        options: ScriptOptions,
        latin_page: Container[str] | None = None,
    ):
        self.models = models
        self.foreign = foreign
        self.options = options
        self.latin_page = latin_page
        """On a Latin page, its dictionary (see ``_probe_worthy``)."""
        self.page: list[Script] = []
        self.near: dict[Script, list[int]] = {}
        """Near misses: a script and the suspects its probe nearly read."""
        self.probes_left = options.max_probes
        self.misses_left = options.max_misses

    def read(
        self,
        script: Script,
        candidate: Candidate,
        floor: float | None = None,
        own: float | None = None,
    ) -> TesseractReading | None:
        crop = candidate.crop
        reading = self.models.read(script, crop.pixels, crop.quad, crop.turn)
        vertical = script.tesseract_vertical
        column = (crop.turn + self.options.page_turn) % 4 == 1
        if column and vertical is not None and self.models.installed(vertical):
            # a column turned a quarter counter-clockwise: written top to bottom, or a
            # horizontal line turned on its side; the more confident model says which
            down = self.models.read(script, crop.pixels, crop.quad, crop.turn, model=vertical)
            if down is not None and (reading is None or down.score > reading.score):
                reading = down
        if floor is None:
            floor = self.options.accept_found if script in self.page else self.options.accept
        if reading is None or reading.score < floor:
            return None
        if script.share(reading.line.text) < (self.options.own_script if own is None else own):
            return None
        return reading

    def latin_reads_better(self, candidate: Candidate, reading: TesseractReading) -> bool:
        """Whether the Latin model is at least as sure of ``candidate`` as ``reading`` is."""
        if not self.models.installed(LATIN_MODEL):
            return False
        crop = candidate.crop
        latin = self.models.read(_LATIN, crop.pixels, crop.quad, crop.turn, model=LATIN_MODEL)
        return latin is not None and latin.score >= reading.score

    def line(self, candidate: Candidate, index: int) -> TesseractReading | None:
        """The best reading of the suspect ``candidate`` (number ``index`` on the page)."""
        best = self._best(candidate, list(self.page), None)
        probe = (
            self.probes_left > 0
            and self.misses_left > 0
            and _probe_worthy(candidate, self.options, self.latin_page)
        )
        if (best is None or best.score < self.options.sure) and probe:
            self.probes_left -= 1
            rest = [s for s in self.foreign if s not in self.page]
            snippet = _snippet(candidate, self.options.probe_length)
            # models are tried in ``SCRIPTS`` order, and no more are started once one reads the
            # snippet surely in its own script (wrong-script models score far below ``sure``)
            probes = parallel.thread_map(
                lambda script: self.read(script, snippet, self.options.near),
                rest,
                self.options.threads,
                until=lambda p: p is not None and self._sure(p),
            )
            readings = [p for p in probes if p is not None and _evidence(p, self.options)]
            probes_found_anything = bool(readings)
            accepted = [p for p in readings if _accepted(p, self.options)]
            if readings and not accepted and best is None:
                near = max(readings, key=lambda p: p.score)
                self.near.setdefault(by_code(near.line.script), []).append(index)
            readings = accepted
            if not probes_found_anything:
                self.misses_left -= 1
            if readings:
                top = max(readings, key=lambda p: p.score)
                reading = (
                    top if snippet is candidate else self.read(by_code(top.line.script), candidate)
                )
                if reading is not None and (best is None or reading.score > best.score):
                    best = reading
        if best is not None:
            found = by_code(best.line.script)
            if found not in self.page:
                self.page.append(found)
        return best

    def _sure(self, reading: TesseractReading) -> bool:
        options = self.options
        return (
            _evidence(reading, options)
            and _accepted(reading, options)
            and (reading.score >= options.sure)
        )

    def _best(
        self,
        candidate: Candidate,
        scripts: list[Script],
        best: TesseractReading | None,
    ) -> TesseractReading | None:
        for script in scripts:
            reading = self.read(script, candidate)
            if reading is not None and (best is None or reading.score > best.score):
                best = reading
                if reading.score >= self.options.sure:
                    break
        return best


def _snippet(candidate: Candidate, length: float) -> Candidate:
    """``candidate`` cut to at most ``length`` line heights from the middle of its crop."""
    pixels = candidate.crop.pixels
    height, width = pixels.shape[:2]
    keep = round(length * height)
    if width <= keep:
        return candidate
    start = (width - keep) // 2
    crop = dataclasses.replace(
        candidate.crop, pixels=np.ascontiguousarray(pixels[:, start : start + keep])
    )
    return Candidate(crop, candidate.line)


def _own_letters(reading: TesseractReading) -> int:
    """How many characters of ``reading`` belong to the script it was read in."""
    script = by_code(reading.line.script)
    return sum(script.contains(c) for c in reading.line.text)


def _evidence(reading: TesseractReading, options: ScriptOptions) -> bool:
    """Whether a probe reading has letters enough to tell its script: a model reads one blurred
    Latin letter as a confident Cyrillic, Tamil or Gujarati one."""
    return _own_letters(reading) >= options.min_letters


def _accepted(reading: TesseractReading, options: ScriptOptions) -> bool:
    """Whether a probe reading is sure enough to put its script on the page: short readings
    (a few letters) must be surer than long ones."""
    if reading.score < options.accept:
        return False
    return _own_letters(reading) >= options.long_reading or reading.score >= options.accept_short


def _probe_worthy(
    candidate: Candidate, options: ScriptOptions, latin_page: Container[str] | None = None
) -> bool:
    """Whether a suspect is worth trying every model on. PP-OCR reads a line in a script it
    does not know as a few look-alike characters, or as a jumble of letters, digits and mixed
    case (Hebrew as ``C4 tt UXLα t4L1``); a line it reads as dense, word-shaped Latin
    (handwriting, blur: ``we im can en D book``) is Latin it reads poorly. On a Latin page
    (``latin_page`` is then its dictionary) so is any line read in Latin letters or digits,
    unless it is sparse or a jumble with too few letters in dictionary words
    (``jumble_words``)."""
    line = candidate.line
    code = label(line).script
    shaped = _shaped_share(line.text)
    if latin_page is not None:
        if code not in ("Latn", "") or _density(line) < options.sparse:
            return True
        known = sum(len(word) for word in _words(line.text) if word.lower() in latin_page)
        return shaped < options.jumble_shaped and known < options.jumble_words
    if code != "Latn":
        return True
    letters = sum(c.isalpha() for c in line.text)
    if letters / max(line.aspect, 0.5) < options.dense_latin:
        return True
    return shaped < options.word_shaped


def _words(text: str) -> list[str]:
    """The runs of three letters or more in ``text`` (``have8iim`` holds ``have`` and
    ``iim``)."""
    return [run for run in _LETTER_RUN.findall(text) if len(run) >= 3]


_LETTER_RUN = re.compile(r"[^\W\d_]+")


def _latin_page(
    candidates: Sequence[Candidate], dictionary: Container[str], options: ScriptOptions
) -> bool:
    """Whether PP-OCR read the page as a Latin-script language (``latin_page_words``)."""
    words = [
        word
        for candidate in candidates
        if label(candidate.line).script == "Latn"
        for word in _words(candidate.line.text)
    ]
    known = sum(word.lower() in dictionary for word in words)
    return known >= options.latin_page_words and known >= options.latin_page_share * len(words)


def _letter_tokens(text: str) -> list[str]:
    """The space-separated tokens of ``text`` that hold a letter, outer punctuation stripped."""
    tokens = (t.strip(".,;:!?'\"()[]<>-_") for t in text.split())
    return [t for t in tokens if any(c.isalpha() for c in t)]


def _shaped_share(text: str) -> float:
    """The share of the letters of ``text`` that are in word-shaped tokens (1 with none)."""
    letters = sum(c.isalpha() for c in text)
    if letters == 0:
        return 1.0
    return sum(len(token) for token in _letter_tokens(text) if _word_shaped(token)) / letters


def _word_shaped(token: str) -> bool:
    """Latin letters only, in one case or capitalised (``book``, ``HAPPY``, ``Verdi``)."""
    if not all(c.isalpha() and _LATIN.contains(c) for c in token):
        return False
    return token.islower() or token.isupper() or token.istitle()


def _density(line: RecognizedLine) -> float:
    """Letters and digits per line height of length (punctuation alone is no reading: PP-OCR
    reads a short Cyrillic line it cannot make out as ``. .``)."""
    return sum(c.isalnum() for c in line.text) / max(line.aspect, 0.5)


def _area(candidate: Candidate) -> int:
    height, width = candidate.crop.pixels.shape[:2]
    return int(height * width)


def _suspect(candidate: Candidate, options: ScriptOptions) -> bool:
    height, width = candidate.crop.pixels.shape[:2]
    if height < options.min_height or width < options.min_aspect * height:
        return False
    line = candidate.line
    if _density(line) < options.sparse or line.confidence < options.doubtful:
        return True
    if (
        line.confidence < options.jumble_doubtful
        and label(line).script == "Latn"
        and len(_letter_tokens(line.text)) >= 2
        and _shaped_share(line.text) < options.jumble_shaped
    ):
        return True
    return (
        (candidate.crop.turn + options.page_turn) % 4 in (1, 3)
        and label(line).script in ("Hani", "Jpan")
        and line.confidence < options.vertical_doubtful
    )


def _better(found: TesseractReading, original: RecognizedLine, options: ScriptOptions) -> bool:
    if _density(original) < options.sparse:
        return True
    return found.score > original.confidence

"""Line recognisers for the scripts PP-OCRv6 cannot read: Tesseract 5 LSTM script models.

The ``tesserocr`` wheel carries libtesseract (no compiler, no subprocess); the models are the
``<Script>.traineddata`` files of Debian's ``tesseract-ocr-script-*`` packages, verified against
``models.TESSDATA_MANIFEST`` when first used. Each model runs on one upright line crop (page
segmentation "raw line"); its symbols, with their boxes and the confidence of the word they
belong to, become the same ``RecognizedLine`` the PP-OCR recogniser produces, characters in
logical (reading) order, so right-to-left lines keep their text right and their positions
where the ink is.

A ``TessBaseAPI`` is not thread-safe: each model has its own lock, so two threads can read with
two different models at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from ..errors import ModelError
from ..models import TESSDATA_DIRS, TESSDATA_MANIFEST, verify_file
from ..pipeline.recognize import Char, RecognizedLine, ink_mask
from .script import SCRIPTS, Script

__all__ = ["LATIN_MODEL", "TesseractModels", "TesseractOptions", "TesseractReading"]

LATIN_MODEL = "eng"
"""The model a Cyrillic or Greek reading of a line PP-OCR read in Latin must beat: the script
models answer a Latin line in confident homoglyphs (``Ѕеоиі`` for ``Seoul``)."""


@dataclass(frozen=True, slots=True)
class TesseractReading:
    """A line read by a script model. ``line``'s characters carry Tesseract's symbol
    certainties; ``score`` is the mean confidence of its words (0..1), which tells a model of
    the right script from a wrong one far better (LSTM symbol certainties stay high on a
    script the model does not know; word confidences drop)."""

    line: RecognizedLine
    score: float


@dataclass(frozen=True, slots=True)
class TesseractOptions:
    height: int = 48
    """Crops are scaled to this height (Tesseract's LSTM is trained on lines of about this
    size; taller crops only cost time)."""
    border: int = 6
    """Pixels of border around the crop (Tesseract misses ink at the very edge), in the
    crop's background grey (the median of its edge pixels). Not replicated edge pixels: a
    crop cut tight through a glyph (the first letter of a right-to-left line) then grows
    streaks that read as other letters (``فارس`` as ``غارس``)."""
    word_gap: float = 0.25
    """Where Tesseract's word boundaries are not words (``Script.tesseract_words``), an ink
    gap wider than this many line heights is a word break."""


def _find_directory(directory: Path | None) -> Path | None:
    candidates = [directory] if directory is not None else [Path(p) for p in TESSDATA_DIRS]
    for candidate in candidates:
        if candidate.is_dir() and any(
            (candidate / f.filename).is_file() for f in TESSDATA_MANIFEST
        ):
            return candidate
    return None


class TesseractModels:
    """The installed, verified script models, each loaded once on first use."""

    def __init__(
        self, directory: Path | None = None, options: TesseractOptions = TesseractOptions()
    ) -> None:
        self.directory = _find_directory(directory)
        self.options = options
        self._files = {f.name: f for f in TESSDATA_MANIFEST}
        self._installed = frozenset(
            f.name
            for f in TESSDATA_MANIFEST
            if self.directory is not None and (self.directory / f.filename).is_file()
        )
        self._apis: dict[str, tuple[Any, threading.Lock]] = {}
        self._load_lock = threading.Lock()

    def available(self, script: Script) -> bool:
        """Whether ``script`` has an installed model (it is verified when first used)."""
        return script.tesseract_model is not None and script.tesseract_model in self._installed

    def installed(self, name: str) -> bool:
        """Whether the model file ``name`` (``eng``, ``Cyrillic`` ...) is installed."""
        return name in self._installed

    def model(self, script: Script) -> str:
        """The Tesseract language string that reads ``script``: its script model, after its
        main language's pack when that is installed (``rus+Cyrillic``: the pack's dictionary
        fixes many words, the script model reads the rest), then its installed companions
        (``Greek+Fraktur+eng``)."""
        if script.tesseract_model is None:
            raise ValueError(f"{script.code} is read by PP-OCR, not Tesseract")
        pack = script.tesseract_language
        names = [pack] if pack is not None and pack in self._installed else []
        names.append(script.tesseract_model)
        names += [name for name in script.tesseract_companions if name in self._installed]
        return "+".join(names)

    def load(self, model: str) -> Any:
        """The loaded ``TessBaseAPI`` of ``model`` (one or more ``+``-joined model names);
        ``ModelError`` if one is missing or altered."""
        return self._loaded(model)[0]

    def _loaded(self, model: str) -> tuple[Any, threading.Lock]:
        loaded = self._apis.get(model)
        if loaded is not None:
            return loaded
        with self._load_lock:
            if model not in self._apis:
                self._apis[model] = (self._open(model), threading.Lock())
            return self._apis[model]

    def load_all(self) -> None:
        """Verify and load the model of every installed script (start-up, so no request pays
        for it)."""
        for script in SCRIPTS:
            if self.available(script):
                self.load(self.model(script))
                if script.tesseract_vertical and self.installed(script.tesseract_vertical):
                    self.load(script.tesseract_vertical)
        if self.installed(LATIN_MODEL):
            self.load(LATIN_MODEL)

    def _open(self, model: str) -> Any:
        for name in model.split("+"):
            file = self._files.get(name)
            if file is None or self.directory is None or name not in self._installed:
                raise ModelError(f"model tesseract-{name}: {name}.traineddata is not installed")
            verify_file(self.directory / file.filename, file.sha256, file.size, f"tesseract-{name}")
        import tesserocr

        try:
            return tesserocr.PyTessBaseAPI(
                path=str(self.directory), lang=model, psm=tesserocr.PSM.RAW_LINE
            )
        except RuntimeError as exc:
            raise ModelError(
                f"model tesseract-{model}: libtesseract cannot load it: {exc}"
            ) from exc

    def read(
        self,
        script: Script,
        pixels: npt.NDArray[np.uint8],
        quad: npt.NDArray[np.float32],
        turn: int = 0,
        model: str | None = None,
    ) -> TesseractReading | None:
        """Read the upright line crop ``pixels`` (H, W, 3) uint8 BGR with ``script``'s model
        (or with ``model``, a Tesseract language string, as text in ``script``); ``None`` when
        it reads nothing. ``quad`` and ``turn`` are the crop's (see ``orient``)."""
        api, lock = self._loaded(model or self.model(script))
        gray, scale, border = self._prepare(pixels)
        from tesserocr import RIL, iterate_level

        symbols: list[tuple[str, int, int, float, bool]] = []
        word_confidences: list[float] = []
        with lock:
            height, width = gray.shape
            api.SetImageBytes(gray.tobytes(), width, height, 1, width)
            api.Recognize()
            iterator = api.GetIterator()
            if iterator is not None:
                for symbol in iterate_level(iterator, RIL.SYMBOL):
                    try:
                        text = symbol.GetUTF8Text(RIL.SYMBOL)
                    except RuntimeError:  # tesserocr's way of saying "no text here"
                        continue
                    box = symbol.BoundingBox(RIL.SYMBOL)
                    if not text or box is None:
                        continue
                    starts_word = bool(symbol.IsAtBeginningOf(RIL.WORD))
                    confidence = float(symbol.Confidence(RIL.SYMBOL)) / 100.0
                    symbols.append((text, box[0], box[2], confidence, starts_word))
                    if starts_word:
                        word_confidences.append(float(symbol.Confidence(RIL.WORD)) / 100.0)
        if not symbols:
            return None
        crop_width = pixels.shape[1]
        crop_height = pixels.shape[0]
        line_height = float(self.options.height)

        def fraction(x: float) -> float:
            return float(min(max((x - border) / scale / crop_width, 0.0), 1.0))

        chars: list[Char] = []
        previous: tuple[int, int] | None = None
        for text, left, right, confidence, starts_word in symbols:
            gap = 0.0
            if previous is not None:
                low, high = (right, previous[0]) if script.rtl else (previous[1], left)
                gap = max(0.0, (high - low) / line_height)
                breaks = starts_word if script.tesseract_words else gap >= self.options.word_gap
                if breaks:
                    a, b = sorted((fraction(low), fraction(high)))
                    chars.append(Char(" ", a, b, 1.0))
            x0, x1 = fraction(left), fraction(right)
            x1 = max(x1, x0)
            probability = min(max(confidence, 0.0), 1.0)
            # A symbol can be a cluster of several code points (Indic, Thai); every Char is
            # one code point, so the cluster's box is shared out among them in order.
            step = (x1 - x0) / len(text)
            for k, code_point in enumerate(text):
                a = x0 + k * step
                first = k == 0
                chars.append(Char(code_point, a, a + step, probability, gap if first else 0.0))
            previous = (left, right)
        line = RecognizedLine(
            quad,
            tuple(chars),
            crop_width / max(1, crop_height),
            turn,
            script=script.code,
            ink=ink_mask(pixels),
        )
        score = sum(word_confidences) / len(word_confidences) if word_confidences else 0.0
        return TesseractReading(line, score)

    def _prepare(self, pixels: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], float, int]:
        gray = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY) if pixels.ndim == 3 else pixels
        scale = self.options.height / max(1, gray.shape[0])
        width = max(1, round(gray.shape[1] * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        resized = cv2.resize(gray, (width, self.options.height), interpolation=interpolation)
        b = self.options.border
        edges = np.concatenate((resized[0], resized[-1], resized[:, 0], resized[:, -1]))
        background = int(np.median(edges))
        padded = cv2.copyMakeBorder(resized, b, b, b, b, cv2.BORDER_CONSTANT, value=background)
        return np.ascontiguousarray(padded, dtype=np.uint8), scale, b

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("TesseractModels is not picklable: pickle the Engine (it reloads)")

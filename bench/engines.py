"""OCR engines behind one small protocol, so the benchmark runs them side by side.

Every adapter gets the image file's bytes (read before the clock starts) and is timed from those
bytes to its result: decoding (PIL, EXIF orientation applied) is inside the timed part for all
engines alike, as openread decodes the bytes itself.

* ``openread``: ``openread.Engine`` with ``Settings(threads=N)`` and relaxed size limits (the
  ``lines_*`` crops are below Azure's 50 px minimum side); it reads the bytes.
  ``openread-fast`` is the ``fast`` profile (PP-OCRv6 tiny detector and recogniser),
  ``openread-cascade`` the default with the recogniser cascade on (``OPENREAD_CASCADE``).
* ``rapidocr``: RapidOCR 3.10's default pipeline (PP-OCRv6 det/rec, line classifier on), word
  boxes on; it gets the EXIF-transposed image as a BGR array. ``rapidocr-merged`` is the same
  run with its word pieces merged into the space-separated tokens of its lines.
* ``tesseract``: Tesseract 5 through ``tesserocr``, default page segmentation (``RAW_LINE``
  when the hint says the image is one line: ``SINGLE_LINE`` returns nothing on some Arabic
  lines), language from the hint; it gets the same RGB image.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps
from shapely.geometry import MultiPoint

if TYPE_CHECKING:
    from openread.pipeline.calibrate import LogisticMap

__all__ = [
    "ENGINE_NAMES",
    "KNOWN_ENGINES",
    "Engine",
    "OpenReadEngine",
    "PageHint",
    "PredLine",
    "PredWord",
    "Prediction",
    "RapidOcrEngine",
    "TesseractEngine",
    "decode_rgb",
    "make_engine",
    "tesseract_languages",
]

Point = tuple[float, float]
Polygon = tuple[Point, ...]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PredWord:
    polygon: Polygon
    text: str
    confidence: float
    held_out: float | None = None
    """openread's confidence from the fold map not fitted on this image (``bench.calibrate
    --folds``), where the image is in the fold file: what the held-out ECE scores."""


@dataclass(frozen=True, slots=True)
class PredLine:
    polygon: Polygon
    text: str


@dataclass(frozen=True, slots=True)
class Prediction:
    """What an engine read in one image; ``lines`` in the engine's reading order."""

    words: tuple[PredWord, ...]
    lines: tuple[PredLine, ...]
    seconds: float

    @property
    def page_text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True, slots=True)
class PageHint:
    """What an engine may know about an image: its GT language codes (ISO 639, ``+``-joined,
    e.g. ``hi+en``) and whether it holds a single text line."""

    language: str = "en"
    single_line: bool = False


class Engine(Protocol):
    name: str

    def run(self, image_path: Path, *, hint: PageHint | None = None) -> Prediction: ...


def decode_rgb(data: bytes) -> Image.Image:
    """The image in RGB with its EXIF orientation applied."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def _box(x1: float, y1: float, x2: float, y2: float) -> Polygon:
    return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))


def _polygon(points: Any) -> Polygon:
    return tuple((float(p[0]), float(p[1])) for p in points)


# --- openread --------------------------------------------------------------------------------


class OpenReadEngine:
    """openread in-process; ``scripts=False`` is PP-OCR alone (no script identification, no
    Tesseract script models): what the scripts cost on Latin pages; ``handwriting=False``
    reads handwritten lines with PP-OCRv6 small too (no handwriting reader)."""

    def __init__(
        self,
        threads: int,
        scripts: bool = True,
        *,
        profile: str = "default",
        cascade: bool = False,
        handwriting: bool = True,
        name: str | None = None,
    ) -> None:
        import openread

        self.name = name or ("openread" if scripts else "openread-noscripts")
        if not handwriting and name is None:
            self.name += "-nohw"
        settings = openread.Settings(
            threads=threads,
            limits=openread.ImageLimits(relaxed=True),
            scripts=scripts,
            profile=profile,
            cascade=cascade,
            handwriting=handwriting,
            calibrate=False,  # applied in run(), as Engine.read does last, and with fold maps
        )
        self._engine = openread.Engine.load(settings)
        self._engine.warm_up()  # as the server does at start: every model loaded and run once
        self._folds = _fold_maps()

    def run(self, image_path: Path, *, hint: PageHint | None = None) -> Prediction:
        from openread.pipeline.calibrate import calibrate

        data = image_path.read_bytes()
        lexicon = self._engine.models.lexicon
        raw, seconds = _timed(lambda: self._engine.read(data))
        result, extra = _timed(lambda: calibrate(raw, lexicon))
        seconds += extra
        fold = self._folds.get(f"{image_path.parent.parent.name}/{image_path.name}")
        held = calibrate(raw, lexicon, fold).words if fold is not None else None
        words = tuple(
            PredWord(
                tuple((float(p.x), float(p.y)) for p in w.polygon),
                w.text,
                w.confidence,
                held[k].confidence if held is not None else None,
            )
            for k, w in enumerate(result.words)
        )
        lines = tuple(
            PredLine(tuple((float(p.x), float(p.y)) for p in line.polygon), line.text)
            for line in result.lines
        )
        return Prediction(words, lines, seconds)


def _fold_maps() -> dict[str, LogisticMap]:
    """``subset/image`` -> the fold map not fitted on that image (``bench.calibrate --folds
    --write`` writes them; none if the file is missing)."""
    from openread.pipeline.calibrate import LogisticMap

    path = Path(__file__).resolve().parent / "results" / "calibration_folds.json"
    if not path.is_file():
        return {}
    payload = json.loads(path.read_text("utf-8"))
    features = tuple(payload["features"])
    maps = [LogisticMap(features, tuple(m["weights"]), float(m["bias"])) for m in payload["maps"]]
    return {image: maps[fold] for image, fold in payload["images"].items()}


# --- RapidOCR --------------------------------------------------------------------------------


def _bgr(data: bytes) -> npt.NDArray[np.uint8]:
    rgb = np.asarray(decode_rgb(data), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _rapid_lines(out: Any) -> tuple[PredLine, ...]:
    if out.boxes is None or out.txts is None:
        return ()
    return tuple(
        PredLine(_polygon(box), str(text)) for box, text in zip(out.boxes, out.txts, strict=True)
    )


def _hull(points: list[Point]) -> Polygon:
    hull = MultiPoint(points).convex_hull
    if hull.geom_type != "Polygon":  # degenerate (all points on a line)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return _box(min(xs), min(ys), max(xs), max(ys))
    return tuple((float(x), float(y)) for x, y in hull.exterior.coords[:-1])


def _regroup(text: str, pieces: list[tuple[str, float, Polygon]]) -> list[PredWord] | None:
    """RapidOCR's pieces merged into the line's space-separated tokens (it cuts a line into
    single characters as soon as one CJK character is in it, and cuts words at wide gaps);
    ``None`` when the pieces do not spell the tokens."""
    words, k = [], 0
    for token in text.split():
        group: list[tuple[str, float, Polygon]] = []
        spelled = ""
        while k < len(pieces) and len(spelled) < len(token):
            group.append(pieces[k])
            spelled += "".join(pieces[k][0].split())
            k += 1
        if spelled != token:
            return None
        points = [p for _, _, poly in group for p in poly]
        score = min(conf for _, conf, _ in group)
        words.append(PredWord(group[0][2] if len(group) == 1 else _hull(points), token, score))
    return words if k == len(pieces) else None


def _line_words(line: PredLine, item: Any, score: float, merge: bool) -> list[PredWord]:
    pieces = [(str(t), float(c), _polygon(b)) for t, c, b in item if str(t).strip()]
    words = _regroup(line.text, pieces) if merge and pieces else None
    if words is not None:
        return words
    if pieces:  # RapidOCR's own cut
        return [PredWord(poly, "".join(t.split()), c) for t, c, poly in pieces]
    return [PredWord(line.polygon, token, score) for token in line.text.split()]


def _rapid_words(out: Any, lines: tuple[PredLine, ...], merge: bool) -> tuple[PredWord, ...]:
    """Words from ``word_results`` ((text, score, box) per piece, one tuple per line; used only
    when it has one entry per line), merged into the line's space-separated tokens if ``merge``;
    a line without word boxes is split on spaces, each word getting the line's box."""
    scores = tuple(float(s) for s in (out.scores or ()))
    results = out.word_results if lines else ()
    if len(results) != len(lines):
        results = tuple(() for _ in lines)
    return tuple(
        word
        for line, item, score in zip(lines, results, scores, strict=True)
        for word in _line_words(line, item or (), score, merge)
    )


class RapidOcrEngine:
    """RapidOCR's default pipeline; its words as it cuts them, or (``merge_words``, engine name
    ``rapidocr-merged``) merged into the space-separated tokens of its lines."""

    def __init__(self, threads: int, merge_words: bool = False) -> None:
        from rapidocr import RapidOCR

        self.name = "rapidocr-merged" if merge_words else "rapidocr"
        self._merge = merge_words
        self._ocr = RapidOCR(
            params={
                "Global.return_word_box": True,
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            }
        )

    def run(self, image_path: Path, *, hint: PageHint | None = None) -> Prediction:
        data = image_path.read_bytes()
        out, seconds = _timed(lambda: self._ocr(_bgr(data)))
        lines = _rapid_lines(out)
        return Prediction(_rapid_words(out, lines, self._merge), lines, seconds)


# --- Tesseract -------------------------------------------------------------------------------

_TESS_LANGS = {
    "en": "eng",
    "fr": "fra",
    "de": "deu",
    "ar": "ara",
    "ru": "rus",
    "grc": "grc+ell",
    "el": "ell",
    "hi": "hin",
}

_TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
)


def tesseract_languages(language: str) -> str:
    """Tesseract language string for GT language codes: ``hi+en`` -> ``hin+eng``."""
    parts: list[str] = []
    for code in language.split("+"):
        for lang in _TESS_LANGS.get(code, "eng").split("+"):
            if lang not in parts:
                parts.append(lang)
    return "+".join(parts)


def _tessdata() -> str:
    env = os.environ.get("TESSDATA_PREFIX")
    for candidate in (env, *_TESSDATA_CANDIDATES):
        if candidate and (Path(candidate) / "eng.traineddata").is_file():
            return candidate
    raise RuntimeError("no tessdata with eng.traineddata found (apt-get install tesseract-ocr)")


def _tess_tsv(tsv: str) -> tuple[list[tuple[str, Polygon, float]], list[tuple[str, Polygon]]]:
    """Words (text, box, confidence) and lines (text, box) from Tesseract's TSV output, in
    reading (logical) order. tesserocr's result iterator gives right-to-left words in visual
    order and a right-to-left line as its first word only (``»هيلإ`` for a whole Arabic line
    Tesseract reads right), so the anchor reads the TSV, which Tesseract writes as its CLI does."""
    words: list[tuple[str, Polygon, float]] = []
    lines: dict[tuple[str, ...], tuple[Polygon, list[str]]] = {}
    for row in tsv.splitlines():
        cells = row.split("\t")
        if len(cells) < 12:
            continue
        level, key = cells[0], tuple(cells[1:5])
        x, y, w, h = (float(v) for v in cells[6:10])
        box = _box(x, y, x + w, y + h)
        if level == "4":
            lines[key] = (box, [])
        elif level == "5":
            text = " ".join(cells[11].split())
            if not text or float(cells[10]) < 0:
                continue
            words.append((text, box, float(cells[10]) / 100.0))
            if key in lines:
                lines[key][1].append(text)
    return words, [(" ".join(texts), box) for box, texts in lines.values() if texts]


class TesseractEngine:
    name = "tesseract"

    def __init__(self, threads: int) -> None:
        os.environ["OMP_THREAD_LIMIT"] = str(threads)
        import tesserocr

        self._tesserocr = tesserocr
        self._path = _tessdata()
        self._apis: dict[str, Any] = {}

    def _api(self, lang: str) -> Any:
        if lang not in self._apis:
            self._apis[lang] = self._tesserocr.PyTessBaseAPI(path=self._path, lang=lang)
        return self._apis[lang]

    def _ocr(
        self, api: Any, data: bytes, single_line: bool
    ) -> tuple[list[tuple[str, Polygon, float]], list[tuple[str, Polygon]]]:
        psm = self._tesserocr.PSM.RAW_LINE if single_line else self._tesserocr.PSM.AUTO
        api.SetPageSegMode(psm)
        api.SetImage(decode_rgb(data))
        api.Recognize()
        return _tess_tsv(api.GetTSVText(0))

    def run(self, image_path: Path, *, hint: PageHint | None = None) -> Prediction:
        hint = hint or PageHint()
        api = self._api(tesseract_languages(hint.language))
        data = image_path.read_bytes()
        (words, lines), seconds = _timed(lambda: self._ocr(api, data, hint.single_line))
        return Prediction(
            tuple(PredWord(poly, text, conf) for text, poly, conf in words),
            tuple(PredLine(poly, text) for text, poly in lines),
            seconds,
        )

    def close(self) -> None:
        for api in self._apis.values():
            api.End()
        self._apis.clear()


ENGINE_NAMES = ("openread", "rapidocr", "tesseract")
"""The engines run by default."""

_FACTORIES: dict[str, Callable[[int], Engine]] = {
    "openread": OpenReadEngine,
    "openread-noscripts": lambda threads: OpenReadEngine(threads, scripts=False),
    "openread-fast": lambda threads: OpenReadEngine(threads, profile="fast", name="openread-fast"),
    "openread-cascade": lambda threads: OpenReadEngine(
        threads, cascade=True, name="openread-cascade"
    ),
    "openread-nohw": lambda threads: OpenReadEngine(threads, handwriting=False),
    "rapidocr": RapidOcrEngine,
    "rapidocr-merged": lambda threads: RapidOcrEngine(threads, merge_words=True),
    "tesseract": TesseractEngine,
}
KNOWN_ENGINES = tuple(_FACTORIES)


def make_engine(name: str, threads: int) -> Engine:
    """Build the named engine with ``threads`` threads for one OCR call."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown engine {name!r}; choose from {', '.join(KNOWN_ENGINES)}")
    return _FACTORIES[name](threads)

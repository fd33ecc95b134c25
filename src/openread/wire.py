"""The one module that builds Azure's wire JSON (Image Analysis 4.0 ``analyze`` and errors).

The shapes are Azure's own (``ImageAnalysisResult`` of api-version 2023-10-01), typed here as
``TypedDict``s so that the structure is checked by mypy. Keys are emitted in the order the live
service uses, which makes diffs against Azure output easy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, NotRequired, TypedDict

from .errors import OpenReadError
from .result import Line, Point, Quad, ReadResult, Word

if TYPE_CHECKING:
    from .engine import ScriptSupport

__all__ = [
    "AnalyzeResultJson",
    "ErrorJson",
    "dumps",
    "error_json",
    "to_azure_json",
]


class PointJson(TypedDict):
    x: int
    y: int


class WordJson(TypedDict):
    text: str
    boundingPolygon: list[PointJson]
    confidence: float


class _LineJsonRequired(TypedDict):
    text: str
    boundingPolygon: list[PointJson]
    words: list[WordJson]


class LineJson(_LineJsonRequired, total=False):
    script: str
    """openread's opt-in extension (ISO 15924 code), absent unless asked for; Azure's SDKs
    ignore members they do not know."""


class BlockJson(TypedDict):
    lines: list[LineJson]


class ReadResultJson(TypedDict):
    blocks: list[BlockJson]


class MetadataJson(TypedDict):
    width: int
    height: int


class AnalyzeResultJson(TypedDict):
    modelVersion: str
    metadata: MetadataJson
    readResult: NotRequired[ReadResultJson]


class InnerErrorJson(TypedDict):
    code: str
    message: str


class ErrorBodyJson(TypedDict):
    code: str
    message: str
    innererror: NotRequired[InnerErrorJson]


class ErrorJson(TypedDict):
    error: ErrorBodyJson


def _polygon(quad: Quad) -> list[PointJson]:
    return [_point(p) for p in quad]


def _point(p: Point) -> PointJson:
    return {"x": p.x, "y": p.y}


def _word(word: Word) -> WordJson:
    return {
        "text": word.text,
        "boundingPolygon": _polygon(word.polygon),
        "confidence": round(word.confidence, 3),
    }


def _line(line: Line, scripts: bool) -> LineJson:
    body: LineJson = {
        "text": line.text,
        "boundingPolygon": _polygon(line.polygon),
        "words": [_word(w) for w in line.words],
    }
    if scripts:
        body["script"] = line.script
    return body


def to_azure_json(
    result: ReadResult, *, include_read: bool = True, scripts: bool = False
) -> AnalyzeResultJson:
    """The ``analyze`` response body for ``features=read`` (``include_read=False`` leaves
    ``readResult`` out, as Azure does when ``read`` was not requested). ``scripts=True`` adds
    each line's ``script`` (openread's extension, off by default: Azure 4.0 has no such
    member)."""
    body: AnalyzeResultJson = {
        "modelVersion": result.model_version,
        "metadata": {"width": result.width, "height": result.height},
    }
    if include_read:
        body["readResult"] = {
            "blocks": [{"lines": [_line(line, scripts) for line in b.lines]} for b in result.blocks]
        }
    return body


class ScriptJson(TypedDict):
    code: str
    name: str
    recognizer: str
    available: bool
    rightToLeft: bool
    languages: list[str]


class LanguagesJson(TypedDict):
    scripts: list[ScriptJson]


def languages_json(supports: Sequence[ScriptSupport]) -> LanguagesJson:
    """The body of ``GET /openread/languages`` (and ``openread languages --json``)."""
    return {
        "scripts": [
            {
                "code": s.script.code,
                "name": s.script.name,
                "recognizer": s.recognizer,
                "available": s.available,
                "rightToLeft": s.script.rtl,
                "languages": list(s.script.languages),
            }
            for s in supports
        ]
    }


def error_json(error: OpenReadError) -> ErrorJson:
    """Azure's error envelope for ``error``."""
    body: ErrorBodyJson = {"code": error.code, "message": error.message}
    if error.inner_code is not None:
        body["innererror"] = {
            "code": error.inner_code,
            "message": error.inner_message or error.message,
        }
    return {"error": body}


def dumps(body: AnalyzeResultJson | ErrorJson | LanguagesJson) -> bytes:
    """Serialise a wire body exactly as the server sends it (UTF-8, compact)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

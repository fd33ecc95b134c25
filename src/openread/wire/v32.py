"""Azure's Computer Vision v3.x Read bodies (``/vision/v3.{0,1,2}/read/...``): the operation
result of ``analyzeResults/{id}`` / ``operations/{id}`` / ``syncAnalyze``, and the v3 error body.

Shapes are the v3.2 OpenAPI's ``ReadOperationResult`` (keys in the order Azure's examples use):

    {"status", "createdDateTime", "lastUpdatedDateTime",
     "analyzeResult": {"version", "modelVersion", "readResults": [
        {"page", "angle", "width", "height", "unit", "lines": [
           {"boundingBox": [8 numbers], "text", "appearance": {"style": {"name", "confidence"}},
            "words": [{"boundingBox", "text", "confidence"}]}]}]}}

Bounding boxes are the 4-point polygons of ``result`` flattened (clockwise from the text's own
top-left corner), integers for ``unit: pixel`` and inches rounded to 4 decimals for PDF pages
(``unit: inch``). ``appearance`` is v3.2's (v3.0 and v3.1 have none). A page that could not be
read keeps its place with no lines and an ``error`` member (openread's extension; the SDKs ignore
members they do not know), so one bad page never loses the others.

Errors (spec 3.3): Azure's v3.2 error body is not settled, so the body carries both shapes, the
wrapped ``{"error": {...}}`` the 4.0 SDKs read and the flat ``code``/``message``/``requestId``
the v3.2 SDK reads; the flat ``code`` is the specific one (the inner code when there is one).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal, NotRequired, TypedDict

from ..errors import OpenReadError
from ..result import Line, Quad, ReadResult, Word
from .errors import ErrorBodyJson, dumps, error_json

__all__ = [
    "AnalyzeResultJson",
    "PageJson",
    "Status",
    "Unit",
    "V3ErrorJson",
    "analyze_result_json",
    "loads_page",
    "loads_result",
    "operation_body",
    "page_angle",
    "page_error_json",
    "page_json",
    "serialise",
    "serialise_page",
    "timestamp",
    "v3_error_json",
]

Status = Literal["notStarted", "running", "succeeded", "failed"]
Unit = Literal["pixel", "inch"]


class StyleJson(TypedDict):
    name: Literal["handwriting", "other"]
    confidence: float


class AppearanceJson(TypedDict):
    style: StyleJson


class WordJson(TypedDict):
    boundingBox: list[float]
    text: str
    confidence: float


class _LineJsonRequired(TypedDict):
    boundingBox: list[float]
    text: str


class LineJson(_LineJsonRequired, total=False):
    appearance: AppearanceJson
    words: list[WordJson]


class PageErrorJson(TypedDict):
    code: str
    message: str


class PageJson(TypedDict):
    page: int
    angle: float
    width: float
    height: float
    unit: Unit
    lines: list[LineJson]
    error: NotRequired[PageErrorJson]


class AnalyzeResultJson(TypedDict):
    version: str
    modelVersion: str
    readResults: list[PageJson]


class V3ErrorJson(TypedDict):
    error: ErrorBodyJson
    code: str
    message: str
    requestId: str


def timestamp(epoch: float) -> str:
    """An instant as Azure writes it (ISO 8601, UTC offset ``+00:00``)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _box(quad: Quad, scale: float) -> list[float]:
    if scale == 1.0:
        return [v for p in quad for v in (p.x, p.y)]
    return [round(v / scale, 4) for p in quad for v in (p.x, p.y)]


def _word(word: Word, scale: float) -> WordJson:
    return {
        "boundingBox": _box(word.polygon, scale),
        "text": word.text,
        "confidence": round(word.confidence, 3),
    }


def _line(line: Line, scale: float, appearance: bool) -> LineJson:
    body: LineJson = {"boundingBox": _box(line.polygon, scale), "text": line.text}
    if appearance:
        style = line.appearance
        body["appearance"] = {
            "style": {
                "name": "other" if style is None else style.style,
                "confidence": 0.0 if style is None else round(style.confidence, 3),
            }
        }
    body["words"] = [_word(w, scale) for w in line.words]
    return body


def page_angle(result: ReadResult) -> float:
    """The page's text angle in degrees, clockwise, in [-180, 180): the mean direction of the
    lines' top edges (from their own top-left to top-right corner), weighted by edge length;
    0 without lines."""
    sx = sy = 0.0
    for line in result.lines:
        a, b = line.polygon[0], line.polygon[1]
        dx, dy = float(b.x - a.x), float(b.y - a.y)
        length = math.hypot(dx, dy)
        if length > 0:
            sx += dx
            sy += dy
    if sx == 0.0 and sy == 0.0:
        return 0.0
    angle = math.degrees(math.atan2(sy, sx))  # y grows downwards: positive = clockwise
    angle = round(angle, 4)
    return angle - 360.0 if angle >= 180.0 else angle


def page_json(
    number: int,
    result: ReadResult,
    *,
    unit: Unit,
    width: float,
    height: float,
    scale: float,
    appearance: bool,
) -> PageJson:
    """One ``readResults`` entry: page ``number`` read as ``result`` (pixel coordinates,
    divided by ``scale`` to be in ``unit``)."""
    return {
        "page": number,
        "angle": page_angle(result),
        "width": width,
        "height": height,
        "unit": unit,
        "lines": [_line(line, scale, appearance) for line in result.lines],
    }


def page_error_json(
    number: int,
    error: OpenReadError,
    *,
    unit: Unit,
    width: float = 0.0,
    height: float = 0.0,
) -> PageJson:
    """The entry of a page that could not be read: no lines, and why (``error``)."""
    return {
        "page": number,
        "angle": 0.0,
        "width": width,
        "height": height,
        "unit": unit,
        "lines": [],
        "error": {"code": error.inner_code or error.code, "message": error.message},
    }


def analyze_result_json(
    api_version: str, model_version: str, pages: Sequence[PageJson]
) -> AnalyzeResultJson:
    """The ``analyzeResult`` of a finished operation (``api_version`` as ``3.2``)."""
    return {
        "version": f"{api_version}.0",
        "modelVersion": model_version,
        "readResults": list(pages),
    }


def operation_body(
    status: Status,
    created: float,
    updated: float,
    analyze_result: bytes | None = None,
    error: PageErrorJson | None = None,
) -> bytes:
    """The body of ``GET .../analyzeResults/{id}``: ``analyze_result`` is the serialised
    ``analyzeResult`` (as stored), inserted as it is; ``error`` says why a job failed
    (openread's extension)."""
    head: dict[str, object] = {
        "status": status,
        "createdDateTime": timestamp(created),
        "lastUpdatedDateTime": timestamp(updated),
    }
    if error is not None:
        head["error"] = error
    body = dumps(head)
    if analyze_result is None:
        return body
    return body[:-1] + b',"analyzeResult":' + analyze_result + b"}"


def serialise(result: AnalyzeResultJson) -> bytes:
    """``analyzeResult`` as stored and sent."""
    return dumps(result)


def v3_error_json(error: OpenReadError, request_id: str) -> V3ErrorJson:
    """The combined v3 error body: ``{"error": {...}, "code", "message", "requestId"}``."""
    return {
        "error": error_json(error)["error"],
        "code": error.inner_code or error.code,
        "message": error.message,
        "requestId": request_id,
    }


def serialise_page(page: PageJson) -> bytes:
    """One page's result as a job keeps it while the job runs (``loads_page`` reads it back
    exactly: JSON floats round-trip)."""
    return dumps(page)


def loads_page(raw: bytes) -> PageJson:
    value: PageJson = json.loads(raw)
    return value


def loads_result(raw: bytes) -> AnalyzeResultJson:
    """A stored ``analyzeResult`` back as JSON (for tests and tools)."""
    value: AnalyzeResultJson = json.loads(raw)
    return value

"""The ``analyze`` body of Image Analysis 4.0's preview api-versions (2022-10-12-preview,
2023-02-01-preview, 2023-04-01-preview), spec section 2.10.

The preview service answered ``readResult`` in a Document-Intelligence-like shape, and code
written against it reads ``readResult.content`` and ``readResult.pages[0].words``::

    {"modelVersion": ..., "metadata": {"width", "height"},
     "readResult": {"stringIndexType": "TextElements", "content": "line 1\\nline 2",
       "pages": [{"height", "width", "angle", "pageNumber": 1,
                  "words": [{"content", "boundingBox": [8 numbers], "confidence",
                             "span": {"offset", "length"}}],
                  "spans": [{"offset": 0, "length": ...}],
                  "lines": [{"content", "boundingBox": [8 numbers], "spans": [...]}]}],
       "styles": [...], "modelVersion": "2022-04-30"}}

``content`` is the lines in reading order joined by ``\\n`` (a line being its words joined by
spaces); every ``span`` indexes ``content`` in text elements (user-perceived characters, so a
letter followed by combining marks counts once). ``boundingBox`` is the 4-point polygon
flattened clockwise from the text's top-left (x1, y1, ..., x4, y4) in pixels; ``angle`` is the
page's text angle in degrees (clockwise, in [-180, 180)). ``styles`` holds one entry per line
that the style stage classified as handwritten (``isHandwritten``, its spans and confidence, as
Document Intelligence's ``DocumentStyle``); it is empty when no line was.
"""

from __future__ import annotations

import math
import statistics
import unicodedata
from typing import Literal, TypedDict

from ..result import Line, Quad, ReadResult
from .v40 import MetadataJson

__all__ = ["PREVIEW_READ_MODEL_VERSION", "PreviewAnalyzeResultJson", "to_preview_json"]

PREVIEW_READ_MODEL_VERSION = "2022-04-30"
"""``readResult.modelVersion`` of the preview service: the Read model it ran."""


class SpanJson(TypedDict):
    offset: int
    length: int


class PreviewWordJson(TypedDict):
    content: str
    boundingBox: list[int]
    confidence: float
    span: SpanJson


class PreviewLineJson(TypedDict):
    content: str
    boundingBox: list[int]
    spans: list[SpanJson]


class PreviewPageJson(TypedDict):
    height: int
    width: int
    angle: float
    pageNumber: int
    words: list[PreviewWordJson]
    spans: list[SpanJson]
    lines: list[PreviewLineJson]


class PreviewStyleJson(TypedDict):
    isHandwritten: bool
    spans: list[SpanJson]
    confidence: float


class PreviewReadResultJson(TypedDict):
    stringIndexType: Literal["TextElements"]
    content: str
    pages: list[PreviewPageJson]
    styles: list[PreviewStyleJson]
    modelVersion: str


class _PreviewBodyRequired(TypedDict):
    modelVersion: str
    metadata: MetadataJson


class PreviewAnalyzeResultJson(_PreviewBodyRequired, total=False):
    readResult: PreviewReadResultJson


def text_elements(text: str) -> int:
    """How many user-perceived characters ``text`` holds (combining marks join the character
    before them), the unit of the preview's ``stringIndexType: TextElements``."""
    return sum(1 for ch in text if not unicodedata.combining(ch))


def _box(quad: Quad) -> list[int]:
    return [c for p in quad for c in (p.x, p.y)]


def page_angle(lines: list[Line]) -> float:
    """The text angle of a page in degrees, clockwise (image y grows downwards), in
    [-180, 180): the median direction of the lines' top edges (0 when there is no line)."""
    angles = [
        math.degrees(
            math.atan2(line.polygon[1].y - line.polygon[0].y, line.polygon[1].x - line.polygon[0].x)
        )
        for line in lines
    ]
    if not angles:
        return 0.0
    angle = statistics.median(angles)
    return round(((angle + 180.0) % 360.0) - 180.0, 4)


def to_preview_json(result: ReadResult, *, include_read: bool = True) -> PreviewAnalyzeResultJson:
    """The preview ``analyze`` body for ``result`` (``include_read=False`` leaves
    ``readResult`` out, as when ``read`` was not requested)."""
    body: PreviewAnalyzeResultJson = {
        "modelVersion": result.model_version,
        "metadata": {"width": result.width, "height": result.height},
    }
    if not include_read:
        return body
    lines = [line for block in result.blocks for line in block.lines]
    words: list[PreviewWordJson] = []
    line_bodies: list[PreviewLineJson] = []
    styles: list[PreviewStyleJson] = []
    offset = 0
    for index, line in enumerate(lines):
        if index:
            offset += 1  # the "\n" before this line
        line_span: SpanJson = {"offset": offset, "length": text_elements(line.text)}
        line_bodies.append(
            {"content": line.text, "boundingBox": _box(line.polygon), "spans": [line_span]}
        )
        if line.appearance is not None and line.appearance.style == "handwriting":
            styles.append(
                {
                    "isHandwritten": True,
                    "spans": [line_span],
                    "confidence": round(line.appearance.confidence, 3),
                }
            )
        for position, word in enumerate(line.words):
            if position:
                offset += 1  # the space before this word
            length = text_elements(word.text)
            words.append(
                {
                    "content": word.text,
                    "boundingBox": _box(word.polygon),
                    "confidence": round(word.confidence, 3),
                    "span": {"offset": offset, "length": length},
                }
            )
            offset += length
    content = "\n".join(line.text for line in lines)
    page: PreviewPageJson = {
        "height": result.height,
        "width": result.width,
        "angle": page_angle(lines),
        "pageNumber": 1,
        "words": words,
        "spans": [{"offset": 0, "length": text_elements(content)}] if content else [],
        "lines": line_bodies,
    }
    body["readResult"] = {
        "stringIndexType": "TextElements",
        "content": content,
        "pages": [page],
        "styles": styles,
        "modelVersion": PREVIEW_READ_MODEL_VERSION,
    }
    return body

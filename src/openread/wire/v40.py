"""Azure's Image Analysis 4.0 ``analyze`` body (api-versions 2023-10-01 and 2024-02-01).

The shapes are Azure's own (``ImageAnalysisResult`` of api-version 2023-10-01), typed here as
``TypedDict``s so that the structure is checked by mypy. Keys are emitted in the order the live
service uses, which makes diffs against Azure output easy.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from ..result import Appearance, Line, Point, Quad, ReadResult, Word

__all__ = [
    "AnalyzeResultJson",
    "AppearanceJson",
    "LineJson",
    "PointJson",
    "StyleJson",
    "WordJson",
    "appearance_json",
    "to_azure_json",
]


class PointJson(TypedDict):
    x: int
    y: int


class WordJson(TypedDict):
    text: str
    boundingPolygon: list[PointJson]
    confidence: float


class StyleJson(TypedDict):
    name: str
    """``handwriting`` or ``other``."""
    confidence: float


class AppearanceJson(TypedDict):
    """v3.2's ``appearance`` of a line, the same shape in openread's 4.0 extension."""

    style: StyleJson


class _LineJsonRequired(TypedDict):
    text: str
    boundingPolygon: list[PointJson]
    words: list[WordJson]


class LineJson(_LineJsonRequired, total=False):
    script: str
    """openread's opt-in extension (ISO 15924 code), absent unless asked for; Azure's SDKs
    ignore members they do not know."""
    appearance: AppearanceJson
    """openread's opt-in extension (``openread-style=true``), v3.2's ``appearance``: whether
    the line is handwritten; absent unless asked for, or when the line was not classified."""


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


def appearance_json(appearance: Appearance) -> AppearanceJson:
    """v3.2's ``appearance`` member for a line's ``Appearance``."""
    return {"style": {"name": appearance.style, "confidence": round(appearance.confidence, 3)}}


def _line(line: Line, scripts: bool, styles: bool) -> LineJson:
    body: LineJson = {
        "text": line.text,
        "boundingPolygon": _polygon(line.polygon),
        "words": [_word(w) for w in line.words],
    }
    if scripts:
        body["script"] = line.script
    if styles and line.appearance is not None:
        body["appearance"] = appearance_json(line.appearance)
    return body


def to_azure_json(
    result: ReadResult,
    *,
    include_read: bool = True,
    scripts: bool = False,
    styles: bool = False,
) -> AnalyzeResultJson:
    """The ``analyze`` response body for ``features=read`` (``include_read=False`` leaves
    ``readResult`` out, as Azure does when ``read`` was not requested). ``scripts=True`` adds
    each line's ``script`` (openread's extension, off by default: Azure 4.0 has no such
    member); ``styles=True`` adds each classified line's ``appearance`` (v3.2's handwriting
    style, openread's extension, off by default)."""
    body: AnalyzeResultJson = {
        "modelVersion": result.model_version,
        "metadata": {"width": result.width, "height": result.height},
    }
    if include_read:
        body["readResult"] = {
            "blocks": [
                {"lines": [_line(line, scripts, styles) for line in b.lines]} for b in result.blocks
            ]
        }
    return body

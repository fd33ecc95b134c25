"""Stage 6: lines with words -> the result tree in reading order (pure geometry, no models).

Reading order follows the text's own direction: the dominant line direction of the page is
estimated (length-weighted circular mean), line centres are projected on it and on its normal,
lines whose extents across the text direction overlap by more than half of the smaller line
height form a row, rows go top to bottom and lines in a row go along the text. Azure 4.0
returns one block holding every line, and ``"blocks": []`` when there is no text.

This is the one place where positions on a line (fractions of its quad) become image pixels:
a line is the part of its quad that its ink fills (``LineWords.extent``), a word spans
``[start, end]`` of the quad along the text and the line's extent across it, interpolated
between the quad's edges, rounded to integers and clamped into the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..result import Block, Line, Point, Quad, ReadResult, Word
from .words import Extent, LineWords

__all__ = ["build", "reading_order"]


@dataclass(frozen=True, slots=True)
class _Placed:
    along: float
    across: float
    half_height: float


def build(lines: Sequence[LineWords], width: int, height: int, model_version: str) -> ReadResult:
    """The result tree for ``lines`` of an image of ``width`` x ``height`` pixels."""
    kept = [line for line in lines if line.words]
    boxes = [_part(line.quad, line.extent).astype(np.float32) for line in kept]
    ordered = [kept[i] for i in reading_order(boxes)]
    built = tuple(_line(line, width, height) for line in ordered)
    blocks = (Block(built),) if built else ()
    return ReadResult(width=width, height=height, model_version=model_version, blocks=blocks)


def reading_order(quads: Sequence[npt.NDArray[np.float32]]) -> list[int]:
    """Indices of ``quads`` (each (4, 2), clockwise from the text's top-left) in reading order."""
    if not quads:
        return []
    direction = _dominant_direction(quads)
    normal = np.array([-direction[1], direction[0]])
    placed = []
    for quad in quads:
        center = quad.mean(axis=0)
        left_edge = float(np.linalg.norm(quad[3] - quad[0]))
        right_edge = float(np.linalg.norm(quad[2] - quad[1]))
        placed.append(
            _Placed(
                along=float(center @ direction),
                across=float(center @ normal),
                half_height=max(left_edge, right_edge) / 2.0,
            )
        )
    by_top = sorted(range(len(quads)), key=lambda i: placed[i].across - placed[i].half_height)
    rows: list[list[int]] = []
    for index in by_top:
        row = rows[-1] if rows else None
        if row is not None and _same_row(placed[index], [placed[i] for i in row]):
            row.append(index)
        else:
            rows.append([index])
    rows.sort(key=lambda row: float(np.mean([placed[i].across for i in row])))
    return [i for row in rows for i in sorted(row, key=lambda i: placed[i].along)]


def _same_row(candidate: _Placed, row: Sequence[_Placed]) -> bool:
    """Whether ``candidate`` overlaps the row's typical band (its mean centre and mean height,
    so that a row cannot grow by chaining slanted lines) by half the smaller height."""
    center = sum(p.across for p in row) / len(row)
    half = sum(p.half_height for p in row) / len(row)
    overlap = min(center + half, candidate.across + candidate.half_height) - max(
        center - half, candidate.across - candidate.half_height
    )
    return overlap > 0.5 * 2.0 * min(half, candidate.half_height)


def _dominant_direction(quads: Sequence[npt.NDArray[np.float32]]) -> npt.NDArray[np.float64]:
    """Unit vector of the page's text direction; doubled angles make 0° and 180° agree, so an
    upside-down line does not cancel an upright one."""
    sx = sy = 0.0
    for quad in quads:
        vector = quad[1].astype(np.float64) - quad[0].astype(np.float64)
        length = float(np.hypot(vector[0], vector[1]))
        if length == 0:
            continue
        angle = math.atan2(vector[1], vector[0])
        sx += length * math.cos(2 * angle)
        sy += length * math.sin(2 * angle)
    if sx == 0 and sy == 0:
        return np.array([1.0, 0.0])
    angle = math.atan2(sy, sx) / 2.0
    # of the two opposite directions, keep the one the majority of lines reads in
    vote = sum(float((q[1] - q[0]) @ np.array([math.cos(angle), math.sin(angle)])) for q in quads)
    if vote < 0:
        angle += math.pi
    return np.array([math.cos(angle), math.sin(angle)])


def _line(line: LineWords, width: int, height: int) -> Line:
    across = line.extent
    words = tuple(
        Word(
            text=span.text,
            polygon=_quad(
                _part(line.quad, Extent(span.start, span.end, across.top, across.bottom)),
                width,
                height,
            ),
            confidence=round(span.confidence, 3),
        )
        for span in line.words
    )
    return Line(
        text=line.text,
        polygon=_quad(_part(line.quad, line.extent), width, height),
        words=words,
        script=line.script,
        appearance=line.appearance,
    )


def _part(quad: npt.NDArray[np.float32], extent: Extent) -> npt.NDArray[np.float64]:
    """The part ``extent`` of ``quad`` (4, 2), interpolated between its edges: (4, 2) image
    pixels, clockwise from the text's top-left like ``quad``."""
    q = quad.astype(np.float64)

    def at(u: float, v: float) -> npt.NDArray[np.float64]:
        upper = q[0] + u * (q[1] - q[0])
        lower = q[3] + u * (q[2] - q[3])
        return np.asarray(upper + v * (lower - upper), dtype=np.float64)

    return np.array(
        [
            at(extent.start, extent.top),
            at(extent.end, extent.top),
            at(extent.end, extent.bottom),
            at(extent.start, extent.bottom),
        ]
    )


def _quad(points: npt.NDArray[np.floating], width: int, height: int) -> Quad:
    xs = np.clip(np.rint(points[:, 0]), 0, width - 1).astype(int)
    ys = np.clip(np.rint(points[:, 1]), 0, height - 1).astype(int)
    return (
        Point(int(xs[0]), int(ys[0])),
        Point(int(xs[1]), int(ys[1])),
        Point(int(xs[2]), int(ys[2])),
        Point(int(xs[3]), int(ys[3])),
    )

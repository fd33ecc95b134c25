"""Text rows: regions that lie side by side on one line of text, and one crop for all of them.

The detector often cuts a line of text in a script PP-OCR does not know into word-sized
pieces (and leaves some words out between them). A line model reads a whole row far better
than its pieces: it sees every word, and its language model has context. ``segments`` finds
runs of neighbouring pieces on one row; ``crop`` cuts the row out of the image as one upright
line crop. Pure geometry on quads: no models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .detect import Quad
from .orient import LineCrop, warp

__all__ = ["RowOptions", "crop", "screen_quad", "segments"]


@dataclass(frozen=True, slots=True)
class RowOptions:
    max_angle: float = 8.0
    """Pieces slanted more than this many degrees are not joined (rotated text)."""
    max_angle_difference: float = 4.0
    overlap: float = 0.55
    """Two pieces share a row when one's centre lies within this share of the other's height
    from its centre line."""
    height_ratio: float = 1.8
    """Pieces of more different heights share a row only when the smaller one is a mark (about
    as long as high: punctuation, quotes) within the larger one's band."""
    min_aspect: float = 0.4
    """Pieces narrower than this for their height are not joined (vertical text); single
    letters are about as wide as high."""
    max_gap: float = 1.6
    """Neighbours are at most this many row heights apart (word spacing is about 0.3-0.6)."""


@dataclass(frozen=True, slots=True)
class _Piece:
    index: int
    centre: tuple[float, float]
    direction: tuple[float, float]  # unit vector along the text
    angle: float  # degrees
    height: float
    start: float  # extent along ``direction``, measured from the origin
    end: float


def _piece(index: int, quad: Quad, options: RowOptions) -> _Piece | None:
    top = quad[1] - quad[0]
    width = float(np.hypot(*top))
    height = float((np.hypot(*(quad[3] - quad[0])) + np.hypot(*(quad[2] - quad[1]))) / 2)
    if width <= 0 or width < options.min_aspect * height:
        return None
    dx, dy = float(top[0]) / width, float(top[1]) / width
    centre = quad.mean(axis=0)
    along = quad @ np.array([dx, dy], dtype=np.float32)
    return _Piece(
        index,
        (float(centre[0]), float(centre[1])),
        (dx, dy),
        math.degrees(math.atan2(dy, dx)),
        height,
        float(along.min()),
        float(along.max()),
    )


def segments(
    quads: Sequence[Quad], joinable: Sequence[bool], options: RowOptions = RowOptions()
) -> list[list[int]]:
    """Runs of at least two joinable pieces that follow each other on one text row, each run
    left to right (indices into ``quads``). ``quads``: (4, 2) float32 screen quads, clockwise
    from the top-left corner. A piece that is not joinable, or a wide gap, ends a run."""
    pieces = [
        p
        for i, quad in enumerate(quads)
        if (p := _piece(i, quad, options)) is not None and abs(p.angle) <= options.max_angle
    ]
    by_index = {p.index: p for p in pieces}
    # Link every piece to its nearest right-hand neighbour on the same row (joinable or not:
    # a piece that must not be joined still separates the two sides of it).
    right: dict[int, int] = {}
    for a in pieces:
        best: tuple[float, int] | None = None
        for b in pieces:
            if b.index == a.index or not _same_row(a, b, options):
                continue
            gap = _along(a, b.centre) - _along(a, a.centre)
            if gap <= 0:
                continue
            if best is None or gap < best[0]:
                best = (gap, b.index)
        if best is not None:
            right[a.index] = best[1]
    has_left = set(right.values())

    def _limit(run: list[int], index: int) -> float:
        return options.max_gap * max(by_index[run[-1]].height, by_index[index].height)

    runs: list[list[int]] = []
    used: set[int] = set()
    for start in sorted(by_index):
        if start in has_left:
            continue
        chain = [start]
        while chain[-1] in right and right[chain[-1]] not in chain and right[chain[-1]] not in used:
            chain.append(right[chain[-1]])
        used.update(chain)
        run: list[int] = []
        for k, index in enumerate(chain):
            joined = joinable[index] and (
                not run or _gap(by_index[chain[k - 1]], by_index[index]) <= _limit(run, index)
            )
            if joined:
                run.append(index)
                continue
            if len(run) >= 2:
                runs.append(run)
            run = [index] if joinable[index] else []
        if len(run) >= 2:
            runs.append(run)
    return runs


def _along(a: _Piece, point: tuple[float, float]) -> float:
    return a.direction[0] * point[0] + a.direction[1] * point[1]


def _across(a: _Piece, point: tuple[float, float]) -> float:
    return -a.direction[1] * point[0] + a.direction[0] * point[1]


def _same_row(a: _Piece, b: _Piece, options: RowOptions) -> bool:
    short = min(a.end - a.start - 2 * a.height, b.end - b.start - 2 * b.height) <= 0
    if abs(a.angle - b.angle) > options.max_angle_difference and not short:
        return False  # (the slant of a piece at most twice as long as high is mostly noise)
    low, high = sorted((a.height, b.height))
    # across the pieces' mean direction: along one piece's own slant, a small error in it
    # (2-3 degrees on a short piece) puts a far piece of the same row a line height off
    dx, dy = a.direction[0] + b.direction[0], a.direction[1] + b.direction[1]
    norm = math.hypot(dx, dy)
    ux, uy = dx / norm, dy / norm
    offset = abs(-uy * (b.centre[0] - a.centre[0]) + ux * (b.centre[1] - a.centre[1]))
    if high <= options.height_ratio * low:
        return offset <= options.overlap * low
    small = a if a.height <= b.height else b
    if small.end - small.start > 1.5 * small.height:  # a word, not a mark
        return False
    return offset + low / 2 <= 0.55 * high


def _gap(a: _Piece, b: _Piece) -> float:
    """Distance along ``a``'s direction from the end of ``a`` to the start of ``b``."""
    return b.start - a.end


def crop(pixels: npt.NDArray[np.uint8], quads: Sequence[Quad]) -> LineCrop:
    """One upright crop (turn 0) covering all ``quads`` (pieces of one row), cut from the
    (H, W, 3) uint8 image ``pixels``: the smallest rectangle at the pieces' mean slant."""
    points = np.concatenate([np.asarray(q, dtype=np.float32) for q in quads])
    angles = [math.atan2(float(q[1][1] - q[0][1]), float(q[1][0] - q[0][0])) for q in quads]
    angle = float(np.mean(angles))
    cos, sin = math.cos(angle), math.sin(angle)
    rotate = np.array([[cos, sin], [-sin, cos]], dtype=np.float32)  # screen -> row frame
    local = points @ rotate.T
    (x0, y0), (x1, y1) = local.min(axis=0), local.max(axis=0)
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    quad = np.ascontiguousarray(corners @ rotate, dtype=np.float32)  # back to screen
    height, width = pixels.shape[:2]
    quad[:, 0] = np.clip(quad[:, 0], 0, width - 1)
    quad[:, 1] = np.clip(quad[:, 1], 0, height - 1)
    return LineCrop(quad=quad, pixels=warp(pixels, quad), turn=0)


def screen_quad(line_crop: LineCrop) -> Quad:
    """``line_crop``'s quad as the detector gave it (clockwise from the top-left on screen)."""
    return np.ascontiguousarray(np.roll(line_crop.quad, line_crop.turn, axis=0))

"""Text rows (``rows``): which detector pieces lie side by side on one line, and the row crop."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from openread.pipeline import rows
from openread.pipeline.orient import LineCrop


def box(
    x0: float, y0: float, x1: float, y1: float, degrees: float = 0.0
) -> npt.NDArray[np.float32]:
    """A quad clockwise from the top-left, turned ``degrees`` about the image origin."""
    quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    a = math.radians(degrees)
    turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=np.float32)
    return np.ascontiguousarray(quad @ turn.T)


def test_pieces_of_one_row_form_one_run_left_to_right() -> None:
    quads = [
        box(220, 100, 300, 140),  # third word
        box(10, 100, 100, 140),  # first
        box(10, 200, 300, 240),  # the next line
        box(115, 102, 205, 141),  # second
    ]
    assert rows.segments(quads, [True] * 4) == [[1, 3, 0]]


def test_a_piece_that_may_not_join_splits_the_row() -> None:
    quads = [box(10 + 100 * k, 100, 90 + 100 * k, 140) for k in range(5)]
    assert rows.segments(quads, [True, True, False, True, True]) == [[0, 1], [3, 4]]
    # a lone joinable piece is no run
    assert rows.segments(quads, [True, False, True, False, True]) == []


def test_a_wide_gap_splits_the_row() -> None:
    quads = [box(10, 100, 90, 140), box(100, 100, 180, 140), box(400, 100, 480, 140)]
    assert rows.segments(quads, [True] * 3) == [[0, 1]]


def test_small_punctuation_inside_the_band_joins() -> None:
    quads = [box(10, 100, 200, 150), box(205, 102, 225, 122), box(232, 100, 400, 150)]
    assert rows.segments(quads, [True] * 3) == [[0, 1, 2]]
    # the same small piece well above the band does not
    quads[1] = box(205, 60, 225, 80)
    assert rows.segments(quads, [True] * 3) == [[0, 2]]


def test_lines_of_different_height_or_slant_do_not_join() -> None:
    heading_and_text = [box(10, 100, 200, 200), box(210, 150, 300, 190)]
    assert rows.segments(heading_and_text, [True, True]) == []
    slanted = [box(100, 100, 200, 140, 5.0), box(215, 100, 300, 140, 5.0)]
    assert rows.segments(slanted, [True, True]) == [[0, 1]]
    steep = [box(100, 100, 200, 140, 20.0), box(215, 100, 300, 140, 20.0)]
    assert rows.segments(steep, [True, True]) == []
    vertical = [box(100, 100, 110, 200), box(115, 100, 125, 200)]
    assert rows.segments(vertical, [True, True]) == []


def test_row_crop_covers_every_piece() -> None:
    image = np.full((300, 500, 3), 255, dtype=np.uint8)
    image[110:130, 20:90] = 0
    image[112:128, 120:190] = 0
    quads = [box(15, 105, 95, 135), box(115, 108, 195, 132)]
    crop = rows.crop(image, quads)
    assert isinstance(crop, LineCrop)
    assert crop.turn == 0
    xs, ys = crop.quad[:, 0], crop.quad[:, 1]
    assert xs.min() <= 15
    assert xs.max() >= 195
    assert ys.min() <= 105
    assert ys.max() >= 135
    assert crop.quad[0, 0] < crop.quad[1, 0]
    assert crop.quad[0, 1] < crop.quad[3, 1]
    height, width = crop.pixels.shape[:2]
    assert (height, width) == (30, 180)
    assert crop.pixels.dtype == np.uint8
    # both ink blocks are in the crop
    dark_columns = (crop.pixels.min(axis=(0, 2)) == 0).nonzero()[0]
    assert dark_columns.min() < 20
    assert dark_columns.max() > 160


def test_screen_quad_undoes_the_turn() -> None:
    quad = box(10, 10, 100, 40)
    turned = LineCrop(np.roll(quad, -2, axis=0), np.zeros((30, 90, 3), np.uint8), 2)
    np.testing.assert_array_equal(rows.screen_quad(turned), quad)

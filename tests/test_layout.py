"""Words and layout are pure: tested with invariants and property-based inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openread.pipeline.layout import build, reading_order
from openread.pipeline.orient import page_turn, turn_image, unturn_points
from openread.pipeline.recognize import Char, RecognizedLine
from openread.pipeline.words import Extent, LineWords, WordSpan, split_words, tokenize
from openread.result import Point


def words_of(text: str, apart: bool = True) -> list[str]:
    return [text[a:b] for a, b in tokenize(text, lambda _i, _j: apart)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wish to see in the world!", ["wish", "to", "see", "in", "the", "world", "!"]),
        ("Everything has its beauty, but", ["Everything", "has", "its", "beauty", ",", "but"]),
        ("(40g) U.S. 3.50 don't 62-03", ["(", "40g", ")", "U.S.", "3.50", "don't", "62-03"]),
        ("calorie diet.", ["calorie", "diet", "."]),
        ('"Quote?"', ['"', "Quote", "?", '"']),
        ("中文abc字", ["中", "文", "abc", "字"]),
        ("A. 1. ... ?? wow!! (x)", ["A.", "1.", "...", "??", "wow", "!!", "(", "x", ")"]),
        ("  spaced   out  ", ["spaced", "out"]),
    ],
)
def test_tokenize_follows_azure_word_rules(text: str, expected: list[str]) -> None:
    assert words_of(text) == expected


def test_tight_punctuation_stays_attached() -> None:
    assert words_of("Hello World! (40g) beauty, but", apart=False) == [
        "Hello", "World!", "(40g)", "beauty,", "but",
    ]  # fmt: skip
    assert words_of("中文abc字", apart=False) == ["中", "文", "abc", "字"]


def test_split_words_detaches_punctuation_by_its_position() -> None:
    tight = make_line("world!")
    assert [w.text for w in split_words(tight).words] == ["world!"]
    letters = [Char(ch, 0.1 * i, 0.1 * i + 0.05, 0.9) for i, ch in enumerate("world")]
    gap = (*letters, Char("!", 0.62, 0.67, 0.9, gap_before=0.5))  # 2 pitches, half a height
    quad = np.array([[0, 0], [100, 0], [100, 10], [0, 10]], dtype=np.float32)
    assert [w.text for w in split_words(RecognizedLine(quad, gap, 10.0)).words] == [
        "world", "!",
    ]  # fmt: skip
    # far by position but with no visible gap (the coarse CTC position misled): stays attached
    no_gap = (*letters, Char("!", 0.62, 0.67, 0.9, gap_before=0.02))
    assert [w.text for w in split_words(RecognizedLine(quad, no_gap, 10.0)).words] == ["world!"]


def make_line(text: str, aspect: float = 10.0) -> RecognizedLine:
    step = 1.0 / (len(text) + 1)
    chars = tuple(Char(ch, step * (i + 0.6), step * (i + 0.9), 0.9) for i, ch in enumerate(text))
    quad = np.array([[10, 10], [510, 10], [510, 60], [10, 60]], dtype=np.float32)
    return RecognizedLine(quad, chars, aspect)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab c.,!?(中文'", min_size=1, max_size=30))
def test_split_words_invariants(text: str) -> None:
    line = make_line(text)
    split = split_words(line)
    assert split.text == " ".join(words_of(text, apart=False))
    assert "".join(w.text for w in split.words) == "".join(text.split())
    previous_end = 0.0
    for word in split.words:
        assert 0.0 <= word.start < word.end <= 1.0
        assert word.start >= previous_end - 1e-9, "words do not overlap and keep their order"
        previous_end = word.end


def quad_at(x: float, y: float, w: float = 100, h: float = 20) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32)


def test_reading_order_rows_then_left_to_right() -> None:
    quads = [quad_at(300, 12), quad_at(10, 100), quad_at(10, 10), quad_at(300, 98)]
    assert reading_order(quads) == [2, 0, 1, 3]


def test_reading_order_of_a_page_turned_upside_down() -> None:
    upright = [quad_at(10, 10), quad_at(300, 12), quad_at(10, 100)]
    turned = [600 - q for q in upright]  # point-mirrored: corner order stays the text's own
    # each turned quad starts at its text's top-left (bottom-right on screen)
    assert reading_order(turned) == [0, 1, 2]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 800), st.floats(0, 800), st.floats(5, 300), st.floats(5, 60)),
        max_size=25,
    )
)
def test_reading_order_is_a_permutation_and_deterministic(
    boxes: list[tuple[float, float, float, float]],
) -> None:
    quads = [quad_at(*box) for box in boxes]
    order = reading_order(quads)
    assert sorted(order) == list(range(len(quads)))
    assert reading_order(quads) == order


def test_build_clamps_into_the_image_and_keeps_one_block() -> None:
    quad = np.array([[-5, -3], [250, -3], [250, 40], [-5, 40]], dtype=np.float32)
    line = LineWords(quad, (WordSpan("edge", 0.0, 0.5, 0.91234), WordSpan("!", 0.6, 1.0, 1.0)))
    result = build([line], 200, 30, "2023-10-01")
    assert len(result.blocks) == 1
    (built,) = result.lines
    assert built.text == "edge !"
    assert built.words[0].confidence == 0.912
    for point in (*built.polygon, *built.words[0].polygon):
        assert 0 <= point.x < 200
        assert 0 <= point.y < 30
    assert build([], 200, 30, "v").blocks == ()


@pytest.mark.parametrize("turn", [0, 1, 2, 3])
def test_unturn_points_inverts_turn_image(turn: int) -> None:
    image = np.zeros((40, 70, 3), dtype=np.uint8)
    image[5, 60] = 255  # x=60, y=5
    turned = turn_image(image, turn)
    ys, xs = np.nonzero(turned[:, :, 0])
    back = unturn_points(np.array([[xs[0], ys[0]]], dtype=np.float32), turn, 70, 40)
    assert back.tolist() == [[60.0, 5.0]]


def test_page_turn_needs_a_clear_majority() -> None:
    assert page_turn([(2, 20.0), (2, 15.0), (0, 3.0)]) == 2
    assert page_turn([(1, 10.0), (0, 10.0)]) == 0
    assert page_turn([]) == 0


def inked_line(
    blocks: list[tuple[int, int, int, int]],
    width: int = 480,
    rule_row: int | None = None,
    spread: int = 0,
) -> tuple[RecognizedLine, np.ndarray]:
    """A line crop of 48 x ``width`` whose ink is the (row0, row1, col0, col1) ``blocks``, one
    word each, read as 5 characters spread evenly over the block widened by ``spread`` columns
    on each side (as CTC positions spread over a word), and its quad (10 image px per crop px
    across, 1 along: a ``width`` x 480 image region)."""
    ink = np.zeros((48, width), dtype=bool)
    chars: list[Char] = []
    for k, (r0, r1, c0, c1) in enumerate(blocks):
        ink[r0:r1, c0:c1] = True
        left, right = (c0 - spread) / width, (c1 + spread) / width
        if k:
            chars.append(Char(" ", left - 0.01, left, 0.9))
        step = (right - left) / 5
        for j in range(5):
            middle = left + (j + 0.5) * step
            gap = 0.5 if k and not j else 0.0
            chars.append(Char("x", middle - 0.2 * step, middle + 0.2 * step, 0.9, gap))
    if rule_row is not None:
        ink[rule_row, :] = True
    quad = np.array([[0, 0], [width, 0], [width, 480], [0, 480]], dtype=np.float32)
    return RecognizedLine(quad, tuple(chars), width / 48, ink=ink), quad


def test_a_line_is_fitted_to_its_words_ink() -> None:
    line, _ = inked_line([(20, 34, 50, 150), (16, 38, 250, 400)], spread=10)
    fitted = split_words(line)
    pad = 0.06 * 48  # INK_PAD line heights, in crop pixels
    # across: from the highest to the lowest word's ink (every word shares the band)
    assert fitted.extent.top == pytest.approx((16 - pad) / 48)
    assert fitted.extent.bottom == pytest.approx((38 + pad) / 48)
    # along: from the first word's first ink column to the last word's last
    assert fitted.extent.start == pytest.approx((50 - pad) / 480)
    assert fitted.extent.end == pytest.approx((400 + pad) / 480)
    result = build([fitted], 480, 480, "m")
    (built,) = result.lines
    top, bottom = round((16 - pad) * 10), round((38 + pad) * 10)
    assert built.polygon == (
        Point(round(50 - pad), top),
        Point(round(400 + pad), top),
        Point(round(400 + pad), bottom),
        Point(round(50 - pad), bottom),
    )
    first, second = built.words
    assert (first.polygon[0].x, first.polygon[1].x) == (round(50 - pad), round(150 + pad))
    assert (second.polygon[0].x, second.polygon[1].x) == (round(250 - pad), round(400 + pad))
    for word in built.words:  # words share the line's band
        assert (word.polygon[0].y, word.polygon[3].y) == (top, bottom)


def test_a_glyph_cut_by_the_reading_is_taken_whole() -> None:
    # CTC places a word's first and last characters a frame or so inside its outer letters: a
    # run of ink cut by the reading that ends within half a line height is that letter's rest
    line, _ = inked_line([(20, 34, 50, 150)], spread=-20)  # read over 70..130 of 50..150
    (word,) = split_words(line).words
    pad = 0.06 * 48
    assert word.start == pytest.approx((50 - pad) / 480)
    assert word.end == pytest.approx((150 + pad) / 480)


def test_a_word_is_not_grown_into_ink_that_goes_on() -> None:
    # ink running on past half a line height is a rule, a border or background, not a glyph
    line, _ = inked_line([(20, 34, 50, 150)], spread=-40)  # read over 90..110 of 50..150
    (word,) = split_words(line).words
    assert word.start >= 90 / 480
    assert word.end <= 110 / 480


def test_a_word_is_not_grown_into_its_neighbour() -> None:
    line, _ = inked_line([(20, 34, 50, 100), (20, 34, 110, 200)])
    ink = line.ink.copy()
    ink[20:34, 100:118] = True  # the first word's last letter touches the second's reading
    touching = dataclasses.replace(line, ink=ink)
    first, second = split_words(touching).words
    assert first.end <= second.start
    assert first.end <= 110 / 480


def test_a_rule_beside_the_text_is_not_taken_for_it() -> None:
    line, _ = inked_line([(20, 34, 50, 150)], rule_row=3)
    assert split_words(line).extent.top == pytest.approx((20 - 0.06 * 48) / 48)


def test_without_ink_the_detector_quad_stays() -> None:
    line, quad = inked_line([(20, 34, 50, 150)])
    empty = RecognizedLine(line.quad, line.chars, line.aspect, ink=np.zeros((48, 480), bool))
    unknown = RecognizedLine(line.quad, line.chars, line.aspect)
    for split in (split_words(empty), split_words(unknown)):
        assert split.extent == Extent()
        np.testing.assert_array_equal(split.quad, quad)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(4, 40), st.integers(0, 380), st.integers(4, 90)),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_fitted_words_stay_inside_the_detector_quad_in_order(
    blocks: list[tuple[int, int, int, int]], rtl: bool
) -> None:
    spans = sorted((c0, min(480, c0 + w)) for _, _, c0, w in blocks)
    merged = []
    for c0, c1 in spans:  # words apart from each other
        if not merged or c0 > merged[-1][1] + 8:
            merged.append((c0, c1))
    boxes = [
        (r0, min(48, r0 + h), c0, c1)
        for (r0, h, _, _), (c0, c1) in zip(blocks, merged, strict=False)
    ]
    line, _ = inked_line(boxes)
    if rtl:  # logical order runs from the right: the characters come in reverse
        line = dataclasses.replace(line, chars=line.chars[::-1], script="Hebr")
    fitted = split_words(line)
    assert len(fitted.words) == len(boxes)
    extent = fitted.extent
    assert 0.0 <= extent.start < extent.end <= 1.0
    assert 0.0 <= extent.top < extent.bottom <= 1.0
    starts = [w.start for w in fitted.words]
    for word in fitted.words:
        assert extent.start - 1e-9 <= word.start < word.end <= extent.end + 1e-9
    assert starts == sorted(starts, reverse=rtl), "reading order kept (rightmost first in RTL)"
    (built,) = build([fitted], 480, 480, "m").lines
    for word in built.words:  # inside the line's polygon (an axis-aligned box here)
        assert built.polygon[0].x <= word.polygon[0].x <= word.polygon[1].x
        assert word.polygon[1].x <= built.polygon[1].x

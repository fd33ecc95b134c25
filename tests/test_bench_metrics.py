"""Self-checks of the benchmark metrics on handmade cases with known answers."""

from __future__ import annotations

import pytest
from bench.engines import _regroup, tesseract_languages
from bench.metrics import (
    CAL_BINS,
    Calibration,
    EditCounts,
    MatchCounts,
    Polygon,
    Region,
    bow_counts,
    calibration,
    cer,
    drop_dont_care,
    exact_word_hits,
    match_regions,
    normalize_page,
    score_regions,
    strip_outer_punctuation,
    texts_agree,
    wer,
)


def box(x: float, y: float, w: float, h: float) -> Polygon:
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


GT = (
    Region(box(0, 0, 100, 20), "Hello,"),
    Region(box(120, 0, 80, 20), "World"),
    Region(box(0, 40, 60, 20), "EXIT"),
    Region(box(300, 300, 50, 50), "", ignore=True),
)
PAGE = "Hello, World\nEXIT  now"


def test_ground_truth_against_itself_is_perfect() -> None:
    preds = [Region(g.polygon, g.text) for g in GT if not g.ignore]
    score = score_regions(preds, GT)
    for counts in (score.det, score.e2e, score.e2e_exact):
        assert counts == MatchCounts(3, 3, 3)
        assert counts.hmean == 1.0
    assert bow_counts(PAGE, PAGE).hmean == 1.0
    assert cer(PAGE, PAGE) == EditCounts(0, len(normalize_page(PAGE)))
    assert cer(PAGE, PAGE).rate == 0.0
    assert wer(PAGE, PAGE).rate == 0.0


def test_empty_prediction_scores_zero() -> None:
    score = score_regions([], GT)
    assert score.det == MatchCounts(0, 0, 3)
    assert score.det.recall == 0.0
    assert score.det.precision == 0.0
    assert score.e2e.hmean == 0.0
    assert cer("", PAGE).rate == 1.0
    assert wer("", PAGE).rate == 1.0
    assert bow_counts("", PAGE).hmean == 0.0


def test_nothing_expected_nothing_predicted_is_perfect() -> None:
    assert MatchCounts().hmean == 1.0
    assert EditCounts().rate == 0.0


@pytest.mark.parametrize(
    ("height", "matched"),
    [(4, 0), (6, 1)],  # IoU 0.4 is below the threshold, 0.6 above
)
def test_iou_threshold(height: float, matched: int) -> None:
    gt = [Region(box(0, 0, 10, 10), "a")]
    assert score_regions([Region(box(0, 0, 10, height), "a")], gt).det.matched == matched


def test_matching_is_one_to_one_by_iou_descending() -> None:
    gt = [Region(box(0, 0, 10, 10), "a")]
    weaker = Region(box(0, 0, 10, 7), "x")  # IoU 0.7
    stronger = Region(box(0, 0, 10, 9), "a")  # IoU 0.9
    assert match_regions([weaker, stronger], gt) == [(stronger, gt[0])]
    score = score_regions([weaker, stronger], gt)
    assert score.det == MatchCounts(1, 2, 1)
    assert score.e2e.matched == 1


def test_e2e_takes_geometric_match_then_checks_text() -> None:
    gt = [Region(box(0, 0, 10, 10), "a")]
    wrong = Region(box(0, 0, 10, 9), "b")  # wins the geometric match, wrong text
    right = Region(box(0, 0, 10, 7), "a")
    score = score_regions([wrong, right], gt)
    assert score.det.matched == 1
    assert score.e2e.matched == 0


def test_dont_care_regions() -> None:
    gt = [Region(box(0, 0, 10, 10), "a"), Region(box(100, 0, 100, 100), "", ignore=True)]
    inside = Region(box(120, 20, 10, 10), "junk")  # wholly inside, tiny IoU
    mostly_in = Region(box(90, 0, 25, 10), "junk")  # 60 % of its area inside
    mostly_out = Region(box(70, 0, 25, 10), "junk")  # 20 % inside: a false positive
    same = Region(box(100, 0, 100, 90), "junk")  # IoU 0.9 with the don't-care
    preds = [Region(box(0, 0, 10, 10), "a"), inside, mostly_in, mostly_out, same]
    assert drop_dont_care(preds, gt) == [preds[0], mostly_out]
    score = score_regions(preds, gt)
    assert score.det == MatchCounts(1, 2, 1)  # the ignored GT is not expected


def test_e2e_text_case_and_outer_punctuation() -> None:
    gt = [Region(box(0, 0, 10, 10), "Hello,"), Region(box(20, 0, 10, 10), "EXIT")]
    preds = [Region(box(0, 0, 10, 10), "hello"), Region(box(20, 0, 10, 10), "EXIT")]
    score = score_regions(preds, gt)
    assert score.e2e.matched == 2
    assert score.e2e_exact.matched == 1


@pytest.mark.parametrize(
    ("pred", "gt", "loose", "exact"),
    [
        ("(Hello)", "hello", True, False),
        ("Exit", "EXIT", True, False),
        ("don't", "Don't!", True, False),
        ("e-mail", "email", False, False),
        ("!", "!", True, True),
        (".", "!", False, False),
        ("TEL :  07-386", "TEL : 07-386", True, True),
        ("TEL 07-386", "TEL : 07-386", False, False),
    ],
)
def test_texts_agree(pred: str, gt: str, loose: bool, exact: bool) -> None:
    assert texts_agree(pred, gt) is loose
    assert texts_agree(pred, gt, exact=True) is exact


def test_strip_outer_punctuation_keeps_letters_marks_digits() -> None:
    assert strip_outer_punctuation("«Bonjour».") == "Bonjour"
    assert strip_outer_punctuation("(40g)") == "40g"
    assert strip_outer_punctuation("हिंदी") == "हिंदी"  # ends with a vowel sign (a mark)
    assert strip_outer_punctuation("...") == ""


def test_cer_and_wer_known_values() -> None:
    assert cer("abd", "abc") == EditCounts(1, 3)
    assert cer("a b", "a\nb") == EditCounts(1, 3)  # a line break is one character
    assert cer("a   b\n\n c ", "a b\nc") == EditCounts(0, 5)  # whitespace normalised
    assert wer("a b", "a\nb") == EditCounts(0, 2)  # a line break is a space
    assert wer("the cat sat", "the hat sat down") == EditCounts(2, 4)
    assert cer("Abc", "abc").edits == 1  # case counts
    assert (cer("ab", "abc") + cer("x", "xyz")).rate == 3 / 6


def test_normalize_page() -> None:
    assert normalize_page("  a \t b \n\n\n c\r\n") == "a b\nc"


def test_bag_of_words() -> None:
    counts = bow_counts("Hello, world! hello -", "hello World")
    assert counts == MatchCounts(2, 3, 2)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == 1.0


def test_exact_word_hits_is_a_multiset_case_sensitive_match() -> None:
    gt = ["You", "you", "the", "the", "!", "world"]
    pred = ["the", "You", "You", "!", "word!", "the", "the"]
    assert exact_word_hits(pred, gt) == 4  # You, the, the, !
    assert exact_word_hits([], gt) == 0


def test_invalid_polygons_do_not_crash() -> None:
    bow_tie: Polygon = ((0, 0), (10, 10), (10, 0), (0, 10))
    gt = [Region(bow_tie, "x")]
    score = score_regions([Region(box(0, 0, 10, 10), "x"), Region(((0, 0), (1, 1)), "y")], gt)
    assert score.det.predicted == 2
    assert score.det.matched == 1  # the repaired bow tie covers half the box: IoU 0.5


def test_rapidocr_pieces_merge_into_the_line_tokens() -> None:
    pieces = [("B", 0.9, box(0, 0, 5, 10)), ("UY", 0.8, box(5, 0, 10, 10))]
    pieces += [("(", 0.9, box(20, 0, 2, 10)), (")", 0.7, box(22, 0, 2, 10))]
    words = _regroup("BUY ()", pieces)
    assert words is not None
    assert [(w.text, w.confidence) for w in words] == [("BUY", 0.8), ("()", 0.7)]
    merged = Region(words[0].polygon, "BUY")
    assert score_regions([merged], [Region(box(0, 0, 15, 10), "BUY")]).e2e.matched == 1
    assert _regroup("BUY", pieces) is None  # pieces left over
    assert _regroup("BOY ()", pieces) is None  # pieces do not spell the tokens


def test_tesseract_languages() -> None:
    assert tesseract_languages("en") == "eng"
    assert tesseract_languages("hi+en") == "hin+eng"
    assert tesseract_languages("grc") == "grc+ell"


def test_punctuation_spacing_is_format_not_content() -> None:
    # Azure writes detached punctuation as its own word; that spacing is not a reading error
    assert texts_agree("Total :", "Total:", exact=True)
    assert texts_agree("( RM ) 9.00", "(RM) 9.00", exact=True)
    assert cer("wish to see in the world !", "wish to see in the world!").edits == 0
    assert wer("beauty , but", "beauty, but").edits == 0
    assert cer("Total : 9", "Total 9").edits == 1  # a missing or extra mark still counts


def test_script_tally_counts_letters_under_their_labels() -> None:
    from bench.scripts import tally

    right = tally("Привет world", [("Cyrl", "Привет"), ("Latn", "world!")])
    assert (right.right, right.letters, right.stray) == (11, 11, 0)
    assert not right.confusions()
    # the Russian word labelled Latin: 6 letters wrong, none of a script the page lacks
    wrong = tally("Привет world", [("Latn", "Привет"), ("Latn", "world")])
    assert (wrong.right, wrong.letters, wrong.stray) == (5, 11, 0)
    assert wrong.confusions() == {("Latn", "Cyrl"): 6}
    # a Latin page read as Greek: every letter is a foreign false positive
    stray = tally("ABC", [("Grek", "ABC")])
    assert (stray.right, stray.stray) == (0, 3)
    # Han and kana are one family; an empty answer agrees with nothing
    assert tally("東京です", [("Jpan", "東京です")]).right == 4
    assert tally("東京", []).right == 0


def _scored(confidences: list[float], texts: list[str] | None = None) -> list[Region]:
    cared = [g for g in GT if not g.ignore]
    texts = texts or [g.text for g in cared]
    return [
        Region(g.polygon, t, confidence=c)
        for g, t, c in zip(cared, texts, confidences, strict=True)
    ]


def test_calibration_of_sure_right_words_is_perfect() -> None:
    cal = calibration(_scored([1.0, 1.0, 1.0]), GT)
    assert cal.total == 3
    assert cal.ece == pytest.approx(0.0)


def test_calibration_of_unsure_right_words_is_their_doubt() -> None:
    assert calibration(_scored([0.0, 0.0, 0.0]), GT).ece == pytest.approx(1.0)
    assert calibration(_scored([0.7, 0.7, 0.7]), GT).ece == pytest.approx(0.3)


def test_calibration_counts_wrong_and_unmatched_words() -> None:
    # one wrong text, one prediction matching nothing, one inside the don't-care region (left out)
    preds = [
        *_scored([0.95, 0.95, 0.15], ["Hello,", "World", "EX1T"]),
        Region(box(500, 500, 40, 20), "noise", confidence=0.05),
        Region(box(300, 300, 50, 50), "logo", confidence=0.9),
    ]
    cal = calibration(preds, GT)
    assert cal.total == 4
    assert sum(cal.right) == 2
    # bins: 0.05 (wrong), 0.15 (wrong), 0.95 x2 (right)
    assert cal.ece == pytest.approx((0.05 + 0.15 + 0.05 + 0.05) / 4)
    assert (cal + cal).ece == pytest.approx(cal.ece)
    assert len(cal.words) == CAL_BINS


def test_calibration_without_words_is_undefined() -> None:
    assert calibration([], GT).total == 0
    assert Calibration().ece != Calibration().ece  # NaN

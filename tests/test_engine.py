"""The engine on real models and real images: text, geometry, orientation, EXIF, threads."""

from __future__ import annotations

import io
import json
import pickle
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import openread
from openread import Engine, ReadResult


def azure_note_words(eval_data: Path) -> list[str]:
    text = (eval_data / "azure_docs" / "gt.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    note = next(r for r in records if r["image"].endswith("handwritten-note.jpg"))
    return [item["text"] for item in note["items"]]


def exact_word_matches(predicted: list[str], expected: list[str]) -> int:
    remaining = Counter(expected)
    hits = 0
    for word in predicted:
        if remaining[word] > 0:
            remaining[word] -= 1
            hits += 1
    return hits


def check_invariants(result: ReadResult) -> None:
    assert len(result.blocks) <= 1
    for line in result.lines:
        assert line.text == " ".join(w.text for w in line.words)
        for point in (*line.polygon, *(p for w in line.words for p in w.polygon)):
            assert isinstance(point.x, int)
            assert isinstance(point.y, int)
            assert 0 <= point.x < result.width
            assert 0 <= point.y < result.height
        for word in line.words:
            assert 0.0 <= word.confidence <= 1.0
            assert len(word.polygon) == 4


def test_sticky_note_matches_azure(engine: Engine, sticky_note: Path, eval_data: Path) -> None:
    result = engine.read(sticky_note)
    check_invariants(result)
    assert (result.width, result.height) == (1000, 945)
    assert len(result.lines) == 4
    hits = exact_word_matches([w.text for w in result.words], azure_note_words(eval_data))
    assert hits >= 20, f"{hits}/24 of Azure's words: {result.text!r}"
    # Azure's punctuation convention: "!" is a word of its own
    assert result.lines[1].words[-1].text == "!"


def test_words_lie_inside_their_line(engine: Engine, sticky_note: Path) -> None:
    result = engine.read(sticky_note)
    for line in result.lines:
        xs = [p.x for p in line.polygon]
        ys = [p.y for p in line.polygon]
        for word in line.words:
            for p in word.polygon:
                assert min(xs) - 2 <= p.x <= max(xs) + 2
                assert min(ys) - 2 <= p.y <= max(ys) + 2
        lefts = [min(p.x for p in w.polygon) for w in line.words]
        assert lefts == sorted(lefts), "words of an upright line run left to right"


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_rotated_image_reads_the_same(
    engine: Engine, sticky_note: Path, eval_data: Path, turn: int
) -> None:
    upright = engine.read(sticky_note)
    rotated_image = Image.open(sticky_note).rotate(turn, expand=True)
    rotated = engine.read(np.asarray(rotated_image.convert("RGB")))
    check_invariants(rotated)
    expected = azure_note_words(eval_data)
    upright_hits = exact_word_matches([w.text for w in upright.words], expected)
    rotated_hits = exact_word_matches([w.text for w in rotated.words], expected)
    assert rotated_hits >= upright_hits - 3, rotated.text
    # reading order follows the text: the first line is still "You must ..."
    assert rotated.lines[0].words[0].text == "You"


def test_polygons_start_at_the_texts_own_top_left(engine: Engine, sticky_note: Path) -> None:
    image = Image.open(sticky_note)
    width, height = image.size
    upside_down = engine.read(np.asarray(image.convert("RGB").rotate(180)))
    first = upside_down.lines[0]
    assert first.words[0].text == "You"
    # rotated by 180°, the text's top-left corner is the bottom-right on screen
    p0, p1, _, p3 = first.polygon
    assert p0.x > p1.x
    assert p0.y > p3.y
    upright = engine.read(sticky_note).lines[0].polygon[0]
    assert abs((width - 1 - p0.x) - upright.x) < 12
    assert abs((height - 1 - p0.y) - upright.y) < 12


def test_exif_orientation_is_applied(engine: Engine, sticky_note: Path) -> None:
    # store the note turned 90° clockwise with an EXIF tag saying "rotate 90° CW to view"
    image = Image.open(sticky_note).convert("RGB")
    stored = image.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise by 90°
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the viewer rotates 90° clockwise
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif, quality=95)
    result = engine.read(buffer.getvalue())
    assert (result.width, result.height) == image.size
    assert result.lines[0].words[0].text == "You"
    upright = engine.read(sticky_note).lines[0].polygon[0]
    assert abs(result.lines[0].polygon[0].x - upright.x) < 12


def test_no_text_gives_no_blocks(engine: Engine) -> None:
    blank = np.full((300, 400, 3), 255, dtype=np.uint8)
    result = engine.read(blank)
    assert result.blocks == ()
    assert openread.to_azure_json(result)["readResult"] == {"blocks": []}


def test_rendered_text_is_read_exactly(engine: Engine) -> None:
    image = Image.new("RGB", (900, 200), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=48)
    draw.text((30, 30), "Hello, world: 42 apples!", fill="black", font=font)
    draw.text((30, 110), "Second line here", fill="black", font=font)
    result = engine.read(np.asarray(image))
    # printed punctuation set tight stays attached, as in Azure's printed output
    assert [line.text for line in result.lines] == [
        "Hello, world: 42 apples!",
        "Second line here",
    ]


def test_threads_give_the_same_results(engine: Engine, eval_data: Path) -> None:
    paths = sorted((eval_data / "icdar15" / "images").glob("*.jpg"))[:4]
    paths.append(eval_data / "azure_docs" / "images" / "handwritten-note.jpg")
    alone = [engine.read(p) for p in paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(engine.read, paths * 2))
    assert together == alone * 2


def test_engine_pickles_by_settings(engine: Engine, sticky_note: Path) -> None:
    clone = pickle.loads(pickle.dumps(engine))
    assert clone.settings == engine.settings
    assert clone.read(sticky_note) == engine.read(sticky_note)


def test_read_uses_one_default_engine(sticky_note: Path) -> None:
    first = openread.read(sticky_note)
    assert openread.read(sticky_note.read_bytes()) == first


def test_word_boxes_hug_their_letters(engine: Engine) -> None:
    """Word polygons are fitted to the ink (the detector's boxes are grown around the text):
    each rendered word's box overlaps the word's own ink box by IoU >= 0.6."""
    from shapely.geometry import Polygon, box

    image = Image.new("RGB", (900, 240), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    expected = {}
    x = 40
    for word in ["Fresh", "bread", "daily"]:
        left, top, right, bottom = draw.textbbox((x, 90), word, font=font)
        draw.text((x, 90), word, fill="black", font=font)
        expected[word] = box(left, top, right, bottom)
        x = right + 30
    result = engine.read(np.asarray(image))
    words = {w.text: Polygon([(p.x, p.y) for p in w.polygon]) for w in result.words}
    assert set(words) == set(expected)
    for text, truth in expected.items():
        found = words[text]
        iou = found.intersection(truth).area / found.union(truth).area
        assert iou >= 0.6, (text, round(iou, 2))

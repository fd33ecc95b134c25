"""``overlay.draw_overlay`` and ``openread read --overlay``: polygons land on the pixels they were
read from, in their confidence colour; labels run the way the text does (upright text gets its
label above the line on screen, upside-down text below it); the CLI writes the file."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from openread import Engine, ReadResult
from openread.cli import main
from openread.overlay import LINE_COLOUR, draw_overlay, word_colour
from serving import clean_env, openread_command

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def text_image(text: str, *, upside_down: bool = False) -> bytes:
    if not FONT.is_file():
        pytest.skip(f"needs the DejaVu font ({FONT}, Debian's fonts-dejavu-core)")
    image = Image.new("RGB", (900, 200), "white")
    ImageDraw.Draw(image).text((40, 70), text, font=ImageFont.truetype(str(FONT), 40), fill="black")
    if upside_down:
        image = image.rotate(180)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pixels_of(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def top_edge_middle(points: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    (x0, y0), (x1, y1) = points[0], points[1]
    return round((x0 + x1) / 2), round((y0 + y1) / 2)


def colours_near(pixels: np.ndarray, x: int, y: int) -> set[tuple[int, ...]]:
    """The colours within one pixel of (x, y)."""
    patch = pixels[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2].reshape(-1, 3)
    return {tuple(int(v) for v in pixel) for pixel in patch}


def test_polygons_are_drawn_where_the_words_are(engine: Engine, sticky_note: Path) -> None:
    result = engine.read(sticky_note)
    drawn = np.asarray(draw_overlay(sticky_note, result, text=False))
    plain = pixels_of(sticky_note)
    assert drawn.shape == (result.height, result.width, 3)
    assert len(result.words) >= 20
    for word in result.words:
        x, y = top_edge_middle(tuple((p.x, p.y) for p in word.polygon))
        assert word_colour(word.confidence)[:3] in colours_near(drawn, x, y), word
    for line in result.lines:
        x, y = top_edge_middle(tuple((p.x, p.y) for p in line.polygon))
        outlines = {LINE_COLOUR[:3]} | {word_colour(w.confidence)[:3] for w in line.words}
        assert outlines & colours_near(drawn, x, y), line.text
    # Away from every polygon the image is untouched.
    xs = [p.x for w in result.words for p in w.polygon]
    ys = [p.y for w in result.words for p in w.polygon]
    assert np.array_equal(drawn[: min(ys) - 10], plain[: min(ys) - 10])
    assert np.array_equal(drawn[:, max(xs) + 10 :], plain[:, max(xs) + 10 :])


def label_rows(engine: Engine, data: bytes) -> tuple[ReadResult, float, float]:
    """The result, the mean row of the pixels the labels changed, and the line's mean row."""
    result = engine.read(data)
    assert len(result.lines) == 1, result.text
    with_text = np.asarray(draw_overlay(data, result)).astype(int)
    without = np.asarray(draw_overlay(data, result, text=False)).astype(int)
    rows = np.nonzero(np.abs(with_text - without).sum(axis=2))[0]
    assert rows.size > 0
    return result, float(rows.mean()), float(np.mean([p.y for p in result.lines[0].polygon]))


@pytest.mark.parametrize("upside_down", [False, True])
def test_labels_run_the_way_the_text_does(engine: Engine, upside_down: bool) -> None:
    result, label_row, line_row = label_rows(
        engine, text_image("Overlay labels 2024", upside_down=upside_down)
    )
    assert result.text == "Overlay labels 2024"
    start = result.lines[0].polygon[0]
    if upside_down:  # the text's own top-left is at the bottom-right on screen
        assert start.x > result.lines[0].polygon[1].x
        assert label_row > line_row
    else:
        assert label_row < line_row


def test_a_result_of_another_image_is_refused(engine: Engine, sticky_note: Path) -> None:
    other = engine.read(text_image("Another image"))
    with pytest.raises(ValueError, match="900x200"):
        draw_overlay(sticky_note, other)


def test_cli_writes_the_overlay(sticky_note: Path, tmp_path: Path) -> None:
    out = tmp_path / "note.png"
    done = subprocess.run(
        [*openread_command(), "read", "--overlay", str(out), str(sticky_note)],
        capture_output=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    assert done.stdout.decode("utf-8").splitlines()[0].startswith("You must")
    with Image.open(out) as written:
        assert written.format == "PNG"
    pixels, original = pixels_of(out), pixels_of(sticky_note)
    assert pixels.shape == original.shape
    assert not np.array_equal(pixels, original)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a.jpg", "b.jpg", "--overlay", "x.png"], "give exactly one IMAGE"),
        (["a.jpg", "--overlay", "x.nope"], "cannot tell an image format"),
    ],
)
def test_cli_overlay_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["read", *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_overlay_that_cannot_be_written(
    sticky_note: Path, tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    out = tmp_path / "missing-dir" / "note.png"
    assert main(["read", "--overlay", str(out), str(sticky_note)]) == 3
    err = capfdbinary.readouterr().err.decode()
    assert f"openread: {sticky_note}: cannot write the overlay {out}" in err
    assert not out.exists()

"""A ``ReadResult`` drawn on its image, for reports and bug tickets (``openread read --overlay``).

The image is decoded as the engine decodes it (``pipeline.decode``: EXIF orientation applied),
so every polygon lands on the pixels it was read from. Lines are drawn in blue, words in a
colour for their confidence band (the web page uses the same bands): green at or above
``HIGH_CONFIDENCE``, orange down to ``LOW_CONFIDENCE``, red and shaded below it. Each line's text
is written along the line's own baseline, just above it (below it where the image ends), so
rotated and upside-down text gets a label that runs the way the text does. Fonts are looked up
among the system's (DejaVu, and Noto per script when installed); without them Pillow's own font
is used, which covers Latin only.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .pipeline.decode import ImageInput, load_image
from .result import Line, Point, ReadResult
from .settings import ImageLimits

__all__ = ["HIGH_CONFIDENCE", "LOW_CONFIDENCE", "draw_overlay", "word_colour"]

HIGH_CONFIDENCE = 0.8
LOW_CONFIDENCE = 0.5

LINE_COLOUR = (9, 105, 218, 255)
HIGH_COLOUR = (26, 127, 55, 255)
MID_COLOUR = (179, 89, 0, 255)
LOW_COLOUR = (209, 36, 47, 255)
LOW_FILL = (209, 36, 47, 60)
LABEL_INK = (10, 48, 105, 255)
LABEL_PAPER = (255, 255, 255, 215)

_FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
_LATIN_FONTS = ("dejavu/DejaVuSans.ttf", "noto/NotoSans-Regular.ttf")
_CJK_FONTS = ("noto/NotoSansCJK-Regular.ttc", "noto-cjk/NotoSansCJK-Regular.ttc")
_SCRIPT_FONTS = {
    "Arab": "NotoSansArabic",
    "Armn": "NotoSansArmenian",
    "Beng": "NotoSansBengali",
    "Deva": "NotoSansDevanagari",
    "Ethi": "NotoSansEthiopic",
    "Geor": "NotoSansGeorgian",
    "Gujr": "NotoSansGujarati",
    "Guru": "NotoSansGurmukhi",
    "Hebr": "NotoSansHebrew",
    "Khmr": "NotoSansKhmer",
    "Knda": "NotoSansKannada",
    "Laoo": "NotoSansLao",
    "Mlym": "NotoSansMalayalam",
    "Mymr": "NotoSansMyanmar",
    "Orya": "NotoSansOriya",
    "Sinh": "NotoSansSinhala",
    "Taml": "NotoSansTamil",
    "Telu": "NotoSansTelugu",
    "Thai": "NotoSansThai",
}
_CJK_SCRIPTS = frozenset({"Hani", "Hans", "Hant", "Hira", "Kana", "Jpan", "Hang", "Kore"})

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def word_colour(confidence: float) -> tuple[int, int, int, int]:
    """The RGBA outline colour of a word with this confidence."""
    if confidence >= HIGH_CONFIDENCE:
        return HIGH_COLOUR
    if confidence >= LOW_CONFIDENCE:
        return MID_COLOUR
    return LOW_COLOUR


def draw_overlay(
    image: ImageInput,
    result: ReadResult,
    *,
    limits: ImageLimits | None = None,
    text: bool = True,
) -> Image.Image:
    """``image`` (what was read) as RGB with ``result``'s polygons and, with ``text``, each
    line's text drawn on it. Raises the decoder's errors for an image it would refuse."""
    decoded = load_image(image, limits or ImageLimits())
    base = Image.fromarray(decoded.pixels[:, :, ::-1].copy(), "RGB").convert("RGBA")
    if base.size != (result.width, result.height):
        raise ValueError(
            f"the result is for a {result.width}x{result.height} image, "
            f"this one is {base.width}x{base.height}"
        )
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    stroke = max(1, round(min(base.size) / 500))
    for line in result.lines:
        draw.polygon(_xy(line.polygon), outline=LINE_COLOUR, width=stroke + 1)
        for word in line.words:
            fill = LOW_FILL if word.confidence < LOW_CONFIDENCE else None
            draw.polygon(
                _xy(word.polygon), outline=word_colour(word.confidence), fill=fill, width=stroke
            )
    if text:
        for line in result.lines:
            _draw_label(layer, line)
    return Image.alpha_composite(base, layer).convert("RGB")


def _xy(points: tuple[Point, ...]) -> list[tuple[int, int]]:
    return [(p.x, p.y) for p in points]


def _draw_label(layer: Image.Image, line: Line) -> None:
    """Write ``line.text`` along the line's top edge, outside it, in the text's direction."""
    p0, p1, _, p3 = line.polygon
    angle = math.atan2(p1.y - p0.y, p1.x - p0.x)
    line_height = math.hypot(p3.x - p0.x, p3.y - p0.y)
    label = _render_label(line.text, _font(line.script, max(10, round(line_height * 0.45))))
    cos, sin = math.cos(angle), math.sin(angle)
    width, height = label.size
    corners = [(x * cos - y * sin, x * sin + y * cos) for x, y in _box(width, height)]
    min_x = min(x for x, _ in corners)
    min_y = min(y for _, y in corners)
    rotated = label.rotate(-math.degrees(angle), resample=Image.Resampling.BICUBIC, expand=True)
    up = (sin, -cos)  # the text's own "up", in screen coordinates
    above = (p0.x + up[0] * height, p0.y + up[1] * height)
    below = (float(p3.x), float(p3.y))
    for top_left in (above, below):
        origin = (top_left[0] + min_x, top_left[1] + min_y)
        if _inside(origin, rotated.size, layer.size):
            break
    else:
        origin = (above[0] + min_x, above[1] + min_y)
    layer.alpha_composite(
        rotated, dest=(max(0, round(origin[0])), max(0, round(origin[1]))), source=_crop(origin)
    )


def _box(width: int, height: int) -> list[tuple[int, int]]:
    return [(0, 0), (width, 0), (width, height), (0, height)]


def _crop(origin: tuple[float, float]) -> tuple[int, int]:
    """Where to start in the label when it begins left of or above the image."""
    return (max(0, -round(origin[0])), max(0, -round(origin[1])))


def _inside(origin: tuple[float, float], size: tuple[int, int], bounds: tuple[int, int]) -> bool:
    return (
        origin[0] >= 0
        and origin[1] >= 0
        and origin[0] + size[0] <= bounds[0]
        and origin[1] + size[1] <= bounds[1]
    )


def _render_label(text: str, font: Font) -> Image.Image:
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    box = probe.textbbox((0, 0), text, font=font, anchor="ls")
    left, top, right, bottom = (math.floor(box[0]), math.floor(box[1]), *map(math.ceil, box[2:]))
    pad = max(1, round((bottom - top) / 8))
    label = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), LABEL_PAPER)
    ImageDraw.Draw(label).text(
        (pad - left, pad - top), text, font=font, fill=LABEL_INK, anchor="ls"
    )
    return label


@functools.lru_cache(maxsize=64)
def _font(script: str, size: int) -> Font:
    for candidate in _font_files(script):
        try:
            return ImageFont.truetype(str(candidate), size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _font_files(script: str) -> list[Path]:
    names: list[str] = []
    if script in _CJK_SCRIPTS:
        names += _CJK_FONTS
    if script in _SCRIPT_FONTS:
        family = _SCRIPT_FONTS[script]
        names += [f"noto/{family}-Regular.ttf", f"noto/{family}[wdth,wght].ttf"]
    names += _LATIN_FONTS
    return [d / name for name in names for d in _FONT_DIRS if (d / name).is_file()]

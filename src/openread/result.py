"""The typed output tree of a read: ``ReadResult > Block > Line > Word``.

Every coordinate is an integer pixel of the original image after its EXIF orientation was
applied, clamped to ``[0, width-1] x [0, height-1]``. Every polygon has exactly four points,
clockwise, starting at the text's own top-left corner (for upside-down text that is the
bottom-right corner on screen). The invariants that Azure's schema implies are checked when
the objects are built, so a ``ReadResult`` that exists is a valid one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "STAGES",
    "Appearance",
    "Block",
    "Line",
    "Point",
    "Quad",
    "ReadResult",
    "StageTimings",
    "Word",
]


@dataclass(frozen=True, slots=True)
class Point:
    """A pixel position; ``x`` grows to the right, ``y`` downwards, both >= 0."""

    x: int
    y: int

    def __post_init__(self) -> None:
        if not (isinstance(self.x, int) and isinstance(self.y, int)):
            raise TypeError(f"Point coordinates must be int, got {self.x!r}, {self.y!r}")
        if self.x < 0 or self.y < 0:
            raise ValueError(f"Point coordinates must be >= 0, got ({self.x}, {self.y})")


Quad = tuple[Point, Point, Point, Point]
"""Four corners, clockwise from the text's own top-left corner."""


@dataclass(frozen=True, slots=True)
class Word:
    """An unbroken run of characters (punctuation and each CJK character stand alone)."""

    text: str
    polygon: Quad
    confidence: float

    def __post_init__(self) -> None:
        if not self.text or any(ch.isspace() for ch in self.text):
            raise ValueError(f"a word is a non-empty run without spaces, got {self.text!r}")
        if len(self.polygon) != 4:
            raise ValueError("a word polygon has exactly 4 points")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")


@dataclass(frozen=True, slots=True)
class Appearance:
    """How a line is written (Azure v3.2's ``appearance.style``): by hand or not."""

    style: Literal["handwriting", "other"]
    confidence: float
    """How sure the classifier is of ``style``, in [0, 1]."""

    def __post_init__(self) -> None:
        if self.style not in ("handwriting", "other"):
            raise ValueError(f"style is 'handwriting' or 'other', got {self.style!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")


@dataclass(frozen=True, slots=True)
class Line:
    """A line of text: its words in reading order; ``text`` is the words joined by spaces."""

    text: str
    polygon: Quad
    words: tuple[Word, ...]
    script: str = ""
    """ISO 15924 code of the script the line was read as (``Latn``, ``Cyrl``, ``Arab`` ...;
    ``""`` when it has no letters). Not on Azure's wire (4.0 dropped per-line language); the
    server adds it only when asked (see ``wire``)."""
    appearance: Appearance | None = None
    """Handwritten or not, when the style stage has classified the line (``None`` otherwise)."""

    def __post_init__(self) -> None:
        if not self.words:
            raise ValueError("a line has at least one word")
        if self.text != " ".join(w.text for w in self.words):
            raise ValueError(f"line text {self.text!r} is not its words joined by spaces")
        if len(self.polygon) != 4:
            raise ValueError("a line polygon has exactly 4 points")

    @property
    def confidence(self) -> float:
        """Mean of the word confidences (not on the wire: Azure has no line confidence)."""
        return sum(w.confidence for w in self.words) / len(self.words)


@dataclass(frozen=True, slots=True)
class Block:
    """A group of lines in reading order (Azure 4.0 returns one block holding every line)."""

    lines: tuple[Line, ...]

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("a block has at least one line")


STAGES = ("decode", "detect", "recognize", "scriptid", "style", "layout")
"""The engine's stages, in the order they run (the fields of ``StageTimings``)."""


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Seconds the engine spent in each stage of one read (a page read twice because it was
    turned upright counts both passes). ``decode``: decoding and checking the image (or
    rendering the document page); ``detect``: text detection and line orientation;
    ``recognize``: the line recogniser; ``scriptid``: script identification and the second
    recognisers; ``style``: the handwriting/printed line classifier; ``layout``: word
    splitting, the receipt-number fixes, the result tree and confidence calibration."""

    decode: float = 0.0
    detect: float = 0.0
    recognize: float = 0.0
    scriptid: float = 0.0
    style: float = 0.0
    layout: float = 0.0

    def items(self) -> tuple[tuple[str, float], ...]:
        """``(stage, seconds)`` for every stage of ``STAGES``, in order."""
        return tuple((name, float(getattr(self, name))) for name in STAGES)

    @property
    def total(self) -> float:
        return sum(seconds for _, seconds in self.items())


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What was read in one image."""

    width: int
    height: int
    model_version: str
    blocks: tuple[Block, ...]
    timings: StageTimings = field(default_factory=StageTimings, compare=False, repr=False)
    """How long each stage took (not part of what was read: ignored by ``==``)."""

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError("image size must be at least 1x1")
        for line in self.lines:
            for point in (*line.polygon, *(p for w in line.words for p in w.polygon)):
                if point.x >= self.width or point.y >= self.height:
                    raise ValueError(f"{point} lies outside the {self.width}x{self.height} image")

    @property
    def lines(self) -> tuple[Line, ...]:
        """All lines, block after block, in reading order."""
        return tuple(line for block in self.blocks for line in block.lines)

    @property
    def words(self) -> tuple[Word, ...]:
        """All words in reading order."""
        return tuple(word for line in self.lines for word in line.words)

    @property
    def text(self) -> str:
        """The page text: one line of text per line, in reading order."""
        return "\n".join(line.text for line in self.lines)

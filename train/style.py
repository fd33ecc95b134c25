"""Train the handwriting/printed line classifier that ``openread.pipeline.style`` ships.

    pip install -e '.[train]'          # scikit-learn (training only; the service never needs it)
    bash scripts/system-deps --dev     # the handwriting and printed fonts rendered below
    python -m train.style              # writes src/openread/data/style.npz and style.json

Data (never ``../shared/eval-data``: that is for evaluation only):

* handwritten, real: the 6,215 lines of ``../shared/train-data/handwriting_fr`` (CC-BY-4.0,
  HTR-United; see NOTICE), lightly augmented;
* handwritten, rendered: lines of real text (French transcriptions of that set and frequent
  words of English, French, German) in Debian's handwriting fonts;
* printed, rendered: lines of real text in many printed fonts (Noto, DejaVu, Liberation,
  FreeFont, Nanum, CJK), Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, CJK and Hangul,
  receipt-like strings with digits, all caps, bold and italic.

Every rendered line (hand or print) goes through the same augmentation (paper and scene
backgrounds, light-on-dark, low contrast, blur, downscaling, noise, JPEG, binarisation, small
rotations and perspective, bold/thin strokes, margins), so that the classifier learns the
shape of the writing, not how the line was made. A tenth of every source is held out; the
provenance record gives the counts, settings and held-out accuracy of each model tried.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import random
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from openread.pipeline import style

REPO = Path(__file__).resolve().parent.parent
TRAIN_DATA = REPO.parent / "shared" / "train-data" / "handwriting_fr"
OUT = REPO / "src" / "openread" / "data"
FONTS = Path("/usr/share/fonts")

HAND_FONTS = (
    "truetype/fifthhorseman/dkg.ttf",
    "truetype/fifthhorseman/dkgIt.ttf",
    "truetype/fifthhorseman/dkgBd.ttf",
    "opentype/bwht/BecauseWeBuild-Regular.otf",
    "opentype/bwht/BecauseWeConnect-Regular.otf",
    "opentype/bwht/BecauseWeCreate-Regular.otf",
    "opentype/bwht/BecauseWeOrganize-Regular.otf",
    "opentype/bwht/BecauseWeMentor-Regular.otf",
    "opentype/bwht/BecauseWeLearn-Regular.otf",
    "opentype/dancingscript/DancingScript-Regular.otf",
    "opentype/dancingscript/DancingScript-Bold.otf",
    "truetype/ecolier-court/Ecolier-court.ttf",
    "truetype/breip/Breip.ttf",
    "truetype/femkeklaver/femkeklaver.ttf",
    "truetype/rufscript/Rufscript010.ttf",
    "truetype/sjfonts/SteveHand.ttf",
    "truetype/sjfonts/Delphine.ttf",
    "truetype/humor-sans/Humor-Sans.ttf",
)
"""Debian packages fonts-dkg-handwriting, fonts-bwht, fonts-dancingscript, fonts-ecolier-court,
fonts-breip, fonts-femkeklaver, fonts-rufscript, fonts-sjfonts, fonts-humor-sans."""

LATIN_PRINT = (
    "truetype/dejavu/DejaVuSans.ttf",
    "truetype/dejavu/DejaVuSans-Bold.ttf",
    "truetype/dejavu/DejaVuSans-Oblique.ttf",
    "truetype/dejavu/DejaVuSansCondensed.ttf",
    "truetype/dejavu/DejaVuSerif.ttf",
    "truetype/dejavu/DejaVuSerif-Bold.ttf",
    "truetype/dejavu/DejaVuSerif-Italic.ttf",
    "truetype/dejavu/DejaVuSansMono.ttf",
    "truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "truetype/dejavu/DejaVuSans-ExtraLight.ttf",
    "truetype/liberation/LiberationSans-Regular.ttf",
    "truetype/liberation/LiberationSans-Bold.ttf",
    "truetype/liberation/LiberationSans-Italic.ttf",
    "truetype/liberation/LiberationSansNarrow-Regular.ttf",
    "truetype/liberation/LiberationSerif-Regular.ttf",
    "truetype/liberation/LiberationSerif-Bold.ttf",
    "truetype/liberation/LiberationSerif-Italic.ttf",
    "truetype/liberation/LiberationMono-Regular.ttf",
    "truetype/liberation/LiberationMono-Bold.ttf",
    "truetype/freefont/FreeMono.ttf",
    "truetype/freefont/FreeMonoBold.ttf",
    "truetype/freefont/FreeSans.ttf",
    "truetype/freefont/FreeSansBold.ttf",
    "truetype/freefont/FreeSerif.ttf",
    "truetype/freefont/FreeSerifItalic.ttf",
    "truetype/freefont/FreeSerifBoldItalic.ttf",
    "truetype/noto/NotoSans-Regular.ttf",
    "truetype/noto/NotoSans-Bold.ttf",
    "truetype/noto/NotoSans-Italic.ttf",
    "truetype/noto/NotoSerif-Regular.ttf",
    "truetype/noto/NotoSerif-Bold.ttf",
    "truetype/noto/NotoSerif-Italic.ttf",
)
"""Latin, Cyrillic and Greek (DejaVu, Liberation, FreeFont and Noto cover all three)."""

SCRIPT_PRINT: dict[str, tuple[str, ...]] = {
    "ar": (
        "truetype/noto/NotoNaskhArabic-Regular.ttf",
        "truetype/noto/NotoNaskhArabic-Bold.ttf",
        "truetype/noto/NotoKufiArabic-Regular.ttf",
        "truetype/noto/NotoSansArabic-Regular.ttf",
        "truetype/noto/NotoSansArabic-Bold.ttf",
        "truetype/dejavu/DejaVuSans.ttf",
        "truetype/freefont/FreeSerif.ttf",
    ),
    "he": (
        "truetype/noto/NotoSansHebrew-Regular.ttf",
        "truetype/noto/NotoSerifHebrew-Regular.ttf",
        "truetype/noto/NotoSerifHebrew-Bold.ttf",
    ),
    "hi": (
        "truetype/noto/NotoSansDevanagari-Regular.ttf",
        "truetype/noto/NotoSansDevanagari-Bold.ttf",
        "truetype/noto/NotoSerifDevanagari-Regular.ttf",
    ),
    "zh": ("opentype/noto/NotoSansCJK-Regular.ttc", "opentype/noto/NotoSerifCJK-Regular.ttc"),
    "ja": ("opentype/noto/NotoSansCJK-Bold.ttc", "opentype/noto/NotoSerifCJK-Bold.ttc"),
    "ko": (
        "truetype/nanum/NanumGothic.ttf",
        "truetype/nanum/NanumMyeongjo.ttf",
        "truetype/nanum/NanumBarunGothic.ttf",
    ),
}

LATIN_LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pt", "ms")
OTHER_LANGUAGES = ("ru", "el", "ar", "he", "hi", "zh", "ja", "ko")


@dataclass(frozen=True)
class Config:
    seed: int = 20261203
    hand_rendered: int = 6000
    printed: int = 14000
    real_augment: float = 0.6
    """Share of the real handwritten lines that are augmented too."""
    holdout: float = 0.1
    hidden: tuple[int, ...] = (64, 32)
    alpha: float = 1e-3
    max_iter: int = 300


# --- text -------------------------------------------------------------------------------


class Texts:
    """Real text to render: transcriptions of the training lines and frequent words."""

    def __init__(self, transcriptions: Sequence[str], rng: random.Random) -> None:
        import wordfreq

        self.rng = rng
        self.transcriptions = [t for t in transcriptions if len(t) >= 3]
        self.words = {lang: wordfreq.top_n_list(lang, 5000) for lang in LATIN_LANGUAGES}
        for lang in OTHER_LANGUAGES:
            self.words[lang] = wordfreq.top_n_list(lang, 3000)

    def phrase(self, lang: str, low: int = 1, high: int = 9) -> str:
        words = self.words[lang]
        count = self.rng.randint(low, high)
        joiner = "" if lang in ("zh", "ja") else " "
        return joiner.join(self.rng.choice(words) for _ in range(count))

    def latin(self) -> str:
        r = self.rng.random()
        if r < 0.35 and self.transcriptions:
            text = self.rng.choice(self.transcriptions)
            if self.rng.random() < 0.4:  # part of a line: a few words, as the detector cuts
                words = text.split()
                start = self.rng.randrange(len(words))
                text = " ".join(words[start : start + self.rng.randint(1, 4)])
            return text
        text = self.phrase(self.rng.choice(LATIN_LANGUAGES))
        if self.rng.random() < 0.3:
            text = text.capitalize()
        if self.rng.random() < 0.15:
            text += self.rng.choice(".,;:!?")
        return text

    def short(self) -> str:
        """One token, as receipts' fields and scene words are: a word, a number, a code."""
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            word = rng.choice(self.words[rng.choice(LATIN_LANGUAGES)])
            return rng.choice((word, word.upper(), word.capitalize()))
        if r < 0.75:
            return rng.choice(
                (
                    str(rng.randint(0, 9)),
                    str(rng.randint(10, 999)),
                    f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}",
                    f"{rng.randint(1, 99)}%",
                    f"${rng.randint(1, 99)}",
                )
            )
        word = rng.choice(self.words["en"]).upper()[:4]
        return rng.choice(
            (f"({word})", f"{word}:", f"#{rng.randint(1, 99)}", f"{word}-{rng.randint(1, 9)}")
        )

    def receipt(self) -> str:
        rng = self.rng
        word = self.phrase(rng.choice(("en", "ms")), 1, 3).upper()
        choices: list[Callable[[], str]] = [
            lambda: f"{word} {rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
            lambda: (
                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 26)}"
                f" {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
            ),
            lambda: f"{rng.randint(1, 9)} x {rng.randint(1, 99)}.{rng.randint(0, 99):02d}",
            lambda: f"TOTAL RM {rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
            lambda: f"INV-{rng.randint(0, 99999):05d}",
            lambda: f"TEL: 0{rng.randint(1, 9)}-{rng.randint(1000000, 9999999)}",
            lambda: f"{rng.randint(100000, 99999999)}",
            lambda: word,
            lambda: f"No. {rng.randint(1, 300)}, JALAN {word}",
            lambda: f"GST ID : {rng.randint(10**11, 10**12 - 1)}",
        ]
        return rng.choice(choices)()

    def printed(self) -> tuple[str, str]:
        """A text and its language code (``""`` for Latin)."""
        r = self.rng.random()
        if r < 0.3:
            return self.short(), ""
        if r < 0.55:
            text = self.latin()
            if self.rng.random() < 0.2:
                text = text.upper()
            return text, ""
        if r < 0.65:
            return self.receipt(), ""
        lang = self.rng.choice(OTHER_LANGUAGES)
        high = 4 if lang in ("zh", "ja") else 7
        return self.phrase(lang, 1, high), lang


# --- rendering and augmentation ---------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _probe_font(path: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), 32)


@functools.lru_cache(maxsize=200_000)
def _has_glyph(path: Path, char: str) -> bool:
    """Whether the font draws ``char`` as something else than its missing-glyph box."""
    font = _probe_font(path)
    missing = bytes(font.getmask("\U0010fffd"))
    return char.isspace() or bytes(font.getmask(char)) != missing


def _drawable(text: str, path: Path) -> str:
    """``text`` with the characters the font lacks replaced by their unaccented letter (or
    dropped), so that no missing-glyph box is drawn."""
    out = []
    for char in text:
        if _has_glyph(path, char):
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.extend(c for c in base if _has_glyph(path, c))
    return "".join(out).strip() or "text"


def render(text: str, font_path: Path, size: int, rng: random.Random) -> npt.NDArray[np.uint8]:
    """``text`` drawn dark on white, (h, w) uint8, cropped to the ink plus margins."""
    text = _drawable(text, font_path)
    font = ImageFont.truetype(str(font_path), size)
    left, top, right, bottom = font.getbbox(text)
    width = max(1, right - left)
    height = max(1, bottom - top)
    pad = size
    canvas = Image.new("L", (width + 2 * pad, height + 2 * pad), 255)
    draw = ImageDraw.Draw(canvas)
    draw.text((pad - left, pad - top), text, font=font, fill=0)
    pixels = np.asarray(canvas, dtype=np.uint8)
    ink = pixels < 128
    if not ink.any():
        return pixels[:size, : 2 * size]
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    line_height = max(size * 0.9, float(rows[-1] - rows[0] + 1))
    tight = rng.random() < 0.4  # ground-truth boxes and some detector boxes hug the ink
    top_margin = int(rng.uniform(0.0, 0.05 if tight else 0.35) * line_height)
    bottom_margin = int(rng.uniform(0.0, 0.05 if tight else 0.35) * line_height)
    side = int(rng.uniform(0.0, 0.05 if tight else 0.6) * line_height)
    y0 = max(0, rows[0] - top_margin)
    y1 = min(pixels.shape[0], rows[-1] + 1 + bottom_margin)
    x0 = max(0, cols[0] - side)
    x1 = min(pixels.shape[1], cols[-1] + 1 + side)
    return np.ascontiguousarray(pixels[y0:y1, x0:x1])


def augment(grey: npt.NDArray[np.uint8], rng: random.Random) -> npt.NDArray[np.uint8]:
    """One random photo/scan degradation of a dark-on-light line (h, w) -> (h', w', 3) BGR."""
    nprng = np.random.default_rng(rng.randrange(2**32))
    img = grey.astype(np.float32) / 255.0
    h, w = img.shape
    # stroke weight
    r = rng.random()
    if r < 0.15:
        img = cv2.erode(img, np.ones((2, 2), np.uint8))
    elif r < 0.25:
        img = cv2.dilate(img, np.ones((2, 2), np.uint8))
    # geometry: small rotation, shear, perspective
    if rng.random() < 0.6:
        limit = min(3.0, math.degrees(math.asin(min(1.0, 0.25 * h / max(1, w)))))
        angle = rng.uniform(-limit, limit)
        shear = rng.uniform(-0.15, 0.15) if rng.random() < 0.3 else 0.0
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        matrix[0, 1] += shear
        img = cv2.warpAffine(img, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.3:
        d = 0.04
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        jitter = np.float32([[rng.uniform(-d, d) * w, rng.uniform(-d, d) * h] for _ in range(4)])
        matrix = cv2.getPerspectiveTransform(src, src + jitter)
        img = cv2.warpPerspective(img, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    # colours: ink and ground, maybe light on dark, maybe a scene-like textured ground
    ground = np.array([rng.uniform(0.55, 1.0) for _ in range(3)], dtype=np.float32)
    ink = np.array([rng.uniform(0.0, 0.45) for _ in range(3)], dtype=np.float32)
    while float(np.abs(ground - ink).mean()) < 0.3:
        ink = ink * 0.5
    if rng.random() < 0.15:
        ground, ink = ink, ground
    if rng.random() < 0.15:  # low contrast
        mid = (ground + ink) / 2
        ink = mid + (ink - mid) * rng.uniform(0.25, 0.6)
        ground = mid + (ground - mid) * rng.uniform(0.25, 0.6)
    colour = img[..., None] * ground + (1.0 - img[..., None]) * ink
    # illumination gradient and paper texture
    if rng.random() < 0.5:
        gx = np.linspace(rng.uniform(0.7, 1.1), rng.uniform(0.7, 1.1), w, dtype=np.float32)
        colour *= gx[None, :, None]
    if rng.random() < 0.4:
        scale = rng.choice((4, 8, 16))
        small = nprng.normal(0, rng.uniform(0.02, 0.1), (max(1, h // scale), max(1, w // scale)))
        texture = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        colour += texture[..., None]
    # resolution: blur, downscale and back
    if rng.random() < 0.5:
        sigma = rng.uniform(0.3, 1.6)
        colour = cv2.GaussianBlur(colour, (0, 0), sigma)
    keep_small = False
    if rng.random() < 0.6:  # low resolution: small text in a photo or a scan
        target = rng.uniform(8, 28)
        factor = min(1.0, target / h)
        if factor < 1.0:
            colour = cv2.resize(
                colour, (max(1, int(w * factor)), max(1, int(h * factor))), cv2.INTER_AREA
            )
            keep_small = rng.random() < 0.5
            if not keep_small:
                colour = cv2.resize(colour, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        colour += nprng.normal(0, rng.uniform(0.005, 0.06), colour.shape).astype(np.float32)
    out = np.asarray(np.clip(colour * 255.0, 0, 255), dtype=np.uint8)
    if rng.random() < 0.1:  # binarised scans
        grey_out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        _, binary = cv2.threshold(grey_out, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        out = cv2.cvtColor(binary, cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.6:
        quality = rng.randint(25, 95)
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(out, dtype=np.uint8)


def augment_real(grey: npt.NDArray[np.uint8], rng: random.Random) -> npt.NDArray[np.uint8]:
    """A real (photographed) line: milder, the photo is real already."""
    if rng.random() < 0.35:  # a piece of the line: a word or two, as a detector may cut it
        h, w = grey.shape
        piece = min(w, int(rng.uniform(0.7, 5.0) * h))
        start = rng.randint(0, max(0, w - piece))
        grey = np.ascontiguousarray(grey[:, start : start + piece])
    img = grey.astype(np.float32) / 255.0
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / max(hi - lo, 1e-3)
    ground = np.array([rng.uniform(0.6, 1.0) for _ in range(3)], dtype=np.float32)
    ink = np.array([rng.uniform(0.0, 0.4) for _ in range(3)], dtype=np.float32)
    if rng.random() < 0.1:
        ground, ink = ink, ground
    colour = img[..., None] * ground + (1.0 - img[..., None]) * ink
    if rng.random() < 0.4:
        colour = cv2.GaussianBlur(colour, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.5:
        h, w = img.shape
        factor = rng.uniform(0.2, 0.8)
        colour = cv2.resize(
            colour, (max(1, int(w * factor)), max(1, int(h * factor))), cv2.INTER_AREA
        )
        if rng.random() < 0.5:
            colour = cv2.resize(colour, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.4:
        noise = np.random.default_rng(rng.randrange(2**32)).normal(
            0, rng.uniform(0.005, 0.05), colour.shape
        )
        colour += noise.astype(np.float32)
    out = np.asarray(np.clip(colour * 255.0, 0, 255), dtype=np.uint8)
    if rng.random() < 0.1:
        grey_out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        _, binary = cv2.threshold(grey_out, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        out = cv2.cvtColor(binary, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(out, dtype=np.uint8)


# --- the data set -----------------------------------------------------------------------


@dataclass
class Sample:
    source: str
    label: int  # 1 handwriting, 0 printed
    features: npt.NDArray[np.float32]


def real_lines(rng: random.Random, config: Config) -> tuple[list[Sample], list[str]]:
    records = [json.loads(line) for line in (TRAIN_DATA / "lines.jsonl").read_text().splitlines()]
    samples = []
    for record in records:
        grey = cv2.imread(str(TRAIN_DATA / record["image"]), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            continue
        if rng.random() < config.real_augment:
            crop = augment_real(grey, rng)
        else:
            crop = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        samples.append(Sample("hand-real", 1, style.features(crop)))
    return samples, [r["text"] for r in records]


def rendered(
    count: int, label: int, texts: Texts, rng: random.Random, progress: str
) -> list[Sample]:
    samples = []
    started = time.monotonic()
    for i in range(count):
        if label == 1:
            font = FONTS / rng.choice(HAND_FONTS)
            r = rng.random()
            text = texts.latin() if r < 0.65 else texts.short() if r < 0.9 else texts.receipt()
            source = "hand-rendered"
        else:
            text, lang = texts.printed()
            font = FONTS / rng.choice(SCRIPT_PRINT.get(lang, LATIN_PRINT))
            source = f"print-{lang or 'latin'}"
        grey = render(text, font, rng.randint(20, 64), rng)
        samples.append(Sample(source, label, style.features(augment(grey, rng))))
        if (i + 1) % 2000 == 0:
            print(f"  {progress}: {i + 1}/{count} ({time.monotonic() - started:.0f} s)", flush=True)
    return samples


def split(
    samples: Sequence[Sample], holdout: float, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Train and held-out indices, ``holdout`` of every source held out."""
    train, test = [], []
    by_source: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_source.setdefault(s.source, []).append(i)
    for indices in by_source.values():
        rng.shuffle(indices)
        cut = max(1, int(len(indices) * holdout))
        test.extend(indices[:cut])
        train.extend(indices[cut:])
    return train, test


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--hand-rendered", type=int, default=Config.hand_rendered)
    parser.add_argument("--printed", type=int, default=Config.printed)
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep the computed features in this .npz and reuse them when it exists",
    )
    args = parser.parse_args(argv)
    config = Config(seed=args.seed, hand_rendered=args.hand_rendered, printed=args.printed)

    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    rng = random.Random(config.seed)
    np.random.seed(config.seed)
    started = time.monotonic()
    if args.cache is not None and args.cache.is_file():
        with np.load(args.cache, allow_pickle=False) as cached:
            samples = [
                Sample(str(source), int(label), row)
                for source, label, row in zip(
                    cached["sources"], cached["labels"], cached["features"], strict=True
                )
            ]
    else:
        print("real handwritten lines ...", flush=True)
        real, transcriptions = real_lines(rng, config)
        texts = Texts(transcriptions, rng)
        print("rendered handwriting ...", flush=True)
        hand = rendered(config.hand_rendered, 1, texts, rng, "hand")
        print("rendered print ...", flush=True)
        printed = rendered(config.printed, 0, texts, rng, "print")
        samples = [*real, *hand, *printed]
        if args.cache is not None:
            np.savez_compressed(
                args.cache,
                sources=np.array([s.source for s in samples]),
                labels=np.array([s.label for s in samples]),
                features=np.stack([s.features for s in samples]),
            )
    x = np.stack([s.features for s in samples]).astype(np.float64)
    y = np.array([s.label for s in samples])
    train, test = split(samples, config.holdout, rng)
    scaler = StandardScaler().fit(x[train])
    scaler.scale_ = np.maximum(scaler.scale_, 1e-6)
    xs = scaler.transform(x)
    candidates = {
        "logistic": LogisticRegression(C=1.0, max_iter=2000, random_state=config.seed),
        "mlp": MLPClassifier(
            hidden_layer_sizes=config.hidden,
            alpha=config.alpha,
            max_iter=config.max_iter,
            early_stopping=True,
            random_state=config.seed,
        ),
    }
    report: dict[str, dict[str, float]] = {}
    for name, model in candidates.items():
        model.fit(xs[train], y[train])
        predicted = model.predict(xs[test])
        report[name] = {"held-out accuracy": float(np.mean(predicted == y[test]))}
        for source in sorted({s.source for s in samples}):
            rows = [i for i in test if samples[i].source == source]
            report[name][source] = float(np.mean(model.predict(xs[rows]) == y[rows]))
        print(name, json.dumps(report[name]), flush=True)
    mlp = candidates["mlp"]
    args.out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "feature_version": np.array(style.FEATURE_VERSION),
        "layers": np.array(len(mlp.coefs_)),
        "mean": scaler.mean_.astype(np.float32),
        "scale": scaler.scale_.astype(np.float32),
        "threshold": np.array(0.5, dtype=np.float32),
    }
    for i, (weight, bias) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        arrays[f"w{i}"] = weight.astype(np.float32)
        arrays[f"b{i}"] = bias.astype(np.float32)
    model_path = args.out / "style.npz"
    np.savez_compressed(model_path, **arrays)  # type: ignore[arg-type]
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    provenance = {
        "model": "style.npz",
        "sha256": digest,
        "size": model_path.stat().st_size,
        "trainer": "train/style.py",
        "config": asdict(config),
        "feature_version": style.FEATURE_VERSION,
        "features": style.FEATURES,
        "data": {
            "hand-real": {
                "path": "../shared/train-data/handwriting_fr/lines.jsonl",
                "licence": "CC-BY-4.0 (HTR-United; see NOTICE)",
            },
            "hand-rendered fonts": list(HAND_FONTS),
            "print fonts": sorted({*LATIN_PRINT, *(f for v in SCRIPT_PRINT.values() for f in v)}),
            "eval-data": "not used",
        },
        "counts": {
            source: sum(1 for s in samples if s.source == source)
            for source in sorted({s.source for s in samples})
        },
        "train": len(train),
        "held_out": len(test),
        "models": report,
        "shipped": "mlp",
        "seconds": round(time.monotonic() - started),
        "libraries": _versions(),
    }
    (args.out / "style.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {model_path} ({model_path.stat().st_size} bytes, sha256 {digest})")
    return 0


def _versions() -> dict[str, str]:
    import sklearn

    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "opencv": cv2.__version__}


if __name__ == "__main__":
    raise SystemExit(main())

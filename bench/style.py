"""Handwriting style benchmark: how often openread's line style (``Line.appearance``) is right.

    python -m bench.style [--data DIR] [--crops engine|gt] [--subsets a,b] [--limit N]

Every line of a subset has one true style: handwritten for ``handwriting_en``,
``handwriting_fr`` and Azure's sticky note (``azure_docs/handwritten-note.jpg``), printed for
``sroie``, ``icdar15``, Azure's printed sample (``azure_docs/printed_text.jpg``) and
``lines_cyrl``, ``lines_arab``, ``lines_grek``. FUNSD forms are printed with handwritten fields,
so they are reported apart and counted on neither side.

``--crops engine`` (default) reads each image with the engine and judges every line it returns
(what a client gets, detection fragments included). ``--crops gt`` classifies the ground-truth
line or word regions instead (the bounding box of each polygon; the one-line images whole),
which judges the classifier alone; Azure's printed sample has no regions and is read by the
engine in both modes.

Per subset: lines judged, the share classified handwriting, the share right (the same or its
complement), mean confidence. Then each side pooled over its lines, and the classifier's cost
(crop + features + perceptron) per line and per page, timed on the same lines. The eval-data is
for evaluation only: nothing here feeds back into training (``train/style.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

import openread
from openread.models import STYLE_CLASSIFIER, resolve
from openread.pipeline import orient, style
from openread.pipeline.decode import load_image

from .accuracy import GtPage, default_data_dir, load_subset

HAND = ("handwriting_en", "handwriting_fr", "sticky_note")
PRINT = ("sroie", "icdar15", "azure_printed", "lines_cyrl", "lines_arab", "lines_grek")
APART = ("funsd",)
STICKY = "handwritten-note.jpg"


@dataclass(frozen=True, slots=True)
class Judged:
    """The classifier's probability of handwriting for each line of one subset."""

    subset: str
    probabilities: tuple[float, ...]
    threshold: float
    ms_per_page: tuple[float, ...]
    ms_per_line: tuple[float, ...]
    read_ms_per_page: tuple[float, ...] = ()
    """With ``--crops engine``: the whole read of each page (style stage included)."""

    @property
    def handwriting(self) -> int:
        return sum(p >= self.threshold for p in self.probabilities)


def _pages(data: Path, name: str, limit: int | None) -> list[GtPage]:
    if name in ("sticky_note", "azure_printed"):
        pages = load_subset(data, "azure_docs")
        sticky = [p for p in pages if p.image.name == STICKY]
        return sticky if name == "sticky_note" else [p for p in pages if p.image.name != STICKY]
    return load_subset(data, name, limit)


def _box(polygon: Sequence[tuple[float, float]], width: int, height: int) -> tuple[int, ...]:
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    x0, y0 = max(0, int(min(xs))), max(0, int(min(ys)))
    x1, y1 = min(width, int(np.ceil(max(xs))) + 1), min(height, int(np.ceil(max(ys))) + 1)
    return x0, y0, x1, y1


def gt_regions(
    page: GtPage, pixels: npt.NDArray[np.uint8]
) -> list[tuple[npt.NDArray[np.uint8], str]]:
    """The page's ground-truth regions (not don't-care) as (crop, text); a page without
    regions is one crop of the whole page with the page's text."""
    height, width = pixels.shape[:2]
    if not page.items:
        return [(pixels, page.page_text or "")]
    regions = []
    for item in page.items:
        if item.ignore or not item.text.strip():
            continue
        x0, y0, x1, y1 = _box(item.polygon, width, height)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            regions.append((np.ascontiguousarray(pixels[y0:y1, x0:x1]), item.text))
    return regions


def gt_crops(page: GtPage, pixels: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.uint8]]:
    """The page's ground-truth regions (not don't-care), as crops."""
    return [crop for crop, _ in gt_regions(page, pixels)]


def engine_crops(
    engine: openread.Engine, pixels: npt.NDArray[np.uint8], path: Path
) -> tuple[list[npt.NDArray[np.uint8]], list[float]]:
    """The crops of the lines the engine returns and the probability it gave each."""
    result = engine.read(path)
    crops: list[npt.NDArray[np.uint8]] = []
    given = []
    for line in result.lines:
        quad = np.array([[p.x, p.y] for p in line.polygon], dtype=np.float32)
        crops.append(orient.warp(pixels, quad))
        appearance = line.appearance
        if appearance is None:
            raise SystemExit("the engine returned a line without appearance")
        p = (
            appearance.confidence
            if appearance.style == "handwriting"
            else 1 - appearance.confidence
        )
        given.append(p)
    return crops, given


def judge(
    engine: openread.Engine,
    model: style.StyleModel,
    name: str,
    pages: Sequence[GtPage],
    mode: str,
) -> Judged:
    probabilities: list[float] = []
    per_page: list[float] = []
    per_line: list[float] = []
    reads: list[float] = []
    for page in pages:
        pixels = load_image(page.image, engine.settings.limits).pixels
        if mode == "gt" and name != "azure_printed":
            crops = gt_crops(page, pixels)
            given = None
        else:
            started = time.perf_counter()
            crops, given = engine_crops(engine, pixels, page.image)
            if mode == "engine":  # (in gt mode only Azure's printed sample is read)
                reads.append((time.perf_counter() - started) * 1000.0)
        if not crops:
            continue
        started = time.perf_counter()
        found = style.probabilities(model, crops)
        elapsed = (time.perf_counter() - started) * 1000.0
        per_page.append(elapsed)
        per_line.append(elapsed / len(crops))
        # the engine's own decision is what is judged; the timing re-runs the classifier on
        # the same crops (for engine lines, cut from the returned polygons)
        probabilities.extend(given if given is not None else [float(p) for p in found])
    return Judged(
        name, tuple(probabilities), model.threshold, tuple(per_page), tuple(per_line), tuple(reads)
    )


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "–"


def render(results: Sequence[Judged]) -> str:
    rows = [
        "| subset | truth | lines | classified handwriting | right | mean confidence |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    sides = {"handwriting": [0, 0], "printed": [0, 0]}
    for r in results:
        truth = "handwriting" if r.subset in HAND else "printed" if r.subset in PRINT else "mixed"
        lines = len(r.probabilities)
        hand = r.handwriting
        right = hand if truth == "handwriting" else lines - hand if truth == "printed" else None
        confidence = (
            statistics.mean(max(p, 1 - p) for p in r.probabilities) if r.probabilities else 0.0
        )
        rows.append(
            f"| {r.subset} | {truth} | {lines} | {_pct(hand, lines)} | "
            f"{_pct(right, lines) if right is not None else '(not counted)'} | {confidence:.3f} |"
        )
        if truth in sides and right is not None:
            sides[truth][0] += right
            sides[truth][1] += lines
    rows.append("")
    rows.append("| side | lines | right |")
    rows.append("| --- | --- | --- |")
    for side, (right, lines) in sides.items():
        rows.append(f"| {side} | {lines} | {_pct(right, lines)} |")
    per_line = [t for r in results for t in r.ms_per_line]
    per_page = [t for r in results for t in r.ms_per_page]
    if per_line:
        rows.append("")
        rows.append(
            f"classifier cost (crop features + perceptron, one thread): median "
            f"{statistics.median(per_line):.2f} ms per line, median "
            f"{statistics.median(per_page):.1f} ms per page, max {max(per_page):.1f} ms per page "
            f"({len(per_page)} pages)"
        )
    reads = [t for r in results for t in r.read_ms_per_page]
    if reads:
        rows.append(
            f"whole reads of the same pages: median {statistics.median(reads):.0f} ms per page; "
            f"the classifier is {sum(per_page) / sum(reads):.1%} of the total read time"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Accuracy of the handwriting style per line.")
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--crops", choices=("engine", "gt"), default="engine")
    parser.add_argument("--subsets", default=",".join((*HAND, *PRINT, *APART)))
    parser.add_argument("--limit", type=int, default=None, help="images per subset at most")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="with --crops gt: a model file to judge instead of the shipped one (a candidate "
        "written by train/style.py --out DIR)",
    )
    args = parser.parse_args(argv)
    if not (args.data / "README.md").is_file():
        print(f"no eval data at {args.data}", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    # relaxed limits, as bench.accuracy: the one-line images are under 50 px high
    settings = openread.Settings(threads=args.threads, limits=openread.ImageLimits(relaxed=True))
    engine = openread.Engine(settings)
    if args.model is not None and args.crops != "gt":
        parser.error("--model needs --crops gt (the engine uses the shipped model)")
    model = style.StyleModel.load(args.model or resolve(STYLE_CLASSIFIER))
    results = []
    for name in args.subsets.split(","):
        pages = _pages(args.data, name, args.limit)
        results.append(judge(engine, model, name, pages, args.crops))
        print(f"{name}: {len(results[-1].probabilities)} lines", file=sys.stderr, flush=True)
    print(f"crops: {args.crops}")
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Handwriting reader benchmark: PP-OCRv6 small against openread's handwriting reader on the
ground-truth regions of the eval-data, side by side on the same crops.

    python -m bench.handwriting [--data DIR] [--subsets a,b] [--limit N] [--threads N]
                                [--widths 1.0,1.5] [--below 0.95]

Every ground-truth region that is not don't-care (the bounding box of its polygon; the
one-line images whole) is read by both recognisers with the service's decoding (lexicon
correction included), and classified by the style stage. Per subset: regions, characters,
CER of PP-OCRv6 small, of the handwriting reader, of the combination rules
``pipeline.handwriting`` can use (the handwriting reader on the regions the style stage calls
handwriting, taking its reading always or only when it is at least ``margin`` more
confident; the engine's rule also reads again only lines PP-OCRv6 small read below
``--below``, the pipeline's ``HandwritingOptions.below``), the share styled handwriting, the
share the engine reads again, and the reading time of both readers on the same crops (one
thread, interleaved). The eval-data is for evaluation only: nothing here feeds training
(``train/handwriting.py``).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openread.models import ModelStore
from openread.pipeline import handwriting, recognize, style
from openread.pipeline.decode import load_image
from openread.pipeline.orient import LineCrop
from openread.settings import ImageLimits

from .accuracy import default_data_dir
from .metrics import EditCounts
from .metrics import cer as cer_counts
from .style import _pages, gt_regions

SUBSETS = (
    "handwriting_fr",
    "handwriting_en",
    "sticky_note",
    "funsd",
    "sroie",
    "icdar15",
    "azure_printed",
    "lines_grek",
)
MARGINS = (-1.0, -0.05, 0.0, 0.05)


@dataclass(frozen=True, slots=True)
class Region:
    truth: str
    old: recognize.RecognizedLine
    new: recognize.RecognizedLine
    handwriting: bool


def _norm(text: str) -> str:
    return " ".join(text.split())


def read_subset(
    store: ModelStore,
    data: Path,
    name: str,
    limit: int | None,
    options: handwriting.HandwritingOptions | None = None,
) -> tuple[list[Region], float, float]:
    options = options or handwriting.HandwritingOptions()
    regions: list[Region] = []
    old_s = new_s = 0.0
    assert store.handwriting is not None
    assert store.style is not None
    for page in _pages(data, name, limit):
        pixels = load_image(page.image, ImageLimits(relaxed=True)).pixels
        found = gt_regions(page, pixels)
        crops = [crop for crop, _ in found]
        truths = [_norm(text) for _, text in found]
        if not crops:
            continue
        quad = np.zeros((4, 2), dtype=np.float32)
        line_crops = [LineCrop(quad, c, 0) for c in crops]
        started = time.perf_counter()
        old = recognize.recognize(store, line_crops)
        old_s += time.perf_counter() - started
        started = time.perf_counter()
        new = handwriting.read(store, line_crops, options)
        new_s += time.perf_counter() - started
        probabilities = style.probabilities(store.style, crops)
        for truth, o, n, p in zip(truths, old, new, probabilities, strict=True):
            regions.append(Region(truth, o, n, bool(p >= store.style.threshold)))
    return regions, old_s, new_s


def cer(pairs: Sequence[tuple[str, str]]) -> float:
    total = EditCounts()
    for predicted, truth in pairs:
        total = total + cer_counts(predicted, truth)
    return total.rate


def combined(regions: Sequence[Region], margin: float, below: float = 1.01) -> float:
    """CER when the reader's reading replaces the small one's on the regions styled
    handwriting that the small one read below ``below`` (the engine's rule at ``margin``)."""
    pairs = []
    for r in regions:
        take = (
            r.handwriting
            and r.old.confidence < below
            and recognize.kept(r.new)
            and r.new.confidence >= r.old.confidence + margin
        )
        pairs.append(((r.new if take else r.old).text, r.truth))
    return cer(pairs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.handwriting", description=__doc__)
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--subsets", default=",".join(SUBSETS))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--widths",
        default=",".join(f"{w:g}" for w in handwriting.HandwritingOptions().widths),
        help="widths the handwriting reader reads each crop at (the pipeline's default)",
    )
    parser.add_argument(
        "--below",
        type=float,
        default=handwriting.HandwritingOptions().below,
        help="lines PP-OCRv6 small read at least this confidently are not read again",
    )
    args = parser.parse_args(argv)
    options = handwriting.HandwritingOptions(
        widths=tuple(float(w) for w in args.widths.split(",")), below=args.below
    )
    store = ModelStore.load(args.threads, scripts=False)
    head = " | ".join(f"routed m={m:g}" if m > -1 else "routed, always" for m in MARGINS)
    print(
        f"| subset | regions | chars | CER small | CER handwriting reader | {head} "
        f"| engine rule (m=0, below {args.below:g}) | styled handwriting | read again "
        "| ms/region small | ms/region hw |"
    )
    print("|" + " --- |" * (11 + len(MARGINS) - 1))
    for name in args.subsets.split(","):
        regions, old_s, new_s = read_subset(store, args.data, name, args.limit, options)
        if not regions:
            continue
        n = len(regions)
        chars = sum(len(r.truth) for r in regions)
        rules = " | ".join(f"{combined(regions, m):.3f}" for m in MARGINS)
        routed = sum(r.handwriting for r in regions) / n
        again = sum(r.handwriting and r.old.confidence < args.below for r in regions) / n
        engine = combined(regions, options.margin, args.below)
        print(
            f"| {name} | {n} | {chars} | {cer([(r.old.text, r.truth) for r in regions]):.3f} | "
            f"{cer([(r.new.text, r.truth) for r in regions]):.3f} | {rules} | {engine:.3f} | "
            f"{routed:.2f} | {again:.2f} | "
            f"{old_s * 1000 / n:.1f} | {new_s * 1000 / n:.1f} |",
            flush=True,
        )
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

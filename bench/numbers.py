"""What ``pipeline/numbers.py`` rewrites, right and wrong, on every Latin subset.

    python -m bench.numbers [--data DIR] [--subsets sroie,icdar15,...] [--limit N] [--json OUT]

Reads every image twice with the same models, numbers off and on, and compares the lines (the
rules change characters only, so the lines pair up in order). Each changed line is a rewrite,
judged against the page's ground-truth bag of words (tokens case-folded, outer punctuation
stripped, as ``bench.metrics.bag_of_words``): *right* when more of the line's tokens are in the
GT bag after than before, *wrong* when fewer, *neutral* otherwise. Then page CER and BoW F1 of
both runs per subset (line and page GT; the word subsets' GT words make the bag).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .accuracy import GtPage, default_data_dir, load_subset
from .metrics import EditCounts, MatchCounts, bag_of_words, bow_counts, cer

LATIN = ("sroie", "icdar15", "funsd", "azure_docs", "handwriting_fr", "handwriting_en")


def _gt_text(page: GtPage) -> str:
    if page.page_text is not None:
        return page.page_text
    return " ".join(item.text for item in page.items if not item.ignore)


def judge(before: str, after: str, gt: Counter[str]) -> str:
    """right / wrong / neutral: whether the rewrite put more of the line's tokens in the GT."""
    old = sum((bag_of_words(before) & gt).values())
    new = sum((bag_of_words(after) & gt).values())
    return "right" if new > old else "wrong" if new < old else "neutral"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.numbers", description=__doc__)
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--subsets", default=",".join(LATIN))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import openread

    base = openread.Settings(
        threads=args.threads, limits=openread.ImageLimits(relaxed=True), numbers=False
    )
    off = openread.Engine.load(base)
    on = openread.Engine(dataclasses.replace(base, numbers=True), models=off.models)
    rows: list[dict[str, Any]] = []
    print(
        "| subset | images | rewrites | right | wrong | neutral | CER off | CER on "
        "| BoW F1 off | BoW F1 on |"
    )
    print("|" + " --- |" * 10)
    for subset in [s.strip() for s in args.subsets.split(",") if s.strip()]:
        pages = load_subset(args.data, subset, args.limit)
        verdicts: Counter[str] = Counter()
        cer_off, cer_on = EditCounts(), EditCounts()
        bow_off, bow_on = MatchCounts(), MatchCounts()
        examples = []
        for page in pages:
            data = page.image.read_bytes()
            a, b = off.read(data), on.read(data)
            gt_text = _gt_text(page)
            gt = bag_of_words(gt_text)
            text_a = "\n".join(line.text for line in a.lines)
            text_b = "\n".join(line.text for line in b.lines)
            if page.page_text is not None:
                cer_off += cer(text_a, page.page_text)
                cer_on += cer(text_b, page.page_text)
            bow_off += bow_counts(text_a, gt_text)
            bow_on += bow_counts(text_b, gt_text)
            for la, lb in zip(a.lines, b.lines, strict=False):
                if la.text != lb.text:
                    verdict = judge(la.text, lb.text, gt)
                    verdicts[verdict] += 1
                    examples.append(
                        {
                            "image": page.image.name,
                            "before": la.text,
                            "after": lb.text,
                            "verdict": verdict,
                        }
                    )
            print(f"{subset} {page.image.name}", file=sys.stderr)
        row = {
            "subset": subset,
            "images": len(pages),
            "rewrites": sum(verdicts.values()),
            **{k: verdicts[k] for k in ("right", "wrong", "neutral")},
            "cer_off": cer_off.rate if cer_off.reference else None,
            "cer_on": cer_on.rate if cer_on.reference else None,
            "bow_off": bow_off.hmean,
            "bow_on": bow_on.hmean,
            "examples": examples,
        }
        rows.append(row)

        def fmt(v: float | None) -> str:
            return "–" if v is None else f"{v:.3f}"

        print(
            f"| {subset} | {len(pages)} | {row['rewrites']} | {row['right']} | {row['wrong']} "
            f"| {row['neutral']} | {fmt(row['cer_off'])} | {fmt(row['cer_on'])} "
            f"| {fmt(row['bow_off'])} | {fmt(row['bow_on'])} |",
            flush=True,
        )
    for row in rows:
        for ex in row["examples"]:
            if ex["verdict"] != "right":
                print(f"{row['subset']} {ex['verdict']}: {ex['before']!r} -> {ex['after']!r}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Accuracy benchmark: every engine on every image of the eval-data subsets, side by side.

    python -m bench.accuracy [--data DIR] [--subsets a,b] [--engines openread,rapidocr,tesseract]
                             [--limit N] [--threads N] [--json OUT] [--sample]

Prints one markdown table (rows = subset x engine) and writes the full results, per image too,
as JSON. See bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .engines import ENGINE_NAMES, KNOWN_ENGINES, Engine, PageHint, Prediction, make_engine
from .metrics import (
    CAL_BINS,
    Calibration,
    DetectionScore,
    EditCounts,
    MatchCounts,
    Polygon,
    Region,
    bow_counts,
    calibration,
    cer,
    drop_dont_care,
    exact_word_hits,
    score_regions,
    wer,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SUBSETS = (
    "icdar15",
    "funsd",
    "sroie",
    "handwriting_fr",
    "handwriting_en",
    "azure_docs",
    "lines_arab",
    "lines_cyrl",
    "lines_grek",
    "scene_deva",
)
STICKY_SUBSET = "azure_docs"
SAMPLE_SIZE = 3
DASH = "–"


@dataclass(frozen=True, slots=True)
class GtPage:
    """One image and its ground truth, as read from ``gt.jsonl``."""

    subset: str
    image: Path
    granularity: str
    language: str
    items: tuple[Region, ...]
    page_text: str | None

    @property
    def hint(self) -> PageHint:
        return PageHint(language=self.language, single_line=self.subset.startswith("lines_"))


@dataclass(frozen=True, slots=True)
class PageScore:
    """Counts of one engine on one image; ``None`` = the GT does not support that metric."""

    regions: DetectionScore | None
    cer: EditCounts | None
    wer: EditCounts | None
    bow: MatchCounts
    sticky: MatchCounts | None
    calibration: Calibration | None = None
    held_out: Calibration | None = None
    """The same words' calibration with their held-out confidences (``PredWord.held_out``)."""


@dataclass(frozen=True, slots=True)
class ImageRecord:
    subset: str
    image: str
    engine: str
    prediction: Prediction
    score: PageScore
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SubsetSummary:
    subset: str
    engine: str
    unit: str | None
    regions: DetectionScore | None
    cer: EditCounts | None
    wer: EditCounts | None
    bow: MatchCounts
    sticky: MatchCounts | None
    calibration: Calibration | None
    calibration_halves: tuple[Calibration | None, Calibration | None]
    """The ECE counts of the fit and the check half (see ``calibration_half``)."""
    held_out: Calibration | None
    """The ECE counts with every word's held-out confidence (k-fold; openread only)."""
    latencies_ms: tuple[float, ...]
    images: int
    errors: int
    records: tuple[ImageRecord, ...]


# --- data ------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    return Path(os.environ.get("OPENREAD_EVAL_DATA", REPO.parent / "shared" / "eval-data"))


def _polygon(points: Sequence[Sequence[float]]) -> Polygon:
    return tuple((float(p[0]), float(p[1])) for p in points)


def _gt_page(subset: str, root: Path, row: dict[str, Any]) -> GtPage:
    items = tuple(
        Region(_polygon(item["polygon"]), str(item.get("text", "")), bool(item.get("ignore")))
        for item in row.get("items", [])
    )
    return GtPage(
        subset=subset,
        image=root / row["image"],
        granularity=str(row["granularity"]),
        language=str(row.get("language", "en")),
        items=items,
        page_text=row.get("page_text"),
    )


def load_subset(data: Path, subset: str, limit: int | None = None) -> list[GtPage]:
    """The subset's pages in ``gt.jsonl`` order, the first ``limit`` only if given."""
    root = data / subset
    with (root / "gt.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    pages = [_gt_page(subset, root, row) for row in rows]
    return pages[:limit] if limit is not None else pages


def available_subsets(data: Path) -> list[str]:
    """The known subsets present in ``data`` in the standard order, then any others by name."""
    present = sorted(p.parent.name for p in data.glob("*/gt.jsonl"))
    known = [s for s in DEFAULT_SUBSETS if s in present]
    return known + [s for s in present if s not in DEFAULT_SUBSETS]


# --- scoring ---------------------------------------------------------------------------------


def _unit_regions(page: GtPage, prediction: Prediction) -> list[Region] | None:
    if page.granularity == "word":
        return [Region(w.polygon, w.text, confidence=w.confidence) for w in prediction.words]
    if page.granularity == "line":
        return [Region(line.polygon, line.text) for line in prediction.lines]
    return None


def _gt_bow_text(page: GtPage) -> str:
    if page.page_text is not None:
        return page.page_text
    return " ".join(item.text for item in page.items if not item.ignore)


def _pred_bow_text(page: GtPage, prediction: Prediction) -> str:
    """The predicted lines' text, without the lines that fall in a don't-care region (lines, not
    words: tokens must not depend on how an engine cuts words)."""
    lines = [Region(line.polygon, line.text) for line in prediction.lines]
    return "\n".join(line.text for line in drop_dont_care(lines, page.items))


def _sticky(page: GtPage, prediction: Prediction) -> MatchCounts | None:
    if page.subset != STICKY_SUBSET or page.granularity != "word":
        return None
    pred = [w.text for w in prediction.words]
    gt = [item.text for item in page.items if not item.ignore]
    return MatchCounts(exact_word_hits(pred, gt), len(pred), len(gt))


def score_page(page: GtPage, prediction: Prediction) -> PageScore:
    """All metrics of one engine's prediction on one page."""
    units = _unit_regions(page, prediction)
    regions = score_regions(units, page.items) if units is not None and page.items else None
    text = prediction.page_text
    return PageScore(
        regions=regions,
        cer=cer(text, page.page_text) if page.page_text is not None else None,
        wer=wer(text, page.page_text) if page.page_text is not None else None,
        bow=bow_counts(_pred_bow_text(page, prediction), _gt_bow_text(page)),
        sticky=_sticky(page, prediction),
        calibration=(
            calibration(units, page.items)
            if units is not None and page.items and page.granularity == "word"
            else None
        ),
        held_out=_held_out(page, prediction),
    )


def _held_out(page: GtPage, prediction: Prediction) -> Calibration | None:
    words = prediction.words
    if page.granularity != "word" or not page.items or not words:
        return None
    if any(w.held_out is None for w in words):
        return None
    units = [Region(w.polygon, w.text, confidence=w.held_out) for w in words]
    return calibration(units, page.items)


Summable = TypeVar("Summable", DetectionScore, EditCounts, MatchCounts, Calibration)


def _sum_optional(values: Iterable[Summable | None]) -> Summable | None:
    total: Summable | None = None
    for value in values:
        if value is not None:
            total = value if total is None else total + value
    return total


def _unit(pages: Sequence[GtPage]) -> str | None:
    units = {p.granularity for p in pages if p.items and p.granularity in ("word", "line")}
    return "/".join(sorted(units)) if units else None


def calibration_half(names: Sequence[str]) -> dict[str, bool]:
    """Image name -> whether it is in the half openread's confidence map was fitted on (the
    images sorted by name, even positions; ``bench/calibrate.py`` splits the same way)."""
    return {name: k % 2 == 0 for k, name in enumerate(sorted(names))}


def summarise(pages: Sequence[GtPage], records: Sequence[ImageRecord]) -> SubsetSummary:
    """Totals of one engine over one subset (counts summed over images, then divided)."""
    ok = [r for r in records if r.error is None]
    fit = calibration_half([r.image for r in records])
    return SubsetSummary(
        subset=records[0].subset,
        engine=records[0].engine,
        unit=_unit(pages),
        regions=_sum_optional(r.score.regions for r in records),
        cer=_sum_optional(r.score.cer for r in records),
        wer=_sum_optional(r.score.wer for r in records),
        bow=_sum_optional(r.score.bow for r in records) or MatchCounts(),
        sticky=_sum_optional(r.score.sticky for r in records),
        calibration=_sum_optional(r.score.calibration for r in records),
        calibration_halves=(
            _sum_optional(r.score.calibration for r in records if fit[r.image]),
            _sum_optional(r.score.calibration for r in records if not fit[r.image]),
        ),
        held_out=_sum_optional(r.score.held_out for r in records),
        latencies_ms=tuple(r.prediction.seconds * 1000.0 for r in ok),
        images=len(records),
        errors=len(records) - len(ok),
        records=tuple(records),
    )


# --- running ---------------------------------------------------------------------------------


def run_one(engine: Engine, page: GtPage) -> ImageRecord:
    """Run one engine on one page and score it; an engine error scores as an empty result."""
    error = None
    try:
        prediction = engine.run(page.image, hint=page.hint)
    except Exception as exc:  # an engine failure must not stop the other engines
        prediction, error = Prediction((), (), 0.0), f"{type(exc).__name__}: {exc}"
    return ImageRecord(
        page.subset, page.image.name, engine.name, prediction, score_page(page, prediction), error
    )


def warm_up(engines: Sequence[Engine], page: GtPage) -> None:
    """One uncounted run per engine (loads lazy models, fills caches)."""
    for engine in engines:
        engine.run(page.image, hint=page.hint)


def run_subset(engines: Sequence[Engine], pages: Sequence[GtPage]) -> list[SubsetSummary]:
    """Every engine on every page (engines side by side per image), summarised per engine."""
    per_engine: dict[str, list[ImageRecord]] = {e.name: [] for e in engines}
    for k, page in enumerate(pages):
        # the engines take turns going first, so that neither always pays for a cold cache
        for engine in engines if k % 2 == 0 else list(reversed(engines)):
            per_engine[engine.name].append(run_one(engine, page))
    return [summarise(pages, recs) for recs in per_engine.values() if recs]


# --- output ----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return DASH if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _latency(values: Sequence[float]) -> tuple[str, str]:
    median = statistics.median(values) if values else None
    return _fmt(median, 0), _fmt(_percentile(values, 95), 0)


def table_row(s: SubsetSummary) -> list[str]:
    r = s.regions
    sticky = f"{s.sticky.matched}/{s.sticky.expected}" if s.sticky else DASH
    images = str(s.images) + (f" ({s.errors} err)" if s.errors else "")
    return [
        s.subset,
        s.engine,
        s.unit or DASH,
        _fmt(r.det.precision if r else None),
        _fmt(r.det.recall if r else None),
        _fmt(r.det.hmean if r else None),
        _fmt(r.e2e.precision if r else None),
        _fmt(r.e2e.recall if r else None),
        _fmt(r.e2e.hmean if r else None),
        _fmt(r.e2e_exact.hmean if r else None),
        _fmt(s.cer.rate if s.cer else None),
        _fmt(s.wer.rate if s.wer else None),
        _fmt(s.bow.hmean),
        sticky,
        _fmt(s.calibration.ece if s.calibration else None),
        *_latency(s.latencies_ms),
        images,
    ]


TABLE_HEADER = (
    "subset",
    "engine",
    "unit",
    "det P",
    "det R",
    "det H",
    "e2e P",
    "e2e R",
    "e2e H",
    "e2eX H",
    "CER",
    "WER",
    "BoW F1",
    "sticky",
    "ECE",
    "ms med",
    "ms p95",
    "images",
)

TABLE_NOTE = (
    "unit = GT unit that det/e2e are scored on (line: predicted lines vs GT lines); "
    f"{DASH} = not supported by the subset's GT; sticky = exact GT words of the Azure "
    "sticky note found among the predicted words; ECE = expected calibration error of the "
    "word confidences (word GT only; 0 = a word's confidence is the chance it is right); "
    "latency = bytes in to result out."
)


def render_table(summaries: Sequence[SubsetSummary]) -> str:
    """The markdown table, one row per subset x engine, and a one-line legend; then the ECE
    of each half of the word subsets."""
    rows = [TABLE_HEADER, tuple("---" for _ in TABLE_HEADER)]
    rows += [tuple(table_row(s)) for s in summaries]
    body = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    return body + "\n\n" + TABLE_NOTE + _halves_table(summaries)


def _halves_table(summaries: Sequence[SubsetSummary]) -> str:
    rows = [
        (s, fit, check)
        for s in summaries
        for fit, check in [s.calibration_halves]
        if fit is not None or check is not None
    ]
    if not rows:
        return ""
    lines = [
        "| subset | engine | words fit / check | ECE fit half | ECE check half "
        "| ECE held out (k-fold) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s, fit, check in rows:
        words = f"{fit.total if fit else 0} / {check.total if check else 0}"
        lines.append(
            f"| {s.subset} | {s.engine} | {words} | {_fmt(fit.ece if fit else None)} "
            f"| {_fmt(check.ece if check else None)} "
            f"| {_fmt(s.held_out.ece if s.held_out else None)} |"
        )
    return "\n\n" + "\n".join(lines) + "\n\n" + HALVES_NOTE


HALVES_NOTE = (
    "ECE by half (images sorted by name, even positions / odd positions): openread's shipped "
    "confidence map was fitted on every image of icdar15 and funsd, so both halves are in-sample "
    "for it there. Held out: each word scored by the map of the same features fitted without "
    "its image (bench/results/calibration_folds.json, k folds by image, from bench.calibrate "
    "--write)."
)


def _counts_json(m: MatchCounts | None) -> dict[str, float] | None:
    if m is None:
        return None
    return {
        "matched": m.matched,
        "predicted": m.predicted,
        "expected": m.expected,
        "precision": m.precision,
        "recall": m.recall,
        "hmean": m.hmean,
    }


def _edits_json(e: EditCounts | None) -> dict[str, float] | None:
    return None if e is None else {"edits": e.edits, "reference": e.reference, "rate": e.rate}


def _calibration_json(c: Calibration | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "ece": None if math.isnan(c.ece) else c.ece,
        "bins": CAL_BINS,
        "words": list(c.words),
        "confidence": list(c.confidence),
        "right": list(c.right),
    }


def score_json(score: PageScore | SubsetSummary) -> dict[str, Any]:
    r = score.regions
    return {
        "det": _counts_json(r.det if r else None),
        "e2e": _counts_json(r.e2e if r else None),
        "e2e_exact": _counts_json(r.e2e_exact if r else None),
        "cer": _edits_json(score.cer),
        "wer": _edits_json(score.wer),
        "bow": _counts_json(score.bow),
        "sticky": _counts_json(score.sticky),
        "calibration": _calibration_json(score.calibration),
    }


def _halves_json(s: SubsetSummary) -> dict[str, Any]:
    fit, check = s.calibration_halves
    return {"fit": _calibration_json(fit), "check": _calibration_json(check)}


def record_json(record: ImageRecord) -> dict[str, Any]:
    return {
        "image": record.image,
        "seconds": record.prediction.seconds,
        "error": record.error,
        "lines": len(record.prediction.lines),
        "words": len(record.prediction.words),
        "text": record.prediction.page_text,
        **score_json(record.score),
    }


def summary_json(s: SubsetSummary) -> dict[str, Any]:
    return {
        "subset": s.subset,
        "engine": s.engine,
        "unit": s.unit,
        **score_json(s),
        "calibration_halves": _halves_json(s),
        "calibration_held_out": _calibration_json(s.held_out),
        "latency_ms": {
            "median": statistics.median(s.latencies_ms) if s.latencies_ms else None,
            "p95": _percentile(s.latencies_ms, 95),
        },
        "images": s.images,
        "errors": s.errors,
        "per_image": [record_json(r) for r in s.records],
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _meta(args: argparse.Namespace, subsets: Sequence[str]) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": str(args.data),
        "subsets": list(subsets),
        "engines": args.engines,
        "threads": args.threads,
        "limit": args.limit,
        "versions": {p: _version(p) for p in ("openread", "rapidocr", "onnxruntime", "tesserocr")},
        "note": TABLE_NOTE,
    }


# --- command line ----------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__)
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="eval-data dir")
    parser.add_argument("--subsets", type=_csv, default=None, help="comma-separated subsets")
    parser.add_argument("--engines", type=_csv, default=list(ENGINE_NAMES))
    parser.add_argument("--limit", type=int, default=None, help="first N images per subset")
    parser.add_argument("--threads", type=int, default=2, help="threads of every engine")
    parser.add_argument("--json", type=Path, default=None, help="results file")
    parser.add_argument(
        "--sample", action="store_true", help=f"first {SAMPLE_SIZE} images of each subset"
    )
    args = parser.parse_args(argv)
    if args.sample and args.limit is None:
        args.limit = SAMPLE_SIZE
    if args.json is None:
        args.json = REPO / "bench" / "results" / f"accuracy-{dt.date.today().isoformat()}.json"
    unknown = [e for e in args.engines if e not in KNOWN_ENGINES]
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {', '.join(KNOWN_ENGINES)}")
    return args


def log(message: str) -> None:
    """Progress and problems go to stderr (the table is stdout)."""
    print(message, file=sys.stderr, flush=True)


def has_eval_data(data: Path) -> bool:
    """Whether ``data`` is an eval-data directory; says how to point at one if not."""
    if (data / "README.md").is_file():
        return True
    log(f"eval data not found at {data} (use --data or OPENREAD_EVAL_DATA)")
    return False


def write_results(path: Path, payload: dict[str, Any]) -> None:
    """Write a benchmark's JSON results (creating the directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", "utf-8")
    log(f"results written to {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not has_eval_data(args.data):
        return 2
    subsets = args.subsets or available_subsets(args.data)
    pages = {s: load_subset(args.data, s, args.limit) for s in subsets}
    engines = [make_engine(name, args.threads) for name in args.engines]
    first = next((p[0] for p in pages.values() if p), None)
    if first is not None:
        warm_up(engines, first)
    summaries: list[SubsetSummary] = []
    for subset in subsets:
        log(f"{subset}: {len(pages[subset])} images x {len(engines)} engines")
        summaries += run_subset(engines, pages[subset])
    print(render_table(summaries))
    payload = {"meta": _meta(args, subsets), "results": [summary_json(s) for s in summaries]}
    write_results(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

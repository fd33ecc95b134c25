"""Fit openread's word-confidence map (``src/openread/pipeline/calibration_map.py``).

    python -m bench.calibrate [--data DIR] [--subsets icdar15,funsd] [--samples FILE]
                              [--reuse] [--write]

1. Reads every image of the word-GT subsets with openread, calibration off (``calibrate=False``:
   the raw confidences), and labels each predicted word right or wrong as ``bench.accuracy``'s
   ECE does (an end-to-end match: IoU >= 0.5 with a cared GT word, texts agreeing loosely; words
   in don't-care regions are left out). The features of ``openread.pipeline.calibrate`` and the
   labels (no texts) go to ``--samples`` (``--reuse`` reads them back instead of reading again).
2. Splits each subset in two fixed halves by image: the images sorted by file name, the even
   positions (0, 2, 4, ...) are the *fit* half, the odd ones the *check* half.
3. Fits a logistic map (L2-regularised, Newton's method) on the fit half of all subsets together,
   each word weighted so that every subset weighs the same in total (icdar15 has few words per
   image, FUNSD many), and prints the ECE (10 bins, as ``bench.accuracy``) of the raw and the
   calibrated confidences per subset and half.
4. ``--write`` writes the map, and what it was fitted on, to ``calibration_map.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .accuracy import REPO, calibration_half, default_data_dir, load_subset
from .metrics import CAL_BINS, Region, drop_dont_care, match_regions, texts_agree

if TYPE_CHECKING:
    import openread
    from openread import ReadResult

MAP_FILE = REPO / "src" / "openread" / "pipeline" / "calibration_map.py"
DEFAULT_SUBSETS = ("icdar15", "funsd")
L2 = 1.0
"""Ridge penalty on the weights (not the bias), in units of one word's log-likelihood."""


@dataclass(frozen=True, slots=True)
class Sample:
    subset: str
    image: str
    fit: bool
    features: tuple[float, ...]
    raw: float
    right: bool
    text: str = ""
    """The word read (kept in the samples file for looking at errors; not used to fit)."""


def _cjk(sample: Sample) -> bool:
    """A word with a CJK character: the dev set has no ground truth for CJK text (icdar15's
    annotators left most of its Chinese and Japanese signs unannotated, not even ``###``, so
    every reading of them counts as wrong). They are reported apart, and left out of the fit
    unless the map has the feature that marks them (``cjk_minority``)."""
    from openread.pipeline.words import is_cjk

    return any(is_cjk(ch) for ch in sample.text)


def labelled_words(result: ReadResult, items: Sequence[Region]) -> list[tuple[int, bool]]:
    """``(index into result.words, right)`` for each word of ``result`` that is
    not don't-care against the ground-truth ``items``, in order; right = an end-to-end match
    (as bench.metrics scores it)."""
    words = [
        Region(tuple((float(p.x), float(p.y)) for p in w.polygon), w.text, confidence=k)
        for k, w in enumerate(result.words)
    ]
    kept = drop_dont_care(words, items)
    pairs = match_regions(kept, [g for g in items if not g.ignore])
    right = {int(p.confidence or 0) for p, g in pairs if texts_agree(p.text, g.text)}
    return [(int(region.confidence or 0), int(region.confidence or 0) in right) for region in kept]


def collect(data: Path, subsets: Sequence[str], threads: int) -> list[Sample]:
    """Every predicted word of every image of ``subsets`` (raw confidences), labelled."""
    import openread

    settings = openread.Settings(
        threads=threads, limits=openread.ImageLimits(relaxed=True), calibrate=False
    )
    engine = openread.Engine.load(settings)
    return [s for subset in subsets for s in subset_samples(engine, data, subset, log=True)]


def subset_samples(
    engine: openread.Engine, data: Path, subset: str, *, log: bool = False
) -> list[Sample]:
    """The labelled words of every word-GT image of ``subset``, read by ``engine`` (whose
    settings must have calibration off: the raw confidences)."""
    from openread.pipeline.calibrate import FEATURES, word_features

    if engine.settings.calibrate:
        raise ValueError("the engine must read raw confidences (calibrate=False)")
    pages = [p for p in load_subset(data, subset) if p.granularity == "word" and p.items]
    halves = calibration_half([p.image.name for p in pages])
    samples: list[Sample] = []
    for page in pages:
        result = engine.read(page.image.read_bytes())
        rows = word_features(result, engine.models.lexicon, FEATURES)
        labelled = labelled_words(result, page.items)
        for k, right in labelled:
            word = result.words[k]
            samples.append(
                Sample(
                    subset,
                    page.image.name,
                    halves[page.image.name],
                    tuple(rows[k]),
                    word.confidence,
                    right,
                    word.text,
                )
            )
        if log:
            print(f"{subset} {page.image.name}: {len(labelled)} words", file=sys.stderr)
    return samples


def ece(confidence: npt.NDArray[np.float64], right: npt.NDArray[np.float64]) -> float:
    """Expected calibration error over ``CAL_BINS`` equal-width bins (as bench.metrics)."""
    if not len(confidence):
        return math.nan
    bins = np.minimum(CAL_BINS - 1, (confidence * CAL_BINS).astype(int))
    gap = 0.0
    for b in range(CAL_BINS):
        mask = bins == b
        gap += abs(float(confidence[mask].sum()) - float(right[mask].sum()))
    return gap / len(confidence)


def ece_floor(confidence: npt.NDArray[np.float64], draws: int = 200) -> float:
    """The ECE a perfectly calibrated map would still show on these words by chance: the mean
    ECE when each word is right with exactly its confidence (``draws`` simulations, fixed seed).
    With a few hundred words this is 0.03-0.06, so an ECE near it is as good as can be shown."""
    rng = np.random.default_rng(0)
    values = [
        ece(confidence, (rng.random(len(confidence)) < confidence).astype(np.float64))
        for _ in range(draws)
    ]
    return float(np.mean(values))


def fit_logistic(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], weight: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], float]:
    """Weighted L2-regularised logistic regression by Newton's method: (weights, bias)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], L2)
    penalty[-1] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (weight * (p - y)) + penalty * beta
        hessian = (design * (weight * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return beta[:-1], float(beta[-1])


def _arrays(
    samples: Sequence[Sample], columns: Sequence[int]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x = np.array([[s.features[c] for c in columns] for s in samples], dtype=np.float64)
    y = np.array([float(s.right) for s in samples])
    return x.reshape(len(samples), len(columns)), y


def report(
    samples: Sequence[Sample], names: Sequence[str], weights: Sequence[float], bias: float
) -> list[dict[str, Any]]:
    """ECE of raw and calibrated confidences per subset and half."""
    from openread.pipeline.calibrate import FEATURES, LogisticMap

    mapping = LogisticMap(tuple(names), tuple(weights), bias)
    columns = [FEATURES.index(n) for n in names]
    rows = []
    for subset in sorted({s.subset for s in samples}):
        for half in (True, False):
            part = [s for s in samples if s.subset == subset and s.fit == half]
            if not part:
                continue
            y = np.array([float(s.right) for s in part])
            raw = np.array([s.raw for s in part])
            cal = np.array(
                [round(mapping.probability([s.features[c] for c in columns]), 3) for s in part]
            )
            latin = np.array([not _cjk(s) for s in part])
            rows.append(
                {
                    "subset": subset,
                    "half": "fit" if half else "check",
                    "images": len({s.image for s in part}),
                    "words": len(part),
                    "right": float(y.mean()),
                    "mean_raw": float(raw.mean()),
                    "mean_calibrated": float(cal.mean()),
                    "ece_raw": ece(raw, y),
                    "ece_calibrated": ece(cal, y),
                    "cjk_words": int((~latin).sum()),
                    "ece_raw_no_cjk": ece(raw[latin], y[latin]),
                    "ece_calibrated_no_cjk": ece(cal[latin], y[latin]),
                    "ece_floor_no_cjk": ece_floor(cal[latin]),
                }
            )
    return rows


def render(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "| subset | half | images | words | right | mean raw | mean cal | ECE raw | ECE cal "
        "| CJK words | ECE raw, no CJK | ECE cal, no CJK | chance floor |"
    )
    lines = [head, "|" + " --- |" * 13]
    for r in rows:
        lines.append(
            f"| {r['subset']} | {r['half']} | {r['images']} | {r['words']} | {r['right']:.3f} "
            f"| {r['mean_raw']:.3f} | {r['mean_calibrated']:.3f} | {r['ece_raw']:.3f} "
            f"| {r['ece_calibrated']:.3f} | {r['cjk_words']} | {r['ece_raw_no_cjk']:.3f} "
            f"| {r['ece_calibrated_no_cjk']:.3f} | {r['ece_floor_no_cjk']:.3f} |"
        )
    return "\n".join(lines)


def _fitted(samples: Sequence[Sample], names: Sequence[str]) -> list[Sample]:
    """The samples a map over ``names`` is fitted on: the fit half, without its CJK words
    unless the map can tell them apart (``cjk_minority``)."""
    cjk = "cjk_minority" in names
    return [s for s in samples if s.fit and (cjk or not _cjk(s))]


def fit(samples: Sequence[Sample], names: Sequence[str]) -> tuple[npt.NDArray[np.float64], float]:
    """The map over features ``names`` fitted on the fit half, subsets weighted equally."""
    from openread.pipeline.calibrate import FEATURES

    columns = [FEATURES.index(n) for n in names]
    train = _fitted(samples, names)
    x, y = _arrays(train, columns)
    counts = {sub: sum(s.subset == sub for s in train) for sub in {s.subset for s in train}}
    mean = len(train) / len(counts)
    weight = np.array([mean / counts[s.subset] for s in train])
    return fit_logistic(x, y, weight)


FOLDS = 5
"""Folds of the cross-fitted (held-out) check: every word is scored by a map fitted without
its image (``python -m bench.calibrate --folds``)."""
FOLDS_FILE = REPO / "bench" / "results" / "calibration_folds.json"
"""The fold maps ``bench.accuracy`` applies to score openread's held-out ECE."""


def fold_of(names: Sequence[str], folds: int) -> dict[str, int]:
    """Image name -> its fold: the images sorted by name, position modulo ``folds`` (with 2
    folds, fold 0 is the fit half of ``calibration_half``)."""
    return {name: k % folds for k, name in enumerate(sorted(names))}


def sample_folds(samples: Sequence[Sample], folds: int) -> list[int]:
    """The fold of each sample (per subset, by image)."""
    by_subset = {
        sub: fold_of(sorted({s.image for s in samples if s.subset == sub}), folds)
        for sub in {s.subset for s in samples}
    }
    return [by_subset[s.subset][s.image] for s in samples]


def cross_fit(
    samples: Sequence[Sample], names: Sequence[str], folds: int
) -> tuple[list[tuple[npt.NDArray[np.float64], float]], list[float]]:
    """One map per fold, fitted on the other folds' words (all of them, both halves), and each
    sample's held-out probability from its fold's map."""
    from openread.pipeline.calibrate import FEATURES, LogisticMap

    assignment = sample_folds(samples, folds)
    columns = [FEATURES.index(n) for n in names]
    maps = []
    held = [math.nan] * len(samples)
    for fold in range(folds):
        train = [
            dataclasses.replace(s, fit=a != fold) for s, a in zip(samples, assignment, strict=True)
        ]
        weights, bias = fit(train, names)
        maps.append((weights, bias))
        mapping = LogisticMap(tuple(names), tuple(float(w) for w in weights), bias)
        for k, (s, a) in enumerate(zip(samples, assignment, strict=True)):
            if a == fold:
                held[k] = round(mapping.probability([s.features[c] for c in columns]), 3)
    return maps, held


def cross_rows(samples: Sequence[Sample], held: Sequence[float]) -> list[dict[str, Any]]:
    """The held-out ECE per subset (every word, each scored by the map not fitted on it)."""
    rows = []
    for subset in sorted({s.subset for s in samples}):
        index = [k for k, s in enumerate(samples) if s.subset == subset]
        y = np.array([float(samples[k].right) for k in index])
        raw = np.array([samples[k].raw for k in index])
        cal = np.array([held[k] for k in index])
        latin = np.array([not _cjk(samples[k]) for k in index])
        rows.append(
            {
                "subset": subset,
                "images": len({samples[k].image for k in index}),
                "words": len(index),
                "right": float(y.mean()),
                "mean": float(cal.mean()),
                "ece_raw": ece(raw, y),
                "ece_held_out": ece(cal, y),
                "floor": ece_floor(cal),
                "ece_held_out_no_cjk": ece(cal[latin], y[latin]),
            }
        )
    return rows


def cross_report(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| subset | images | words | right | mean held-out conf | ECE raw | ECE held out "
        "| chance floor | ECE held out, no CJK |",
        "|" + " --- |" * 9,
    ]
    for r in rows:
        lines.append(
            f"| {r['subset']} | {r['images']} | {r['words']} | {r['right']:.3f} "
            f"| {r['mean']:.3f} | {r['ece_raw']:.3f} | {r['ece_held_out']:.3f} "
            f"| {r['floor']:.3f} | {r['ece_held_out_no_cjk']:.3f} |"
        )
    return "\n".join(lines)


def cross_text(rows: Sequence[dict[str, Any]], folds: int) -> str:
    return "\n".join(
        f"    {r['subset']}: {r['images']} images, {r['words']} words ({folds}-fold by image), "
        f"ECE raw {r['ece_raw']:.3f} -> held out {r['ece_held_out']:.3f};\n"
        f"        chance floor {r['floor']:.3f}; without CJK words {r['ece_held_out_no_cjk']:.3f}"
        for r in rows
    )


def write_folds(
    names: Sequence[str],
    folds: int,
    maps: Sequence[tuple[npt.NDArray[np.float64], float]],
    samples: Sequence[Sample],
) -> None:
    """The fold maps and each image's fold, for ``bench.accuracy``'s held-out ECE."""
    assignment = sample_folds(samples, folds)
    images = {f"{s.subset}/{s.image}": a for s, a in zip(samples, assignment, strict=True)}
    payload = {
        "what": "bench.calibrate --folds: one word-confidence map per fold, each fitted without "
        "the images of its fold; bench.accuracy scores every image's words with its fold's map",
        "features": list(names),
        "folds": folds,
        "maps": [{"weights": [float(w) for w in m[0]], "bias": m[1]} for m in maps],
        "images": dict(sorted(images.items())),
    }
    FOLDS_FILE.write_text(json.dumps(payload, indent=1) + "\n", "utf-8")
    print(f"fold maps written to {FOLDS_FILE}", file=sys.stderr)


def write_map(
    names: Sequence[str],
    weights: Sequence[float],
    bias: float,
    samples: Sequence[Sample],
    rows: Sequence[dict[str, Any]],
    *,
    held_out: str = "",
) -> None:
    fitted = _fitted(samples, names)
    everything = all(s.fit for s in samples)
    which = "all words" if "cjk_minority" in names else "words without\nCJK characters"
    by_subset = sorted({s.subset for s in fitted})
    what = ", ".join(
        f"{sub} {len({s.image for s in fitted if s.subset == sub})} images / "
        f"{sum(s.subset == sub for s in fitted)} words"
        for sub in by_subset
    )
    table = "\n".join(
        f"    {r['subset']} {r['half']}: {r['words']} words, ECE raw {r['ece_raw']:.3f} -> "
        f"calibrated {r['ece_calibrated']:.3f};\n"
        f"        without its {r['cjk_words']} CJK words {r['ece_raw_no_cjk']:.3f} -> "
        f"{r['ece_calibrated_no_cjk']:.3f} (chance floor {r['ece_floor_no_cjk']:.3f})"
        for r in rows
    )
    text = (
        '"""The fitted word-confidence map (written by ``python -m bench.calibrate --write``;\n'
        "do not edit by hand). See ``calibrate.py`` for the features.\n\n"
        + (
            "Fitted on every image, "
            if everything
            else "Fitted on the fit half (even positions of the images sorted by name), "
        )
        + f"{which}, of:\n{what};\neach subset weighted equally, L2 penalty "
        f"{L2}.\nRight = end-to-end match (IoU >= 0.5, texts agree loosely).\n"
        + (
            "Expected calibration error (10 bins) held out, each word scored by the map of "
            "the same\nfeatures fitted without its image (bench/results/calibration_folds.json):"
            f"\n\n{held_out}\n\nand in-sample, by half, with this map:\n\n"
            if held_out
            else "Expected calibration error (10 bins) when it was written:\n\n"
        )
        + f"{table}\n"
        '"""\n\n'
        + _tuple("FEATURES: tuple[str, ...]", [json.dumps(n) for n in names])
        + _tuple("WEIGHTS: tuple[float, ...]", [repr(round(float(w), 6)) for w in weights])
        + f"BIAS: float = {round(bias, 6)!r}\n"
    )
    MAP_FILE.write_text(text, "utf-8")
    print(f"map written to {MAP_FILE}", file=sys.stderr)


def _tuple(target: str, items: Sequence[str]) -> str:
    """``target = (items...)`` as ruff formats it: on one line when it fits in 100 columns."""
    one = f"{target} = ({', '.join(items)})\n"
    if len(one) <= 101:
        return one
    return f"{target} = (\n" + "".join(f"    {item},\n" for item in items) + ")\n"


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__)
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--subsets", type=_csv, default=list(DEFAULT_SUBSETS))
    parser.add_argument("--samples", type=Path, default=Path("/tmp/openread-calibration.json"))
    parser.add_argument("--reuse", action="store_true", help="read --samples, do not read images")
    parser.add_argument("--features", type=_csv, default=None, help="features of the map")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write calibration_map.py")
    parser.add_argument("--swap", action="store_true", help="fit on the odd half (a cross-check)")
    parser.add_argument(
        "--all",
        action="store_true",
        help="fit the map on every image (both halves), as shipped; the held-out check is then "
        "the cross-fitted one (--folds)",
    )
    parser.add_argument(
        "--folds", type=int, default=FOLDS, help=f"folds of the held-out check (default {FOLDS})"
    )
    args = parser.parse_args(argv)
    from openread.pipeline import calibration_map

    if args.reuse:
        raw = json.loads(args.samples.read_text("utf-8"))
        samples = [Sample(**{**r, "features": tuple(r["features"])}) for r in raw]
    else:
        samples = collect(args.data, args.subsets, args.threads)
        payload = [
            {
                "subset": s.subset,
                "image": s.image,
                "fit": s.fit,
                "features": list(s.features),
                "raw": s.raw,
                "right": s.right,
                "text": s.text,
            }
            for s in samples
        ]
        args.samples.write_text(json.dumps(payload), "utf-8")
    if args.swap:
        samples = [dataclasses.replace(s, fit=not s.fit) for s in samples]
    names = args.features or list(calibration_map.FEATURES)
    maps, held = cross_fit(samples, names, args.folds)
    print(f"held out, {args.folds}-fold by image (each word scored by a map fitted without it):")
    held_rows = cross_rows(samples, held)
    print(cross_report(held_rows))
    train = [dataclasses.replace(s, fit=True) for s in samples] if args.all else samples
    weights, bias = fit(train, names)
    rows = report(samples, names, list(weights), bias)
    print(render(rows))
    print("weights: " + ", ".join(f"{n} {w:+.3f}" for n, w in zip(names, weights, strict=True)))
    print(f"bias: {bias:+.3f}")
    if args.write:
        held_out = cross_text(held_rows, args.folds)
        write_map(names, list(weights), bias, train, rows, held_out=held_out)
        write_folds(names, args.folds, maps, samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

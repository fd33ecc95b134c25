"""The recogniser cascade's calibration data: every crop the default pipeline reads, read by
both the small (main) and the tiny (draft) recogniser, side by side.

    python -m bench.cascade collect [--subsets a,b] [--limit N] [--out FILE]
    python -m bench.cascade fit [--in FILE]

``collect`` runs openread's default engine (the small recogniser decides everything, as
today) over the dev images; each batch of crops the small recogniser reads is read again by
the tiny one, timed alike (the two alternate call by call, so the machine's load hits both).
One JSON line per crop: the subset, image, both readings and the tiny reading's features.

``fit`` sets the cascade's thresholds (``pipeline.recognize.CascadeOptions``) on the fit half
of each subset (``bench.accuracy.calibration_half``: images sorted by name, even positions)
and prints, for the fit and the check half and per subset, the share of crops the tiny
reading is kept on, how many of those differ from the small reading, and the recognition time
the cascade would take against the small recogniser alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .accuracy import available_subsets, calibration_half, default_data_dir, load_subset

__all__ = ["main"]

_OUT = Path(__file__).parent / "results" / "cascade-crops.jsonl"


def _collect(args: argparse.Namespace) -> int:
    import openread
    from openread.models import ModelStore
    from openread.pipeline import recognize as rec

    store = ModelStore.load(args.threads, cascade=True)
    draft = store.draft
    assert draft is not None
    main_store = dataclasses.replace(store, draft=None)
    settings = openread.Settings(threads=args.threads, limits=openread.ImageLimits(relaxed=True))
    engine = openread.Engine(settings, models=main_store)
    engine.warm_up()
    draft.model.run(__import__("numpy").zeros((6, 3, 48, 640), dtype="float32"))
    original = rec._read
    rows: list[dict[str, Any]] = []
    where = {"subset": "", "image": ""}
    flip = [False]

    def hooked(
        reader: Any, lexicon: Any, crops: Sequence[Any], options: Any
    ) -> tuple[rec.RecognizedLine, ...]:
        if reader is draft:
            return original(reader, lexicon, crops, options)
        flip[0] = not flip[0]
        timed: dict[str, tuple[Any, float]] = {}
        for name, model in (("small", reader), ("tiny", draft))[:: 1 if flip[0] else -1]:
            start = time.perf_counter()
            out = original(model, lexicon, crops, options)
            timed[name] = (out, time.perf_counter() - start)
        small, small_s = timed["small"]
        tiny, tiny_s = timed["tiny"]
        for a, b in zip(small, tiny, strict=True):
            rows.append(
                {
                    **where,
                    "small": a.text,
                    "small_conf": a.confidence,
                    "tiny": b.text,
                    **_features(b, store.lexicon),
                    "small_s": small_s / len(crops),
                    "tiny_s": tiny_s / len(crops),
                }
            )
        return small

    rec._read = hooked  # type: ignore[assignment]
    subsets = args.subsets or available_subsets(args.data)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for subset in subsets:
            for page in load_subset(args.data, subset, args.limit):
                where.update(subset=subset, image=page.image.name)
                rows.clear()
                engine.read(page.image.read_bytes())
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                print(f"{subset} {page.image.name}: {len(rows)} crops", file=sys.stderr)
    return 0


def _features(line: Any, lexicon: Any) -> dict[str, Any]:
    probs = [c.probability for c in line.chars if not c.text.isspace()]
    tokens = line.text.split()
    cores = [t.strip(".,;:!?()[]{}\"'") for t in tokens]
    words = [c for c in cores if len(c) >= 2 and c.isalpha()]
    return {
        "tiny_conf": line.confidence,
        "tiny_min": min(probs) if probs else 0.0,
        "visible": len(probs),
        "words": len(words),
        "known": sum(1 for w in words if lexicon is not None and w in lexicon),
        "ascii": all(ord(ch) < 128 for ch in line.text),
    }


# --- fit -------------------------------------------------------------------------------------


def _fit(args: argparse.Namespace) -> int:
    from openread.pipeline.recognize import CascadeOptions, sure_features

    rows = [json.loads(line) for line in args.input.open(encoding="utf-8") if line.strip()]
    by_subset: dict[str, set[str]] = {}
    for row in rows:
        by_subset.setdefault(row["subset"], set()).add(row["image"])
    halves = {s: calibration_half(sorted(names)) for s, names in by_subset.items()}
    fit = [r for r in rows if halves[r["subset"]][r["image"]]]
    check = [r for r in rows if not halves[r["subset"]][r["image"]]]

    def decide(row: dict[str, Any], options: CascadeOptions) -> bool:
        return sure_features(
            row["tiny_conf"], row["tiny_min"], row["visible"], row["ascii"], options
        )

    grid = []
    for min_prob in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99):
        for confidence in (0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99):
            options = CascadeOptions(min_probability=min_prob, min_confidence=confidence)
            kept = [r for r in fit if decide(r, options)]
            differ = sum(1 for r in kept if r["tiny"] != r["small"])
            grid.append((len(kept), differ, options))
    # the most crops kept with at most args.target of all fit crops read differently
    allowed = args.target * len(fit)
    best = max((g for g in grid if g[1] <= allowed), key=lambda g: g[0])
    options = best[2]
    print(f"fit: {len(fit)} crops, check: {len(check)} crops; target differ <= {args.target:.3f}")
    print(f"chosen on the fit half: {options}")
    print()
    print(
        "| half | subset | crops | tiny kept | kept and differ | differ / crops | rec s small |"
        " rec s cascade | ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, part in (("fit", fit), ("check", check)):
        for subset in [*sorted(by_subset), "all"]:
            sel = [r for r in part if subset in ("all", r["subset"])]
            if not sel:
                continue
            kept = [r for r in sel if decide(r, options)]
            differ = sum(1 for r in kept if r["tiny"] != r["small"])
            small_s = sum(r["small_s"] for r in sel)
            cascade_s = sum(r["tiny_s"] for r in sel) + sum(
                r["small_s"] for r in sel if not decide(r, options)
            )
            print(
                f"| {name} | {subset} | {len(sel)} | {len(kept) / len(sel):.3f} | {differ} |"
                f" {differ / len(sel):.4f} | {small_s:.2f} | {cascade_s:.2f} |"
                f" {cascade_s / max(small_s, 1e-9):.2f} |"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cascade", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    collect = commands.add_parser("collect")
    collect.add_argument("--data", type=Path, default=default_data_dir())
    collect.add_argument("--subsets", type=lambda s: s.split(","), default=None)
    collect.add_argument("--limit", type=int, default=None)
    collect.add_argument("--threads", type=int, default=2)
    collect.add_argument("--out", type=Path, default=_OUT)
    fit = commands.add_parser("fit")
    fit.add_argument("--in", dest="input", type=Path, default=_OUT)
    fit.add_argument("--target", type=float, default=0.005, help="differing share allowed")
    args = parser.parse_args(argv)
    return _collect(args) if args.command == "collect" else _fit(args)


if __name__ == "__main__":
    raise SystemExit(main())

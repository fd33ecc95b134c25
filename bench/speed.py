"""Speed benchmark: openread and RapidOCR side by side on the same images, per image kind.

    python -m bench.speed [--data DIR] [--kinds label,photo,page] [--limit N] [--repeat N]
                          [--engines openread,rapidocr] [--threads N] [--json OUT]

Each engine runs in its own process (``multiprocessing`` spawn), so that its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) is its own; both processes stay alive for the whole run
and the parent hands them the images alternately, image by image, one call at a time (the idle
engine waits on its pipe, so the two never compete for the cores), the engines taking turns
going first. The clock runs inside the worker, around the engine call only: from the image
file's bytes (already read) to the result, decoding included, as in ``bench.accuracy``.

Image kinds are fixed lists of real eval-data images (``KINDS``), chosen so that each kind is
homogeneous in size and amount of text and the text is Latin (both engines read it, so the
accuracy column compares like with like):

* ``label``: small label-sized crops (300-400 px wide, 1-8 short lines) cut at fixed boxes from
  real images: two shop signs of icdar15 photos and the printed headers of two SROIE receipts.
  eval-data has no whole image that small with Latin text; the crops are saved as PNG (lossless,
  the real pixels), and their ground truth is the GT items inside the box (an item the box cuts
  is a don't-care).
* ``photo``: whole 1280x720 icdar15 scene photos (Google Glass) with the most cared words.
* ``page``: dense document pages: two FUNSD forms (about 760x1000, 100-200 words) and two SROIE
  receipts (about 1000x1500-2100); the two 4961x7016 SROIE scans are left out as outliers.
* ``handwriting`` (not run by default): the 10 handwritten letter and will pages of
  ``handwriting_en`` and ``handwriting_fr`` (about 1300x2200 and 1500x2000).

Every engine is warmed up first with one uncounted call on the first image of each kind run.
See bench/README.md, "Speed benchmark", for the columns and the checks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import multiprocessing
import os
import statistics
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from PIL import Image

from ._proc import MemInfo, mem_self, percentile
from .accuracy import (
    GtPage,
    default_data_dir,
    has_eval_data,
    load_subset,
    log,
    score_page,
    write_results,
)
from .engines import KNOWN_ENGINES, Prediction, make_engine
from .metrics import MatchCounts, Polygon, Region

REPO = Path(__file__).resolve().parent.parent
DASH = "–"
TARGET_RATIO = 0.6
"""The issue's target: openread's median latency at most 0.6x RapidOCR's, per kind."""
REPLY_TIMEOUT = 900.0
"""Seconds to wait for a worker's answer before giving up on it."""

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Sample:
    """One benchmark image: an eval-data image, or a fixed crop of one (left, top, right,
    bottom in the stored image's pixels)."""

    kind: str
    subset: str
    image: str
    crop: Box | None = None

    @property
    def name(self) -> str:
        suffix = "" if self.crop is None else "@" + ",".join(str(v) for v in self.crop)
        return f"{self.subset}/{self.image}{suffix}"


_HW_EN = ("163_001", "167_001", "167_003", "92_001", "92_002")
_HW_FR = ("AD78_0038-0", "AD78_0084-1", "AN_0008-3", "AN_0121-2", "AN_0181-0")

KINDS: dict[str, tuple[Sample, ...]] = {
    "label": (
        Sample("label", "icdar15", "train_img_185.jpg", (40, 185, 365, 265)),  # TIONG WOON ...
        Sample("label", "sroie", "sroie_041.jpg", (45, 160, 395, 318)),  # THREE STOOGES ...
        Sample("label", "icdar15", "train_img_237.jpg", (745, 305, 1135, 425)),  # ULTIMATE ...
        Sample("label", "sroie", "sroie_034.jpg", (400, 160, 700, 325)),  # PERNIAGAAN ...
    ),
    "photo": (
        Sample("photo", "icdar15", "train_img_264.jpg"),
        Sample("photo", "icdar15", "train_img_113.jpg"),
        Sample("photo", "icdar15", "train_img_236.jpg"),
        Sample("photo", "icdar15", "train_img_82.jpg"),
    ),
    "page": (
        Sample("page", "funsd", "00093726.png"),
        Sample("page", "sroie", "sroie_034.jpg"),
        Sample("page", "funsd", "0001477983.png"),
        Sample("page", "sroie", "sroie_071.jpg"),
    ),
    "handwriting": (
        *(Sample("handwriting", "handwriting_en", f"JDH_2_16_{i}.jpg") for i in _HW_EN),
        *(
            Sample("handwriting", "handwriting_fr", f"TestamentsDePoilus_will_{i}.jpg")
            for i in _HW_FR
        ),
    ),
}
DEFAULT_KINDS = ("label", "photo", "page")
"""``handwriting`` is opt-in: every page of both handwriting subsets, where script
identification costs most (``--engines openread,openread-noscripts`` shows what it costs)."""
KIND_NOTES = {
    "label": "label-sized crops (300-400 px wide, 1-8 short lines) of icdar15 signs and SROIE "
    "receipt headers",
    "photo": "whole 1280x720 icdar15 scene photos",
    "page": "dense pages: FUNSD forms (~760x1000) and SROIE receipts (~1000x1500-2100)",
    "handwriting": "every handwritten page of handwriting_en and handwriting_fr (~1300x2200, "
    "~1500x2000)",
}


# --- preparing the images --------------------------------------------------------------------


def _bbox(polygon: Polygon) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    return min(xs), min(ys), max(xs), max(ys)


def crop_items(items: Sequence[Region], box: Box) -> tuple[Region, ...]:
    """The GT items of a crop, in its coordinates: items inside the box are kept, items the box
    cuts become don't-care, items outside it are dropped."""
    left, top, right, bottom = box
    kept: list[Region] = []
    for item in items:
        x1, y1, x2, y2 = _bbox(item.polygon)
        if x2 <= left or x1 >= right or y2 <= top or y1 >= bottom:
            continue
        inside = x1 >= left and y1 >= top and x2 <= right and y2 <= bottom
        polygon = tuple((x - left, y - top) for x, y in item.polygon)
        kept.append(Region(polygon, item.text, item.ignore or not inside))
    return tuple(kept)


def prepare(data: Path, samples: Sequence[Sample], workdir: Path) -> list[GtPage]:
    """The GT page of every sample; crops are cut and saved as PNG in ``workdir``."""
    subsets: dict[str, dict[str, GtPage]] = {}
    pages: list[GtPage] = []
    for sample in samples:
        if sample.subset not in subsets:
            subsets[sample.subset] = {p.image.name: p for p in load_subset(data, sample.subset)}
        page = subsets[sample.subset][sample.image]
        if sample.crop is not None:
            target = workdir / f"{page.image.stem}-{'-'.join(map(str, sample.crop))}.png"
            with Image.open(page.image) as image:
                image.crop(sample.crop).save(target)
            page = replace(
                page, image=target, items=crop_items(page.items, sample.crop), page_text=None
            )
        pages.append(page)
    return pages


# --- engine worker processes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    path: str


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


@dataclass(frozen=True, slots=True)
class _Loaded:
    before: MemInfo
    after: MemInfo


@dataclass(frozen=True, slots=True)
class _Ran:
    prediction: Prediction
    cpu_seconds: float
    error: str | None
    memory: MemInfo


@dataclass(frozen=True, slots=True)
class _Failed:
    message: str


def _worker(conn: Connection, engine_name: str, threads: int) -> None:
    """The engine's process: load it, then answer ``_Run``s until ``_Stop``."""
    try:
        before = mem_self()
        engine = make_engine(engine_name, threads)
        conn.send(_Loaded(before, mem_self()))
        while True:
            message = conn.recv()
            if isinstance(message, _Stop):
                conn.send(mem_self())
                return
            cpu = time.process_time()
            error = None
            try:
                prediction = engine.run(Path(message.path))
            except Exception as exc:  # recorded; the benchmark goes on
                prediction, error = Prediction((), (), 0.0), f"{type(exc).__name__}: {exc}"
            cpu = time.process_time() - cpu
            conn.send(_Ran(prediction, cpu, error, mem_self()))
    except Exception:
        conn.send(_Failed(traceback.format_exc()))


class EngineWorker:
    """One engine in its own spawned process."""

    def __init__(self, name: str, threads: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.name = name
        self._conn, child = context.Pipe()
        self._process: SpawnProcess = context.Process(
            target=_worker, args=(child, name, threads), name=f"bench-{name}", daemon=True
        )
        self._process.start()
        child.close()

    def _reply(self) -> object:
        deadline = time.monotonic() + REPLY_TIMEOUT
        while not self._conn.poll(1.0):
            if not self._process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} worker died (exit {self._process.exitcode})")
        reply = self._conn.recv()
        if isinstance(reply, _Failed):
            raise RuntimeError(f"{self.name} worker failed:\n{reply.message}")
        return reply

    def loaded(self) -> _Loaded:
        reply = self._reply()
        assert isinstance(reply, _Loaded)
        return reply

    def run(self, path: Path) -> _Ran:
        self._conn.send(_Run(str(path)))
        reply = self._reply()
        assert isinstance(reply, _Ran)
        return reply

    def stop(self) -> MemInfo:
        self._conn.send(_Stop())
        reply = self._reply()
        assert isinstance(reply, MemInfo)
        self._process.join(timeout=30)
        return reply

    def kill(self) -> None:
        """End the process if it still runs, and close the pipe."""
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=10)
        self._conn.close()


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One timed call of one engine on one image."""

    kind: str
    sample: str
    engine: str
    repeat: int
    seconds: float
    cpu_seconds: float
    error: str | None
    lines: int
    words: int
    text: str
    bow: MatchCounts


@dataclass(frozen=True, slots=True)
class KindSummary:
    """One engine on one kind: latencies of every counted call, BoW counts summed over the
    kind's images (first repeat of each)."""

    kind: str
    engine: str
    images: int
    latencies_ms: tuple[float, ...]
    cpu_ms: tuple[float, ...]
    errors: int
    bow: MatchCounts
    stable: bool
    """Every repeat of an image gave the same text."""

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else math.nan

    @property
    def p95_ms(self) -> float:
        return percentile(self.latencies_ms, 95)

    @property
    def images_per_s(self) -> float:
        total = sum(self.latencies_ms)
        return 1000.0 * len(self.latencies_ms) / total if total > 0 else math.nan

    @property
    def cpu_median_ms(self) -> float:
        return statistics.median(self.cpu_ms) if self.cpu_ms else math.nan


@dataclass(frozen=True, slots=True)
class EngineMemory:
    """One engine process's memory (MiB): RSS before loading (interpreter and imports), after
    loading, after warm-up and at the end; peak = ``ru_maxrss``, hwm = ``VmHWM``."""

    engine: str
    rss_start: float
    rss_loaded: float
    rss_warm: float
    rss_end: float
    peak: float
    hwm: float


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def summarise(kind: str, engine: str, records: Sequence[RunRecord]) -> KindSummary:
    mine = [r for r in records if r.kind == kind and r.engine == engine]
    firsts = [r for r in mine if r.repeat == 0]
    texts: dict[str, set[str]] = {}
    for r in mine:
        texts.setdefault(r.sample, set()).add(r.text)
    bow = MatchCounts()
    for r in firsts:
        bow = bow + r.bow
    ok = [r for r in mine if r.error is None]
    return KindSummary(
        kind=kind,
        engine=engine,
        images=len(firsts),
        latencies_ms=tuple(r.seconds * 1000.0 for r in ok),
        cpu_ms=tuple(r.cpu_seconds * 1000.0 for r in ok),
        errors=len(mine) - len(ok),
        bow=bow,
        stable=all(len(t) == 1 for t in texts.values()),
    )


def ratio(summaries: Sequence[KindSummary], kind: str, engines: Sequence[str]) -> float:
    """The first engine's median latency over the second's on ``kind``."""
    by_engine = {s.engine: s for s in summaries if s.kind == kind}
    first, second = by_engine[engines[0]], by_engine[engines[1]]
    return first.median_ms / second.median_ms if second.median_ms > 0 else math.nan


def checks(summaries: Sequence[KindSummary], engines: Sequence[str]) -> list[Check]:
    """Per kind: the latency ratio against the target, and accuracy at least equal."""
    if len(engines) < 2:
        return []
    mine, other = engines[0], engines[1]
    found: list[Check] = []
    for kind in dict.fromkeys(s.kind for s in summaries):
        by_engine = {s.engine: s for s in summaries if s.kind == kind}
        a, b = by_engine[mine], by_engine[other]
        r = ratio(summaries, kind, engines)
        found.append(
            Check(
                f"speed {kind}",
                r <= TARGET_RATIO and a.errors == 0,
                f"{mine} median {a.median_ms:.0f} ms = {r:.2f}x {other} {b.median_ms:.0f} ms "
                f"(target <= {TARGET_RATIO:.2f}x)" + (f", {a.errors} errors" if a.errors else ""),
            )
        )
        found.append(
            Check(
                f"accuracy {kind}",
                a.bow.hmean >= b.bow.hmean,
                f"{mine} BoW F1 {a.bow.hmean:.3f} vs {other} {b.bow.hmean:.3f} "
                "(target: equal or better)",
            )
        )
    return found


# --- output ----------------------------------------------------------------------------------


def _num(value: float) -> float | None:
    """A figure for the JSON file (NaN is not JSON)."""
    return None if math.isnan(value) else value


def _fmt(value: float | None, digits: int = 0) -> str:
    return DASH if value is None or math.isnan(value) else f"{value:.{digits}f}"


TABLE_HEADER = (
    "kind",
    "engine",
    "images",
    "runs",
    "ms med",
    "ms p95",
    "img/s",
    "CPU ms med",
    "BoW F1",
    "med ratio",
)
MEMORY_HEADER = ("engine", "RSS start", "RSS loaded", "RSS warm", "RSS end", "peak RSS")
TABLE_NOTE = (
    "latency = image bytes in to result out, one call at a time; img/s = runs / summed "
    "latency (one stream); CPU ms = process CPU time of the call, all threads; med ratio = "
    "median latency / the second engine's on the same kind; BoW F1 on the first run of each "
    "image; RSS in MiB, peak = ru_maxrss of the engine's own process."
)


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [header, tuple("---" for _ in header), *rows]
    return "\n".join("| " + " | ".join(row) + " |" for row in lines)


def render(
    summaries: Sequence[KindSummary],
    memory: Sequence[EngineMemory],
    engines: Sequence[str],
    found: Sequence[Check],
) -> str:
    rows = []
    for s in summaries:
        r = ratio(summaries, s.kind, engines) if len(engines) > 1 else math.nan
        runs = str(len(s.latencies_ms)) + (f" ({s.errors} err)" if s.errors else "")
        rows.append(
            (
                s.kind,
                s.engine,
                str(s.images),
                runs,
                _fmt(s.median_ms),
                _fmt(s.p95_ms),
                _fmt(s.images_per_s, 2),
                _fmt(s.cpu_median_ms),
                _fmt(s.bow.hmean, 3) + ("" if s.stable else " (unstable)"),
                _fmt(r, 2) + "x" if s.engine == engines[0] and len(engines) > 1 else DASH,
            )
        )
    mem_rows = [
        (
            m.engine,
            *(_fmt(v) for v in (m.rss_start, m.rss_loaded, m.rss_warm, m.rss_end, m.peak)),
        )
        for m in memory
    ]
    text = _markdown(TABLE_HEADER, rows) + "\n\n" + _markdown(MEMORY_HEADER, mem_rows)
    text += "\n\n" + TABLE_NOTE
    if found:
        text += "\n\n" + "\n".join(c.line() for c in found)
    return text


def _record_json(r: RunRecord) -> dict[str, Any]:
    return {
        "sample": r.sample,
        "repeat": r.repeat,
        "ms": r.seconds * 1000.0,
        "cpu_ms": r.cpu_seconds * 1000.0,
        "error": r.error,
        "lines": r.lines,
        "words": r.words,
        "bow": {"matched": r.bow.matched, "predicted": r.bow.predicted, "expected": r.bow.expected},
        "text": r.text,
    }


def _summary_json(
    s: KindSummary, records: Sequence[RunRecord], ratio_value: float | None
) -> dict[str, Any]:
    return {
        "kind": s.kind,
        "engine": s.engine,
        "images": s.images,
        "runs": len(s.latencies_ms),
        "errors": s.errors,
        "latency_ms": {"median": _num(s.median_ms), "p95": _num(s.p95_ms)},
        "images_per_s": _num(s.images_per_s),
        "cpu_ms_median": _num(s.cpu_median_ms),
        "bow": {
            "matched": s.bow.matched,
            "predicted": s.bow.predicted,
            "expected": s.bow.expected,
            "hmean": s.bow.hmean,
        },
        "stable_text": s.stable,
        "median_ratio": None if ratio_value is None else _num(ratio_value),
        "runs_detail": [
            _record_json(r) for r in records if r.kind == s.kind and r.engine == s.engine
        ],
    }


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# --- running ---------------------------------------------------------------------------------


def _firsts(samples: Sequence[Sample]) -> list[Sample]:
    """The first sample of each kind (the warm-up images)."""
    return list({s.kind: s for s in reversed(samples)}.values())[::-1]


def warm_up(worker: EngineWorker, pages: Sequence[GtPage]) -> MemInfo:
    """One uncounted call on each page; the worker's memory after the last."""
    memory = None
    for page in pages:
        memory = worker.run(page.image).memory
    assert memory is not None
    return memory


def run_benchmark(
    pages: Sequence[GtPage],
    samples: Sequence[Sample],
    workers: Sequence[EngineWorker],
    repeat: int,
) -> list[RunRecord]:
    """Every sample ``repeat`` times on every engine, engines alternating order call by call."""
    records: list[RunRecord] = []
    turn = 0
    for sample, page in zip(samples, pages, strict=True):
        for k in range(repeat):
            order = workers if turn % 2 == 0 else list(reversed(workers))
            turn += 1
            for worker in order:
                ran = worker.run(page.image)
                prediction = ran.prediction
                records.append(
                    RunRecord(
                        kind=sample.kind,
                        sample=sample.name,
                        engine=worker.name,
                        repeat=k,
                        seconds=prediction.seconds,
                        cpu_seconds=ran.cpu_seconds,
                        error=ran.error,
                        lines=len(prediction.lines),
                        words=len(prediction.words),
                        text=prediction.page_text,
                        bow=score_page(page, prediction).bow,
                    )
                )
        log(
            f"{sample.name}: "
            + ", ".join(
                f"{r.engine} {r.seconds * 1000:.0f} ms"
                for r in records[-len(workers) :]  # the last call of each engine
            )
        )
    return records


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="eval-data dir")
    parser.add_argument("--kinds", type=_csv, default=list(DEFAULT_KINDS), help=",".join(KINDS))
    parser.add_argument("--limit", type=int, default=None, help="first N images of each kind")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per image and engine")
    parser.add_argument(
        "--engines",
        type=_csv,
        default=["openread", "rapidocr"],
        help="engines; the ratio is the first over the second",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads of every engine")
    parser.add_argument("--json", type=Path, default=None, help="results file")
    args = parser.parse_args(argv)
    if args.json is None:
        args.json = REPO / "bench" / "results" / f"speed-{dt.date.today().isoformat()}.json"
    unknown = [e for e in args.engines if e not in KNOWN_ENGINES]
    if unknown or not args.engines:
        parser.error(f"unknown engines {unknown}; choose from {', '.join(KNOWN_ENGINES)}")
    bad = [k for k in args.kinds if k not in KINDS]
    if bad or not args.kinds:
        parser.error(f"unknown kinds {bad}; choose from {', '.join(KINDS)}")
    if args.repeat < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--repeat and --limit must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not has_eval_data(args.data):
        return 2
    samples = [s for kind in args.kinds for s in KINDS[kind][: args.limit]]
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        pages = prepare(args.data, samples, Path(tmp))
        log(f"starting {', '.join(args.engines)} (one process each, {args.threads} threads)")
        workers = [EngineWorker(name, args.threads) for name in args.engines]
        try:
            loaded = [w.loaded() for w in workers]
            warm_pages = [pages[samples.index(first)] for first in _firsts(samples)]
            warm = [warm_up(worker, warm_pages) for worker in workers]
            records = run_benchmark(pages, samples, workers, args.repeat)
            ends = [w.stop() for w in workers]
        finally:
            for worker in workers:
                worker.kill()
    memory_rows = [
        EngineMemory(
            engine=w.name,
            rss_start=ld.before.rss_mib,
            rss_loaded=ld.after.rss_mib,
            rss_warm=wm.rss_mib,
            rss_end=end.rss_mib,
            peak=end.maxrss_mib,
            hwm=end.hwm_mib,
        )
        for w, ld, wm, end in zip(workers, loaded, warm, ends, strict=True)
    ]
    summaries = [summarise(k, e, records) for k in args.kinds for e in args.engines]
    found = checks(summaries, args.engines)
    print(render(summaries, memory_rows, args.engines, found))
    payload = {
        "meta": {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "data": str(args.data),
            "engines": args.engines,
            "threads": args.threads,
            "repeat": args.repeat,
            "kinds": {
                k: {"note": KIND_NOTES[k], "samples": [s.name for s in KINDS[k][: args.limit]]}
                for k in args.kinds
            },
            "cpus": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
            "versions": {p: _version(p) for p in ("openread", "rapidocr", "onnxruntime")},
            "target_ratio": TARGET_RATIO,
            "note": TABLE_NOTE,
        },
        "results": [
            _summary_json(
                s,
                records,
                ratio(summaries, s.kind, args.engines)
                if len(args.engines) > 1 and s.engine == args.engines[0]
                else None,
            )
            for s in summaries
        ],
        "memory_mib": [
            {
                "engine": m.engine,
                "rss_start": m.rss_start,
                "rss_loaded": m.rss_loaded,
                "rss_after_warm_up": m.rss_warm,
                "rss_end": m.rss_end,
                "peak_ru_maxrss": m.peak,
                "peak_vm_hwm": m.hwm,
            }
            for m in memory_rows
        ],
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in found],
    }
    write_results(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

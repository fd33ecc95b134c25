"""Load benchmark: the real ``openread serve`` over loopback, at several concurrency levels, at
4x its capacity, and (``--soak``) for a long run, with its memory sampled every second.

    python -m bench.load [--data DIR] [--concurrency 1,2,4,8,32] [--requests N]
                         [--workers N] [--threads N] [--max-queue N]
                         [--overload-seconds S | --no-overload] [--soak S] [--soak-concurrency N]
                         [--limit N] [--json OUT]

The server is started as a subprocess (``openread serve --host 127.0.0.1 --port 0`` with the
given workers/threads/max-queue, ``OPENREAD_*`` variables removed from its environment) and the
benchmark waits for ``GET /ready``. Clients are ``httpx.AsyncClient`` tasks in a closed loop:
each sends ``POST /computervision/imageanalysis:analyze?api-version=2024-02-01&features=read``
with the image bytes (``application/octet-stream``), waits for the answer, and sends the next
one; on a 429 a client waits what ``Retry-After`` says before sending again, as Azure's SDKs
do. Images are taken in turn from a fixed mix of real eval-data images (``bench.speed.KINDS``:
label-sized crops, photos, dense pages), so every level sees the same mix.

Every 200 body is checked: it must parse as Azure's JSON (``metadata`` with the image's size,
``readResult.blocks[].lines[].words[]``), and its text must equal what the server answered for
the same image in the uncounted reference pass at the start (each image sent once, alone). A
body with another image's text or size, or a truncated one, counts as ``wrong``.

A thread samples the server's RSS (``/proc/<pid>/status`` VmRSS, its child processes included)
every second, another probes ``GET /health`` every half second. Phases: ``warm-up`` (the
reference pass), ``c=N`` per level (``--requests`` requests each, 429s included), ``overload``
(``4 x (workers + max_queue)`` clients for ``--overload-seconds``), ``soak`` (``--soak``
seconds at ``--soak-concurrency``, the mix plus a large handwritten page).

See bench/README.md, "Load benchmark", for the columns and the PASS/FAIL checks.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import itertools
import json
import math
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageOps

from ._proc import ServerProcess, cpu_seconds, percentile, rss_tree_mib, start_server
from .accuracy import default_data_dir, has_eval_data, log, write_results
from .speed import KINDS, Sample

REPO = Path(__file__).resolve().parent.parent
ANALYZE = "/computervision/imageanalysis:analyze?api-version=2024-02-01&features=read"
DASH = "–"
LOAD_MIX: tuple[Sample, ...] = (
    KINDS["label"][0],
    KINDS["photo"][0],
    KINDS["page"][0],
    KINDS["label"][1],
    KINDS["photo"][1],
    KINDS["page"][1],
)
"""The images of the concurrency levels and of the overload phase, in the order they are sent:
two of each kind, small and large interleaved."""
SOAK_MIX: tuple[Sample, ...] = (
    *(s for kind in ("label", "photo", "page") for s in KINDS[kind]),
    Sample("large", "handwriting_en", "JDH_2_16_92_001.jpg"),
)
"""The soak's images: every speed-benchmark image and a 1303x2205 handwritten page."""
REQUEST_TIMEOUT = 300.0
HEALTH_INTERVAL = 0.5
HEALTH_TIMEOUT = 5.0
RSS_INTERVAL = 1.0
OVERLOAD_FACTOR = 4
COLLAPSE_LEVEL = 8
TAIL_FACTOR = 4.0
SOAK_GROWTH = 0.10
SOAK_REQUIRED = 600.0
"""The soak length the issue asks for (seconds)."""


# --- images ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadImage:
    """What is sent: the bytes of an image file, or a crop of one encoded as PNG."""

    name: str
    data: bytes
    width: int
    height: int


def load_image(data_dir: Path, sample: Sample) -> LoadImage:
    path = data_dir / sample.subset / "images" / sample.image
    if sample.crop is None:
        raw = path.read_bytes()
        with Image.open(io.BytesIO(raw)) as image:
            width, height = ImageOps.exif_transpose(image).size
        return LoadImage(sample.name, raw, width, height)
    with Image.open(path) as image:
        crop = image.crop(sample.crop)
    buffer = io.BytesIO()
    crop.save(buffer, format="PNG")
    return LoadImage(sample.name, buffer.getvalue(), crop.width, crop.height)


# --- checking answers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """What a 200 body says: the page text (lines joined by newlines) and the image size."""

    text: str
    width: int
    height: int
    words: int


def parse_body(raw: bytes) -> Reading | str:
    """The reading of an Azure Image Analysis 4.0 body, or what is wrong with it."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        return f"not JSON ({exc})"
    if not isinstance(body, dict):
        return "not a JSON object"
    meta, read = body.get("metadata"), body.get("readResult")
    if not isinstance(meta, dict) or not isinstance(read, dict):
        return "no metadata or readResult"
    blocks = read.get("blocks")
    if not isinstance(blocks, list):
        return "readResult.blocks is not a list"
    lines: list[str] = []
    words = 0
    for block in blocks:
        block_lines = block.get("lines") if isinstance(block, dict) else None
        if not isinstance(block_lines, list):
            return "a block without lines"
        for line in block_lines:
            if not isinstance(line, dict) or not isinstance(line.get("text"), str):
                return "a line without text"
            line_words = line.get("words")
            if not isinstance(line_words, list) or not all(
                isinstance(w, dict) and isinstance(w.get("text"), str) for w in line_words
            ):
                return "a line without words"
            if not isinstance(line.get("boundingPolygon"), list):
                return "a line without boundingPolygon"
            lines.append(line["text"])
            words += len(line_words)
    width, height = meta.get("width"), meta.get("height")
    if not isinstance(width, int) or not isinstance(height, int):
        return "metadata without width/height"
    return Reading("\n".join(lines), width, height, words)


def body_problem(raw: bytes, image: LoadImage, expected: Reading) -> str | None:
    """Why a 200 body is wrong for ``image`` (``None`` if it is right)."""
    reading = parse_body(raw)
    if isinstance(reading, str):
        return reading
    if (reading.width, reading.height) != (image.width, image.height):
        return f"size {reading.width}x{reading.height}, the image is {image.width}x{image.height}"
    if reading.text != expected.text:
        return "text differs from the reference: " + _difference(reading.text, expected.text)
    return None


def _difference(got: str, expected: str) -> str:
    """Where two texts part: ``at char 12: 'abc' vs 'abd'``."""
    k = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
    if k is None:
        k = min(len(got), len(expected))
    return f"at char {k}: {got[k : k + 30]!r} vs {expected[k : k + 30]!r}"


# --- monitoring ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RssSample:
    seconds: float
    phase: str
    mib: float


@dataclass(frozen=True, slots=True)
class HealthProbe:
    seconds: float
    phase: str
    latency: float
    status: int | None
    error: str | None = None


@dataclass
class Monitor:
    """Two threads: the server's RSS every second, ``GET /health`` every half second."""

    server: ServerProcess
    phase: str = "start"
    rss: list[RssSample] = field(default_factory=list)
    health: list[HealthProbe] = field(default_factory=list)
    _t0: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self._t0

    def start(self) -> None:
        for target in (self._sample_rss, self._probe_health):
            thread = threading.Thread(target=target, daemon=True, name=f"bench-{target.__name__}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=HEALTH_TIMEOUT + 2)

    def sample_now(self) -> float | None:
        mib = rss_tree_mib(self.server.pid)
        if mib is not None:
            self.rss.append(RssSample(self.now(), self.phase, mib))
        return mib

    def _sample_rss(self) -> None:
        while not self._stop.is_set():
            self.sample_now()
            self._stop.wait(RSS_INTERVAL)

    def _probe_health(self) -> None:
        url = f"{self.server.base_url}/health"
        with httpx.Client(timeout=HEALTH_TIMEOUT) as client:
            while not self._stop.is_set():
                phase, start = self.phase, time.perf_counter()
                try:
                    status, error = client.get(url).status_code, None
                except httpx.HTTPError as exc:
                    status, error = None, f"{type(exc).__name__}: {exc}"
                latency = time.perf_counter() - start
                self.health.append(HealthProbe(self.now(), phase, latency, status, error))
                self._stop.wait(max(0.0, HEALTH_INTERVAL - latency))


# --- driving the server ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """One analyze request: its status (``None`` = no HTTP answer) and latency in seconds."""

    image: str
    status: int | None
    seconds: float
    finished: float
    """When the answer arrived, in seconds since the phase started."""
    error: str | None = None
    wrong: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class PhaseResult:
    name: str
    concurrency: int
    wall_seconds: float
    answers: tuple[Answer, ...]
    rss: tuple[RssSample, ...]
    health: tuple[HealthProbe, ...]
    server_cpu_seconds: float
    """CPU time the server process used during the phase (all its threads)."""
    loadavg: float
    """The machine's 1-minute load average at the end of the phase."""

    @property
    def ok_latencies_ms(self) -> list[float]:
        return [a.seconds * 1000.0 for a in self.answers if a.status == 200]

    @property
    def statuses(self) -> Counter[str]:
        return Counter("error" if a.status is None else str(a.status) for a in self.answers)

    @property
    def throughput(self) -> float:
        """200 answers per second of the phase's wall time."""
        ok = len(self.ok_latencies_ms)
        return ok / self.wall_seconds if self.wall_seconds > 0 else math.nan

    def latency_ms(self, q: float) -> float:
        return percentile(self.ok_latencies_ms, q)

    @property
    def cpu_per_ok(self) -> float:
        """Server CPU seconds per 200 answer."""
        ok = len(self.ok_latencies_ms)
        return self.server_cpu_seconds / ok if ok else math.nan

    @property
    def wrong(self) -> list[Answer]:
        return [a for a in self.answers if a.wrong is not None]

    @property
    def missing_retry_after(self) -> int:
        return sum(1 for a in self.answers if a.status == 429 and not a.retry_after)

    @property
    def health_failures(self) -> int:
        return sum(1 for h in self.health if h.status != 200)

    @property
    def health_max_ms(self) -> float:
        return max((h.latency * 1000.0 for h in self.health), default=math.nan)

    @property
    def rss_range(self) -> tuple[float, float]:
        values = [s.mib for s in self.rss]
        return (min(values), max(values)) if values else (math.nan, math.nan)


def _retry_seconds(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.0), 30.0)
    except ValueError:
        return 1.0


async def _send(
    client: httpx.AsyncClient, url: str, image: LoadImage, expected: Reading, t0: float
) -> Answer:
    start = time.perf_counter()
    try:
        response = await client.post(
            url, content=image.data, headers={"Content-Type": "application/octet-stream"}
        )
    except httpx.HTTPError as exc:
        end = time.perf_counter()
        error = f"{type(exc).__name__}: {exc}"
        return Answer(image.name, None, end - start, end - t0, error=error)
    end = time.perf_counter()
    wrong = None
    if response.status_code == 200:
        wrong = body_problem(response.content, image, expected)
    return Answer(
        image.name,
        response.status_code,
        end - start,
        end - t0,
        wrong=wrong,
        retry_after=response.headers.get("retry-after"),
    )


async def drive(
    url: str,
    images: Sequence[LoadImage],
    reference: dict[str, Reading],
    concurrency: int,
    *,
    requests: int | None = None,
    seconds: float | None = None,
) -> tuple[list[Answer], float]:
    """``concurrency`` closed-loop clients sending ``images`` in turn, until ``requests`` are
    sent or ``seconds`` have passed (requests in flight then are awaited); the answers and the
    wall time."""
    answers: list[Answer] = []
    counter = itertools.count()
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while True:
            k = next(counter)
            if requests is not None and k >= requests:
                return
            if seconds is not None and time.perf_counter() - start >= seconds:
                return
            image = images[k % len(images)]
            answer = await _send(client, url, image, reference[image.name], start)
            answers.append(answer)
            if answer.status == 429:
                await asyncio.sleep(_retry_seconds(answer.retry_after))

    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
    return answers, time.perf_counter() - start


async def reference_pass(url: str, images: Sequence[LoadImage]) -> dict[str, Reading]:
    """Each image once, alone: what the server reads in it (the expected body of every later
    200 for that image)."""
    found: dict[str, Reading] = {}
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as client:
        for image in images:
            response = await client.post(
                url, content=image.data, headers={"Content-Type": "application/octet-stream"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"{image.name}: status {response.status_code} {response.text}")
            reading = parse_body(response.content)
            if isinstance(reading, str):
                raise RuntimeError(f"{image.name}: bad body in the reference pass: {reading}")
            if (reading.width, reading.height) != (image.width, image.height):
                raise RuntimeError(
                    f"{image.name}: metadata {reading.width}x{reading.height}, "
                    f"image {image.width}x{image.height}"
                )
            found[image.name] = reading
    return found


def run_phase(
    monitor: Monitor,
    name: str,
    url: str,
    images: Sequence[LoadImage],
    reference: dict[str, Reading],
    *,
    concurrency: int,
    requests: int | None = None,
    seconds: float | None = None,
) -> PhaseResult:
    monitor.phase = name
    first_rss, first_health = len(monitor.rss), len(monitor.health)
    monitor.sample_now()
    cpu_start = cpu_seconds(monitor.server.pid) or 0.0
    answers, wall = asyncio.run(
        drive(url, images, reference, concurrency, requests=requests, seconds=seconds)
    )
    cpu = (cpu_seconds(monitor.server.pid) or cpu_start) - cpu_start
    monitor.sample_now()
    result = PhaseResult(
        name,
        concurrency,
        wall,
        tuple(answers),
        tuple(s for s in monitor.rss[first_rss:] if s.phase == name),
        tuple(h for h in monitor.health[first_health:] if h.phase == name),
        cpu,
        os.getloadavg()[0],
    )
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(result.statuses.items()))
    log(
        f"{name}: {len(answers)} requests in {wall:.1f} s, {result.throughput:.2f} ok/s, "
        f"p50 {result.latency_ms(50):.0f} ms, statuses {statuses}, wrong {len(result.wrong)}, "
        f"server CPU {cpu:.0f} s, load {result.loadavg:.1f}"
    )
    return result


# --- soak memory -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoakMemory:
    """RSS after warm-up and at the end of the soak (MiB): medians of the samples in the first
    window after the warm-up and in the last window (each a tenth of the soak, >= 3 samples)."""

    warm_up_seconds: float
    measured_seconds: float
    """Seconds of the soak after its warm-up."""
    after_warm_up: float
    end: float
    floor_after_warm_up: float
    floor_end: float
    """Lowest samples of the two windows."""
    peak: float
    samples: int

    @property
    def growth(self) -> float:
        return self.end / self.after_warm_up - 1.0 if self.after_warm_up > 0 else math.nan


def soak_memory(phase: PhaseResult, start: float, warm_up_until: float) -> SoakMemory | None:
    """RSS figures of the soak that started at ``start``; the warm-up ends at
    ``warm_up_until`` (monitor time). ``None`` if fewer than 2 samples follow the warm-up."""
    samples = list(phase.rss)
    after = [s for s in samples if s.seconds >= warm_up_until]
    if len(after) < 2:
        return None
    window = min(len(after), max(3, len(after) // 10))
    first, last = [s.mib for s in after[:window]], [s.mib for s in after[-window:]]
    return SoakMemory(
        warm_up_seconds=warm_up_until - start,
        measured_seconds=after[-1].seconds - warm_up_until,
        after_warm_up=statistics.median(first),
        end=statistics.median(last),
        floor_after_warm_up=min(first),
        floor_end=min(last),
        peak=max(s.mib for s in samples),
        samples=len(after),
    )


def soak_warm_up_seconds(phase: PhaseResult, images: Sequence[LoadImage]) -> float:
    """Seconds into the soak at which its warm-up ends: a tenth of the soak, or later if by then
    not every image has been answered (200) once."""
    seen: set[str] = set()
    first_round = phase.wall_seconds
    for answer in sorted(phase.answers, key=lambda a: a.finished):
        if answer.status == 200:
            seen.add(answer.image)
        if len(seen) == len(images):
            first_round = answer.finished
            break
    return max(phase.wall_seconds / 10.0, first_round)


# --- checks and output -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool | None
    """``None``: not measured in this run (SKIP)."""
    detail: str

    def line(self) -> str:
        word = "SKIP" if self.passed is None else "PASS" if self.passed else "FAIL"
        return f"{word} {self.name}: {self.detail}"


def checks(
    levels: Sequence[PhaseResult],
    overload: PhaseResult | None,
    soak: PhaseResult | None,
    memory: SoakMemory | None,
) -> list[Check]:
    found: list[Check] = []
    by_level = {p.concurrency: p for p in levels}
    single, eight = by_level.get(1), by_level.get(COLLAPSE_LEVEL)
    if single is not None and eight is not None:
        found.append(
            Check(
                "no collapse",
                eight.throughput >= single.throughput,
                f"{eight.throughput:.2f} ok/s at concurrency {COLLAPSE_LEVEL} vs "
                f"{single.throughput:.2f} single-stream (target >=)",
            )
        )
        p50, p99 = eight.latency_ms(50), eight.latency_ms(99)
        found.append(
            Check(
                "tail latency",
                p99 < TAIL_FACTOR * p50,
                f"p99 {p99:.0f} ms = {p99 / p50:.2f}x p50 {p50:.0f} ms at concurrency "
                f"{COLLAPSE_LEVEL} (target < {TAIL_FACTOR:.0f}x)",
            )
        )
    else:
        found.append(Check("no collapse", None, f"needs levels 1 and {COLLAPSE_LEVEL}"))
    if overload is not None:
        other = {k: v for k, v in overload.statuses.items() if k not in ("200", "429")}
        n429 = overload.statuses.get("429", 0)
        detail = f"{overload.concurrency} clients: " + " ".join(
            f"{k}:{v}" for k, v in sorted(overload.statuses.items())
        )
        if overload.missing_retry_after:
            detail += f", {overload.missing_retry_after} 429s without Retry-After"
        if not n429:
            detail += ", no 429 at all: the server was not overloaded"
        found.append(
            Check(
                "overload",
                not other and not overload.missing_retry_after and n429 > 0,
                detail + " (target: only 429 + Retry-After besides 200)",
            )
        )
        found.append(
            Check(
                "health under overload",
                overload.health_failures == 0 and len(overload.health) > 0,
                f"{len(overload.health)} probes, {overload.health_failures} failed, max "
                f"{overload.health_max_ms:.0f} ms (timeout {HEALTH_TIMEOUT:.0f} s)",
            )
        )
    else:
        found.append(Check("overload", None, "not run (--no-overload)"))
    phases = [*levels, *([overload] if overload else []), *([soak] if soak else [])]
    wrong = sum(len(p.wrong) for p in phases)
    ok = sum(len(p.ok_latencies_ms) for p in phases)
    found.append(Check("bodies", wrong == 0, f"{wrong} wrong of {ok} 200 bodies (target 0)"))
    errors = sum(
        v for p in phases for k, v in p.statuses.items() if k == "error" or k.startswith("5")
    )
    found.append(Check("no errors", errors == 0, f"{errors} 5xx or failed requests (target 0)"))
    if soak is not None and memory is not None and memory.measured_seconds < memory.warm_up_seconds:
        found.append(
            Check(
                "soak RSS",
                None,
                f"soak too short to judge: warm-up {memory.warm_up_seconds:.0f} s, then only "
                f"{memory.measured_seconds:.0f} s ({memory.samples} samples); RSS "
                f"{memory.after_warm_up:.0f} -> {memory.end:.0f} MiB",
            )
        )
    elif soak is not None and memory is not None:
        short = (
            f" (shorter than the {SOAK_REQUIRED:.0f} s the issue asks for)"
            if soak.wall_seconds < SOAK_REQUIRED
            else ""
        )
        found.append(
            Check(
                "soak RSS",
                memory.growth <= SOAK_GROWTH,
                f"{memory.after_warm_up:.0f} MiB after warm-up -> {memory.end:.0f} MiB at the "
                f"end ({memory.growth:+.1%}, target <= +{SOAK_GROWTH:.0%}), peak "
                f"{memory.peak:.0f} MiB, floors {memory.floor_after_warm_up:.0f} -> "
                f"{memory.floor_end:.0f} MiB, over {soak.wall_seconds:.0f} s" + short,
            )
        )
    elif soak is not None:
        found.append(Check("soak RSS", None, "soak too short: < 2 RSS samples after warm-up"))
    else:
        found.append(Check("soak RSS", None, "no soak (--soak SECONDS)"))
    return found


def _fmt(value: float | None, digits: int = 0) -> str:
    return DASH if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value


TABLE_HEADER = (
    "phase",
    "clients",
    "requests",
    "wall s",
    "ok/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "p99/p50",
    "statuses",
    "wrong",
    "health max ms",
    "RSS MiB min-max",
    "CPU s/ok",
    "load 1m",
)
TABLE_NOTE = (
    "ok/s = 200 answers per second of the phase; latencies of 200 answers, client side; "
    "statuses = answers by HTTP status (error = no answer); wrong = 200 bodies that are not "
    "Azure JSON, or whose size or text differ from the reference pass; health = GET /health "
    "probed every 0.5 s; RSS of the server process, sampled every second; CPU s/ok = server "
    "CPU time per 200 answer; load 1m = the machine's load average at the phase's end (other "
    "processes compete for the cores when it exceeds the CPU count)."
)


def table_row(p: PhaseResult) -> tuple[str, ...]:
    p50, p99 = p.latency_ms(50), p.latency_ms(99)
    low, high = p.rss_range
    return (
        p.name,
        str(p.concurrency),
        str(len(p.answers)),
        _fmt(p.wall_seconds, 1),
        _fmt(p.throughput, 2),
        _fmt(p50),
        _fmt(p.latency_ms(95)),
        _fmt(p99),
        _fmt(p99 / p50 if p50 > 0 else math.nan, 2),
        " ".join(f"{k}:{v}" for k, v in sorted(p.statuses.items())),
        str(len(p.wrong)),
        _fmt(p.health_max_ms),
        f"{_fmt(low)}-{_fmt(high)}",
        _fmt(p.cpu_per_ok, 2),
        _fmt(p.loadavg, 1),
    )


def timeline(samples: Sequence[RssSample], points: int = 10) -> str:
    """A few evenly spaced RSS samples: ``t=0s 812``."""
    if not samples:
        return DASH
    step = max(1, math.ceil(len(samples) / points))
    picked = list(samples[::step])
    if picked[-1] is not samples[-1]:
        picked.append(samples[-1])
    t0 = samples[0].seconds
    return ", ".join(f"t={s.seconds - t0:.0f}s {s.mib:.0f}" for s in picked)


def render(
    phases: Sequence[PhaseResult],
    rss_overall: dict[str, float | None],
    soak: PhaseResult | None,
    memory: SoakMemory | None,
    found: Sequence[Check],
) -> str:
    rows = [TABLE_HEADER, tuple("---" for _ in TABLE_HEADER), *(table_row(p) for p in phases)]
    text = "\n".join("| " + " | ".join(row) + " |" for row in rows)
    text += (
        "\n\n"
        + TABLE_NOTE
        + "\n\nserver RSS (MiB): "
        + ", ".join(f"{k} {_fmt(v)}" for k, v in rss_overall.items())
    )
    if soak is not None:
        text += "\nsoak RSS timeline (MiB): " + timeline(soak.rss)
        if memory is not None:
            text += (
                f"\nsoak RSS: warm-up {memory.warm_up_seconds:.0f} s, then "
                f"{memory.measured_seconds:.0f} s measured; after warm-up "
                f"{memory.after_warm_up:.0f} (floor {memory.floor_after_warm_up:.0f}), end "
                f"{memory.end:.0f} (floor {memory.floor_end:.0f}), peak {memory.peak:.0f}"
            )
    return text + "\n\n" + "\n".join(c.line() for c in found)


def phase_json(p: PhaseResult) -> dict[str, Any]:
    return {
        "phase": p.name,
        "clients": p.concurrency,
        "requests": len(p.answers),
        "wall_seconds": p.wall_seconds,
        "ok_per_second": _num(p.throughput),
        "latency_ms": {f"p{q}": _num(p.latency_ms(q)) for q in (50, 95, 99)},
        "statuses": dict(sorted(p.statuses.items())),
        "missing_retry_after": p.missing_retry_after,
        "wrong": [{"image": a.image, "problem": a.wrong} for a in p.wrong],
        "errors": sorted({a.error for a in p.answers if a.error}),
        "health": {
            "probes": len(p.health),
            "failed": p.health_failures,
            "max_ms": _num(p.health_max_ms),
            "median_ms": statistics.median(h.latency * 1000 for h in p.health)
            if p.health
            else None,
        },
        "rss_mib": {"min": _num(p.rss_range[0]), "max": _num(p.rss_range[1])},
        "server_cpu_seconds": p.server_cpu_seconds,
        "loadavg_1m_end": p.loadavg,
        "answers": [[a.image, a.status, round(a.seconds * 1000.0, 1)] for a in p.answers],
    }


# --- command line ----------------------------------------------------------------------------


def _levels(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if any(level < 1 for level in levels):
        raise argparse.ArgumentTypeError("concurrency levels must be >= 1")
    return levels


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="eval-data dir")
    parser.add_argument("--concurrency", type=_levels, default=[1, 2, 4, 8, 32])
    parser.add_argument("--requests", type=int, default=48, help="requests per level")
    parser.add_argument("--workers", type=int, default=2, help="server --workers")
    parser.add_argument("--threads", type=int, default=_default_threads(), help="server --threads")
    parser.add_argument("--max-queue", type=int, default=16, help="server --max-queue")
    parser.add_argument("--overload-seconds", type=float, default=30.0)
    parser.add_argument("--no-overload", action="store_true", help="skip the overload phase")
    parser.add_argument("--soak", type=float, default=0.0, help="soak seconds (0 = none)")
    parser.add_argument("--soak-concurrency", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="first N images of the mixes")
    parser.add_argument("--json", type=Path, default=None, help="results file")
    args = parser.parse_args(argv)
    if args.json is None:
        args.json = REPO / "bench" / "results" / f"load-{dt.date.today().isoformat()}.json"
    if args.requests < 1 or args.workers < 1 or args.threads < 1 or args.max_queue < 0:
        parser.error("--requests, --workers, --threads must be >= 1, --max-queue >= 0")
    if args.soak < 0 or args.soak_concurrency < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--soak >= 0, --soak-concurrency >= 1, --limit >= 1")
    return args


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _server_problems(log: str) -> list[str]:
    lines = log.splitlines()
    return [line for line in lines if " ERROR " in line or line.startswith("Traceback")][:20]


STAGE_ORDER = ("queue", "body", "decode", "detect", "recognize", "scriptid", "style", "layout")
"""The server's stages (``openread.http.metrics.STAGES``) in the order a request goes through."""
QUANTILES = (0.5, 0.95, 0.99)


def histogram_quantile(q: float, rows: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile``: ``rows`` are sorted cumulative ``(le, count)``
    buckets (``+Inf`` last); the rank is interpolated linearly inside its bucket (the highest
    finite bound when it falls in ``+Inf``). None when the histogram is empty."""
    count = rows[-1][1] if rows else 0.0
    if not count:
        return None
    rank = q * count
    lower, below = 0.0, 0.0
    for le, cumulative in rows:
        if cumulative >= rank:
            if math.isinf(le):
                return lower
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = le, cumulative
    return lower


def stage_histograms(text: str) -> dict[str, dict[str, float | None]]:
    """The server's own per-stage histograms (``openread_stage_seconds``: queue wait, body,
    and the engine's decode, detect, recognize, scriptid, style, layout) and the whole request's
    (``openread_request_seconds``) from its ``/metrics``: count, mean, and p50/p95/p99 in ms
    interpolated in the buckets as Prometheus' ``histogram_quantile`` does."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, list[tuple[float, float]]] = {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("openread_stage_seconds", "openread_request_seconds"):
            continue
        for sample in family.samples:
            name = sample.labels.get("stage") or "request " + sample.labels.get("route", "")
            if sample.name.endswith("_bucket"):
                buckets.setdefault(name, []).append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_sum"):
                sums[name] = sample.value
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    table: dict[str, dict[str, float | None]] = {}
    for name in sorted(buckets, key=lambda n: (order.get(n, len(order)), n)):
        rows = sorted(buckets[name])
        count = rows[-1][1]
        if not count:
            continue
        row: dict[str, float | None] = {
            "count": count,
            "mean_ms": sums.get(name, 0.0) / count * 1000,
        }
        for q in QUANTILES:
            value = histogram_quantile(q, rows)
            row[f"p{round(q * 100)}_ms"] = None if value is None else value * 1000
        table[name] = row
    return table


def render_stages(table: dict[str, dict[str, float | None]]) -> str:
    """The stage histograms as a table (quantiles interpolated in the histogram's buckets)."""
    lines = ["", "server stage histograms (/metrics; ms, quantiles interpolated in buckets)"]
    keys = ("mean_ms", *(f"p{round(q * 100)}_ms" for q in QUANTILES))
    heads = ("mean", *(f"p{round(q * 100)}" for q in QUANTILES))
    lines.append(f"{'stage':<56} {'count':>7} " + " ".join(f"{h:>8}" for h in heads))
    for name, row in table.items():
        cells = [_fmt(row[k], 1) for k in keys]
        lines.append(f"{name:<56} {_fmt(row['count']):>7} " + " ".join(f"{c:>8}" for c in cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not has_eval_data(args.data):
        return 2
    mix = [load_image(args.data, s) for s in LOAD_MIX[: args.limit]]
    soak_mix = [load_image(args.data, s) for s in SOAK_MIX[: args.limit]] if args.soak else []
    every = {image.name: image for image in [*mix, *soak_mix]}
    server_args = ["--workers", str(args.workers), "--threads", str(args.threads)]
    server_args += ["--max-queue", str(args.max_queue)]
    overload_clients = OVERLOAD_FACTOR * (args.workers + args.max_queue)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        log(f"starting openread serve {' '.join(server_args)}")
        server = start_server(server_args, Path(tmp) / "server.log")
        monitor = Monitor(server)
        try:
            monitor.start()
            url = server.base_url + ANALYZE
            monitor.phase = "warm-up"
            reference = asyncio.run(reference_pass(url, list(every.values())))
            rss_warm = monitor.sample_now()
            log(f"reference pass done ({len(reference)} images), server RSS {rss_warm:.0f} MiB")
            levels = [
                run_phase(
                    monitor, f"c={c}", url, mix, reference, concurrency=c, requests=args.requests
                )
                for c in args.concurrency
            ]
            overload = None
            if not args.no_overload:
                overload = run_phase(
                    monitor,
                    "overload",
                    url,
                    mix,
                    reference,
                    concurrency=overload_clients,
                    seconds=args.overload_seconds,
                )
            soak = memory = None
            if args.soak:
                soak_start = monitor.now()  # the soak's clock starts a moment later
                soak = run_phase(
                    monitor,
                    "soak",
                    url,
                    soak_mix,
                    reference,
                    concurrency=args.soak_concurrency,
                    seconds=args.soak,
                )
                warm_up = soak_warm_up_seconds(soak, soak_mix)
                memory = soak_memory(soak, soak_start, soak_start + warm_up)
            rss_end = monitor.sample_now()
            stages = stage_histograms(httpx.get(server.base_url + "/metrics", timeout=10).text)
        finally:
            monitor.stop()
            exit_code = server.stop()
            problems = _server_problems(server.log())
    phases = [*levels, *([overload] if overload else []), *([soak] if soak else [])]
    all_rss = [s.mib for s in monitor.rss]
    rss_overall = {
        "after warm-up": rss_warm,
        "min": min(all_rss, default=math.nan),
        "max": max(all_rss, default=math.nan),
        "end": rss_end,
    }
    found = checks(levels, overload, soak, memory)
    print(render(phases, rss_overall, soak, memory, found))
    print(render_stages(stages))
    if problems:
        log("server log errors:\n" + "\n".join(problems))
    payload = {
        "meta": {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "data": str(args.data),
            "server": {
                "command": " ".join(server.command),
                "workers": args.workers,
                "threads": args.threads,
                "max_queue": args.max_queue,
                "exit_code": exit_code,
                "log_errors": problems,
            },
            "requests_per_level": args.requests,
            "concurrency": args.concurrency,
            "overload_clients": None if args.no_overload else overload_clients,
            "overload_seconds": None if args.no_overload else args.overload_seconds,
            "soak_seconds": args.soak,
            "soak_concurrency": args.soak_concurrency if args.soak else None,
            "mix": [image.name for image in mix],
            "soak_mix": [image.name for image in soak_mix],
            "cpus": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
            "versions": {p: _version(p) for p in ("openread", "onnxruntime", "httpx")},
            "note": TABLE_NOTE,
        },
        "phases": [phase_json(p) for p in phases],
        "stages_from_metrics": stages,
        "rss_mib": {
            "after_warm_up": rss_warm,
            "min": _num(rss_overall["min"] or math.nan),
            "max": _num(rss_overall["max"] or math.nan),
            "end": rss_end,
            "timeline": [[round(s.seconds, 1), s.phase, round(s.mib, 1)] for s in monitor.rss],
        },
        "soak_memory_mib": None
        if memory is None
        else {
            "warm_up_seconds": memory.warm_up_seconds,
            "measured_seconds": memory.measured_seconds,
            "after_warm_up": memory.after_warm_up,
            "end": memory.end,
            "floor_after_warm_up": memory.floor_after_warm_up,
            "floor_end": memory.floor_end,
            "peak": memory.peak,
            "samples": memory.samples,
            "growth": memory.growth,
        },
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in found],
    }
    write_results(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

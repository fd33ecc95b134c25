"""Sync-vs-job benchmark: synchronous 4.0 ``analyze`` latency alone and while a v3.2 Read job of
a big PDF runs on the same server, and the job's pages per second.

    python -m bench.jobs [--pages 100] [--sync N] [--workers 2] [--threads N] [--json OUT]

A real ``openread serve`` is started (``--workers``, one job worker, a temporary data dir). The
PDF is generated: ``--pages`` Letter pages of rendered text (5 lines each, 150 dpi images). The
synchronous request is one rendered text page (PNG, 850 x 1100) sent by one client in a closed
loop. Phases: ``sync alone`` (``--sync`` requests), then the PDF is submitted to
``/vision/v3.2/read/analyze`` and the same client loops until the job has succeeded
(``sync during job``); the job's pages/s is its page count over submit-to-succeeded time.

    python -m bench.jobs --memory [--pages 2000] [--json OUT]

``--memory``: the server's peak RSS while one job of a ``--pages``-page PDF runs (small pages,
3 x 1 inch with one line of text each, so that 2000 pages take minutes, not hours: what is
measured is whether memory grows with the page count, i.e. whether pages are rendered one at a
time). The server's RSS (its process tree, ``/proc/<pid>/status`` VmRSS) and its
``openread_pages_read_total`` are sampled every 0.25 s; the table gives the RSS before the
submit, when 10 %, 50 % and 100 % of the pages were read, the peak, and the growth from 10 % to
the end per 1000 pages (a leak per page shows there).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageFont

from bench._proc import percentile, rss_tree_mib, start_server

FONT = "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"
ANALYZE = "/computervision/imageanalysis:analyze?api-version=2024-02-01&features=read"
OCTET = {"Content-Type": "application/octet-stream"}


def _page(number: int) -> Image.Image:
    image = Image.new("RGB", (1275, 1650), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 40)
    for row in range(5):
        draw.text(
            (100, 120 + row * 90), f"Page {number} line {row + 1} of the report", "black", font
        )
    return image


def make_pdf(pages: int) -> bytes:
    images = [_page(n + 1) for n in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=150)
    return buffer.getvalue()


def sync_image() -> bytes:
    buffer = io.BytesIO()
    _page(0).resize((850, 1100)).save(buffer, format="PNG")
    return buffer.getvalue()


def _small_page(number: int) -> Image.Image:
    image = Image.new("L", (300, 100), 255)  # 3 x 1 inch at 100 dpi
    ImageDraw.Draw(image).text((20, 30), f"Page {number}", 0, ImageFont.truetype(FONT, 36))
    return image


def make_small_pdf(pages: int) -> bytes:
    """A ``pages``-page PDF of 3 x 1 inch pages, one line of text each."""
    images = [_small_page(n + 1) for n in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=100)
    return buffer.getvalue()


def _pages_read(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("openread_pages_read_total "):
            return float(line.split()[1])
    return 0.0


def memory(pages: int, json_out: Path | None) -> int:
    """Peak RSS of the server while a ``pages``-page job runs (see the module docstring)."""
    pdf = make_small_pdf(pages)
    samples: list[tuple[float, float, float]] = []  # (seconds, pages read, RSS MiB)
    with tempfile.TemporaryDirectory() as tmp:
        serve_args = ["--data-dir", tmp, "--job-workers", "1"]
        server = start_server(serve_args, Path(tmp) / "server.log")
        try:
            with httpx.Client(base_url=server.base_url, timeout=300) as client:
                before = rss_tree_mib(server.pid) or 0.0
                started = time.perf_counter()
                response = client.post("/vision/v3.2/read/analyze", content=pdf, headers=OCTET)
                response.raise_for_status()
                location = response.headers["operation-location"]
                status = "notStarted"
                polled = 0.0
                while status in ("notStarted", "running"):
                    now = time.perf_counter() - started
                    samples.append((now, _pages_read(client), rss_tree_mib(server.pid) or 0.0))
                    if now - polled > 2:
                        polled = now
                        status = client.get(location).json()["status"]
                    time.sleep(0.25)
                seconds = time.perf_counter() - started
                body = client.get(location).json()
                after = rss_tree_mib(server.pid) or 0.0
        finally:
            server.stop()
    read = len(body["analyzeResult"]["readResults"]) if status == "succeeded" else 0

    def at(share: float) -> float:
        return next((rss for _, done, rss in samples if done >= share * pages), math.nan)

    peak = max([before, after, *(rss for _, _, rss in samples)])
    growth = (after - at(0.1)) / (0.9 * pages) * 1000
    rows = [
        ("before submit", before),
        ("10 % read", at(0.1)),
        ("50 % read", at(0.5)),
        ("finished", after),
        ("peak", peak),
        ("peak - before", peak - before),
        ("growth 10 %..end per 1000 pages", growth),
    ]
    print(
        f"job: {read} of {pages} pages ({status}) in {seconds:.1f} s = "
        f"{read / seconds:.2f} pages/s, PDF {len(pdf) / 2**20:.1f} MiB"
    )
    print(f"{'server RSS':<34} {'MiB':>8}")
    for name, value in rows:
        print(f"{name:<34} {value:>8.1f}")
    if json_out:
        report = {
            "pages": pages,
            "pages_read": read,
            "seconds": seconds,
            "pdf_bytes": len(pdf),
            "rss_mib": dict(rows),
            "samples": [{"s": t, "pages_read": d, "rss_mib": r} for t, d, r in samples],
        }
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if status == "succeeded" and read == pages else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=None, help="100, or 2000 with --memory")
    parser.add_argument("--memory", action="store_true", help="peak RSS of one big job")
    parser.add_argument("--sync", type=int, default=20, help="requests in the 'alone' phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.memory:
        return memory(args.pages or 2000, args.json)
    args.pages = args.pages or 100
    pdf, image = make_pdf(args.pages), sync_image()
    with tempfile.TemporaryDirectory() as tmp:
        serve_args = ["--workers", str(args.workers), "--data-dir", tmp, "--job-workers", "1"]
        if args.threads:
            serve_args += ["--threads", str(args.threads)]
        server = start_server(serve_args, Path(tmp) / "server.log")
        try:
            with httpx.Client(base_url=server.base_url, timeout=300) as client:

                def one() -> float:
                    started = time.perf_counter()
                    response = client.post(ANALYZE, content=image, headers=OCTET)
                    response.raise_for_status()
                    return time.perf_counter() - started

                one()  # warm
                alone = [one() for _ in range(args.sync)]
                submitted = time.perf_counter()
                response = client.post("/vision/v3.2/read/analyze", content=pdf, headers=OCTET)
                response.raise_for_status()
                location = response.headers["operation-location"]
                during: list[float] = []
                status = "notStarted"
                while status in ("notStarted", "running"):
                    during.append(one())
                    status = client.get(location).json()["status"]
                while status in ("notStarted", "running"):
                    time.sleep(0.5)
                    status = client.get(location).json()["status"]
                job_seconds = time.perf_counter() - submitted
                body = client.get(location).json()
        finally:
            server.stop()
    pages = len(body["analyzeResult"]["readResults"]) if status == "succeeded" else 0
    rows = [
        ("sync alone", len(alone), percentile(alone, 50), percentile(alone, 99)),
        ("sync during job", len(during), percentile(during, 50), percentile(during, 99)),
    ]
    print(
        f"job: {pages} pages ({status}) in {job_seconds:.1f} s = {pages / job_seconds:.2f} pages/s"
    )
    print(f"{'phase':<16} {'n':>4} {'p50 ms':>8} {'p99 ms':>8}")
    for name, count, p50, p99 in rows:
        print(f"{name:<16} {count:>4} {p50 * 1000:>8.0f} {p99 * 1000:>8.0f}")
    if args.json:
        report = {
            "pages": pages,
            "job_seconds": job_seconds,
            "pages_per_second": pages / job_seconds,
            "phases": [{"phase": n, "n": c, "p50_s": a, "p99_s": b} for n, c, a, b in rows],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Sync-vs-job benchmark: synchronous 4.0 ``analyze`` latency alone and while a v3.2 Read job of
a big PDF runs on the same server, and the job's pages per second.

    python -m bench.jobs [--pages 100] [--sync N] [--workers 2] [--threads N] [--json OUT]

A real ``openread serve`` is started (``--workers``, one job worker, a temporary data dir). The
PDF is generated: ``--pages`` Letter pages of rendered text (5 lines each, 150 dpi images). The
synchronous request is one rendered text page (PNG, 850 x 1100) sent by one client in a closed
loop. Phases: ``sync alone`` (``--sync`` requests), then the PDF is submitted to
``/vision/v3.2/read/analyze`` and the same client loops until the job has succeeded
(``sync during job``); the job's pages/s is its page count over submit-to-succeeded time.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageFont

from bench._proc import percentile, start_server

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--sync", type=int, default=20, help="requests in the 'alone' phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
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

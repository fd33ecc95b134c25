"""Bulk throughput: ``openread bulk`` (local worker processes, and on a local Ray cluster)
against one process reading the same inputs in a loop, openread's and RapidOCR's. Prints
images/s and pages/s side by side, and the peak RSS of each worker process.

    python -m bench.bulk [--images 16] [--tiff-pages 4] [--pdf-pages 4] [--repeats 2]
                         [--no-ray] [--variant NAME="BULK ARGS"]... [--eval-data DIR]

The row set is ``--images`` icdar15 images, one multi-page TIFF and one PDF made of the next
icdar15 images (1280 x 720 pages; the PDF at 200 dpi, the resolution openread renders PDFs at,
so its pages are read at the same size). Every side runs in its own subprocess from start to
end, model loading included (that is what a user waits for), on the same inputs; the sides run
``--repeats`` times interleaved (A B C A B C ...) and the table shows the median, so a busy
machine slows every side alike. ``images/s`` counts inputs (the TIFF and the PDF are one each),
``pages/s`` pages.

* ``openread bulk (local)``: ``openread bulk INPUTS --out DIR`` with default settings
  (``parallel.bulk_plan``: one worker process per CPU, one onnxruntime thread each, forked
  from one loaded engine); ``--variant NAME="--spawn"`` adds rows with other bulk arguments.
* ``openread bulk (ray)``: the same on a Ray cluster started here (``ray start --head
  --num-cpus 2`` on loopback, not counted) with 2 actors.
* ``openread loop``: one process, one ``Engine`` with its default threads, every page read in
  turn with the same per-page work as a bulk worker (``bulk.local.read_source``: decode, read,
  the Azure JSON), rows not written.
* ``rapidocr loop``: one process, RapidOCR 3.10's default pipeline with as many onnxruntime
  threads, on the same pages (documents split into pages with ``openread.documents``).

Peak RSS per worker: the largest resident set (psutil, sampled every 0.1 s) any one worker
process reached: bulk's worker processes (not its parent), Ray's actor processes, the loop's
single process; and the largest proportional set size (PSS: pages shared with other processes
counted by share), which is lower for bulk's forked workers, whose models are shared
copy-on-write with the parent and each other. ``CPU s``: user + system seconds of the command
and the processes it waited for (not Ray's actors, which belong to the cluster). On a machine
where other work keeps the cores busy (Linux's autogroup scheduler gives each session one
share, however many processes it runs), wall times follow CPU seconds more than parallelism.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
_CLI = "import sys; from openread.cli import main; sys.exit(main())"
_LOOP = """
import sys
from openread import Engine, Settings
from openread.bulk.local import read_source
engine = Engine.load(Settings.from_env())
rows = [row for source in sys.argv[1:] for row in read_source(engine, source)]
bad = [row for row in rows if row.error_code is not None]
assert not bad, bad
print(len(rows), "pages")
"""
_RAPID = """
import os, sys
from pathlib import Path
from rapidocr import RapidOCR
from openread import Settings, documents
from openread.pipeline import decode
threads = os.cpu_count() or 1
ocr = RapidOCR(params={"Global.log_level": "error",
                       "EngineConfig.onnxruntime.intra_op_num_threads": threads})
settings = Settings.from_env()
pages = 0
for source in sys.argv[1:]:
    data = Path(source).read_bytes()
    if documents.kind_of(data) == "image":
        images = [decode.decode_bytes(data, settings.limits)]
    else:
        with documents.open_document(data, settings) as document:
            images = [document.page(n).image for n in range(1, document.page_count + 1)]
    for image in images:
        ocr(image.pixels)  # BGR, as RapidOCR takes arrays
        pages += 1
print(pages, "pages")
"""


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    worker_rss: float
    """MiB: the largest peak resident set of one worker process."""
    worker_pss: float
    """MiB: the largest peak proportional set size of one worker (shared pages divided among
    the processes sharing them: what the forked workers' shared models really cost each)."""
    workers: int
    cpu: float
    """CPU seconds (user + system) of the command and every process it waited for."""


class _Sampler:
    """Peak RSS per process of ``root``'s tree (and of Ray actor processes), sampled."""

    def __init__(self, root: int, ray: bool) -> None:
        self.root = root
        self._ray = ray
        self.peaks: dict[int, float] = {}
        self.pss: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.root)
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            found = []
        if self._ray:
            for process in psutil.process_iter(["cmdline"]):
                command = process.info["cmdline"] or []
                if command and command[0].startswith("ray::") and "Reader" in command[0]:
                    found.append(process)
        return found

    def _loop(self) -> None:
        while not self._stop.is_set():
            for process in self._processes():
                try:
                    memory = process.memory_full_info()
                    rss, pss = memory.rss / 2**20, getattr(memory, "pss", 0) / 2**20
                    name = " ".join(process.cmdline()[:3])
                except psutil.Error:
                    continue
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0.0), rss)
                self.pss[process.pid] = max(self.pss.get(process.pid, 0.0), pss)
                self.names[process.pid] = name
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENREAD_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def _measure(
    command: list[str], env: dict[str, str], workers: Callable[[_Sampler], list[int]], ray: bool
) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    sampler = _Sampler(proc.pid, ray)
    code = proc.wait()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sampler.stop()
    if code != 0:
        raise SystemExit(f"failed ({code}): {shlex.join(command)}")
    pids = workers(sampler)
    rss = max((sampler.peaks[p] for p in pids), default=0.0)
    pss = max((sampler.pss[p] for p in pids), default=0.0)
    return Run(seconds, rss, pss, len(pids), cpu)


def _bulk_workers(sampler: _Sampler) -> list[int]:
    """Bulk's worker processes: its children (forked or spawned), not multiprocessing's
    resource tracker; with ``--processes 1`` the command's own process."""
    pids = [
        p
        for p, name in sampler.names.items()
        if p != sampler.root and "resource_tracker" not in name
    ]
    return pids or [sampler.root]


def _all(sampler: _Sampler) -> list[int]:
    return list(sampler.peaks)


def _ray_workers(sampler: _Sampler) -> list[int]:
    return [p for p, name in sampler.names.items() if name.startswith("ray::")]


def _inputs(
    eval_data: Path, folder: Path, images: int, tiff: int, pdf: int
) -> tuple[list[str], int]:
    pool = sorted((eval_data / "icdar15" / "images").glob("*.jpg"))
    if len(pool) < images + tiff + pdf:
        raise SystemExit(f"only {len(pool)} icdar15 images")
    paths = [str(p) for p in pool[:images]]
    frames = [Image.open(p).convert("RGB") for p in pool[images : images + tiff]]
    if frames:
        target = folder / "scan.tif"
        frames[0].save(target, format="TIFF", save_all=True, append_images=frames[1:])
        paths.append(str(target))
    sheets = [Image.open(p).convert("RGB") for p in pool[images + tiff : images + tiff + pdf]]
    if sheets:
        buffer = io.BytesIO()
        sheets[0].save(
            buffer, format="PDF", save_all=True, append_images=sheets[1:], resolution=200
        )
        target = folder / "doc.pdf"
        target.write_bytes(buffer.getvalue())
        paths.append(str(target))
    return paths, images + tiff + pdf


class _RayCluster:
    """``ray start --head --num-cpus 2`` on loopback, stopped by ``stop``."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self._ray = str(Path(sys.executable).with_name("ray"))
        self._temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        self.env = _env({"RAY_TMPDIR": self._temp})
        start = [self._ray, "start", "--head", "--num-cpus", "2", "--port", str(port)]
        start += ["--temp-dir", self._temp, "--node-ip-address", "127.0.0.1"]
        start += ["--include-dashboard", "false"]
        subprocess.run(start, check=True, env=self.env, capture_output=True)
        self.address = f"127.0.0.1:{port}"

    def stop(self) -> None:
        subprocess.run([self._ray, "stop", "--force"], check=False, env=self.env,
                       capture_output=True)  # fmt: skip
        shutil.rmtree(self._temp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--tiff-pages", type=int, default=4)
    parser.add_argument("--pdf-pages", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-ray", dest="ray", action="store_false")
    parser.add_argument("--no-rapidocr", dest="rapidocr", action="store_false")
    parser.add_argument("--variant", action="append", default=[], metavar='NAME="ARGS"')
    parser.add_argument("--eval-data", type=Path, default=REPO.parent / "shared" / "eval-data")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    cluster = None
    try:
        paths, pages = _inputs(args.eval_data, work, args.images, args.tiff_pages, args.pdf_pages)
        python = [sys.executable, "-c"]
        sides: list[tuple[str, Callable[[], Run]]] = []

        def bulk(extra: list[str], env: dict[str, str] | None = None) -> Callable[[], Run]:
            def side() -> Run:
                out = tempfile.mkdtemp(dir=work)
                command = [*python, _CLI, "bulk", *paths, "--out", out, "--no-progress", *extra]
                is_ray = "--ray" in extra
                pick = _ray_workers if is_ray else _bulk_workers
                return _measure(command, env or _env(), pick, is_ray)

            return side

        sides.append(("openread bulk (local)", bulk([])))
        for variant in args.variant:
            name, _, extra = variant.partition("=")
            sides.append((f"openread bulk {name}", bulk(shlex.split(extra))))
        if args.ray:
            cluster = _RayCluster()
            ray_args = ["--ray", cluster.address, "--processes", "2"]
            sides.append(("openread bulk (ray, 2 actors)", bulk(ray_args, cluster.env)))
        loop = [*python, _LOOP, *paths]
        sides.append(("openread loop (1 proc)", lambda: _measure(loop, _env(), _all, False)))
        if args.rapidocr:
            rapid = [*python, _RAPID, *paths]
            sides.append(("rapidocr loop (1 proc)", lambda: _measure(rapid, _env(), _all, False)))
        runs: dict[str, list[Run]] = {name: [] for name, _ in sides}
        for _ in range(args.repeats):
            for name, side in sides:
                runs[name].append(side())
                print(f"  {name}: {runs[name][-1].seconds:.1f} s", file=sys.stderr)
        load = os.getloadavg()
        print(
            f"{len(paths)} inputs: {args.images} icdar15 images, a {args.tiff_pages}-page TIFF, "
            f"a {args.pdf_pages}-page PDF = {pages} pages; {os.cpu_count()} CPUs, "
            f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) at the end; "
            f"median of {args.repeats} interleaved runs"
        )
        header = f"{'side':<32} {'images/s':>8} {'pages/s':>8} {'seconds':>8} {'runs (s)':<18}"
        print(f"{header} {'CPU s':>6} {'workers':>7} {'peak RSS/worker':>15} {'PSS':>8}")
        for name, measured in runs.items():
            seconds = statistics.median(r.seconds for r in measured)
            each = " ".join(f"{r.seconds:.1f}" for r in measured)
            rss = max(r.worker_rss for r in measured)
            pss = max(r.worker_pss for r in measured)
            workers = max(r.workers for r in measured)
            cpu = statistics.median(r.cpu for r in measured)
            print(
                f"{name:<32} {len(paths) / seconds:>8.2f} {pages / seconds:>8.2f} "
                f"{seconds:>8.1f} {each:<18} {cpu:>6.1f} {workers:>7} "
                f"{rss:>11.0f} MiB {pss:>4.0f} MiB"
            )
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

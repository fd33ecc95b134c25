"""In-process CPU seconds per answer on bench.load's images, for A/B comparisons of two source
trees (e.g. two commits checked out in two git worktrees), interleaved in one run.

    python -m bench.cpu_ab --src A=/work/wt-old/src --src B=src [--rounds 3] [--passes 2]
                           [--concurrency 1] [--threads 2] [--data DIR]

Each round starts one fresh Python process per source tree, in turn (A, B, A, B, ...), with
``PYTHONPATH`` set to that tree's ``src`` (so its ``openread`` is imported). A process loads
the engine (``Settings(threads=...)``, everything else default), warms it up, reads
bench.load's mix (``bench.load.LOAD_MIX``: the same six images, label crops cut the same way)
once uncounted, then ``--passes`` times counted, on ``--concurrency`` threads at once (1: one
image after the other, like one client; 2: like the server's two workers), and prints the CPU
seconds (``time.process_time``: every thread of the process) and wall seconds per image. The
table gives the median over rounds per tree and the ratio B/A. The line texts of every image
are compared too (a change in answers shows up as ``differs``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .accuracy import default_data_dir

_CHILD = r"""
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
sys.path.insert(0, {bench_root!r})
from bench.load import LOAD_MIX, load_image
import openread
from openread.engine import Engine
from openread.settings import Settings

images = [load_image(Path({data!r}), s) for s in LOAD_MIX]
engine = Engine(Settings(threads={threads}))
engine.warm_up()

def read(image):
    result = engine.read(image.data)
    return [line.text for block in result.blocks for line in block.lines]

texts = [read(im) for im in images]
runs = []
with ThreadPoolExecutor(max_workers={concurrency}) as pool:
    for _ in range({passes}):
        c0, w0 = time.process_time(), time.perf_counter()
        list(pool.map(read, images))
        runs.append((time.process_time() - c0, time.perf_counter() - w0))
print(json.dumps({{"file": openread.__file__, "runs": runs, "images": len(images),
                  "texts": texts}}))
"""


def run_child(
    src: Path, data: Path, threads: int, concurrency: int, passes: int
) -> dict[str, object]:
    code = _CHILD.format(
        bench_root=str(Path(__file__).resolve().parent.parent),
        data=str(data),
        threads=threads,
        concurrency=concurrency,
        passes=passes,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENREAD_")}
    env["PYTHONPATH"] = str(src.resolve())
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", required=True, help="NAME=path/to/src")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=default_data_dir())
    args = parser.parse_args(argv)
    trees = [tuple(s.split("=", 1)) for s in args.src]
    cpu: dict[str, list[float]] = {name: [] for name, _ in trees}
    wall: dict[str, list[float]] = {name: [] for name, _ in trees}
    texts: dict[str, object] = {}
    for round_ in range(args.rounds):
        for name, src in trees:
            out = run_child(Path(src), args.data, args.threads, args.concurrency, args.passes)
            n = int(str(out["images"]))
            runs: list[list[float]] = out["runs"]  # type: ignore[assignment]
            for c, w in runs:
                cpu[name].append(c / n)
                wall[name].append(w / n)
            texts.setdefault(name, out["texts"])
            print(
                f"round {round_} {name} ({out['file']}): "
                + ", ".join(f"cpu {c / n:.2f} wall {w / n:.2f}" for c, w in runs)
                + f"  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    first = trees[0][0]
    print(
        "\n| tree | CPU s/image (median) | wall s/image (median) | CPU ratio | wall ratio |", end=""
    )
    print(" texts |")
    print("|---|---|---|---|---|---|")
    for name, _ in trees:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        c0, w0 = statistics.median(cpu[first]), statistics.median(wall[first])
        same = "same" if texts[name] == texts[first] else "differs"
        print(f"| {name} | {c:.2f} | {w:.2f} | {c / c0:.2f} | {w / w0:.2f} | {same} |")
    print(f"load average now: {os.getloadavg()}  ({time.strftime('%H:%M:%S')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

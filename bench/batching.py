"""Would batching crops across concurrent requests pay? The recogniser's cost per crop by batch
size, and two requests' batches read one after the other, concurrently, or merged into one.

    python -m bench.batching [--threads 2] [--repeats 5] [--widths 320,640]

The shipped PP-OCRv6 small recogniser is run through onnxruntime with the service's session
options (``parallel.session_options``: intra-op threads that do not spin, the shared arena) on
inputs of the service's geometry (48 px high, ``--widths`` wide, values in [-1, 1]: a dense
network costs the same whatever the pixels). Each figure is the median of ``--repeats`` timed
calls after one untimed call. The service reads a page's crops in batches of
``RecognizeOptions.batch_size`` (6); cross-request batching would merge the batches of the two
images the server reads at once (``workers``) into one call.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from openread.models import RECOGNIZER, OnnxModel
from openread.pipeline.recognize import RecognizeOptions

BATCHES = (1, 2, 3, 6, 12, 24)


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batching", description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (service: CPUs)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", default="320,640", help="crop widths after resizing, px")
    args = parser.parse_args(argv)
    shared = OnnxModel(RECOGNIZER, args.threads)
    one_a, one_b = OnnxModel(RECOGNIZER, 1), OnnxModel(RECOGNIZER, 1)
    rng = np.random.default_rng(0)
    height = RecognizeOptions().height
    per_request = RecognizeOptions().batch_size
    widths = [int(w) for w in args.widths.split(",")]

    def crops(n: int, width: int) -> npt.NDArray[np.float32]:
        return rng.uniform(-1.0, 1.0, (n, 3, height, width)).astype(np.float32)

    print(f"recogniser {RECOGNIZER.path}, {args.threads} threads, {os.cpu_count()} CPUs")
    print()

    def run(model: OnnxModel, batch: npt.NDArray[np.float32]) -> None:
        model.run(batch)

    def in_turn(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> None:
        run(shared, a)
        run(shared, b)

    def concurrent(
        first: OnnxModel,
        second: OnnxModel,
        a: npt.NDArray[np.float32],
        b: npt.NDArray[np.float32],
    ) -> None:
        threads = [
            threading.Thread(target=run, args=(first, a)),
            threading.Thread(target=run, args=(second, b)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    print(f"| width | batch | ms a call | ms a crop ({args.threads} threads) |")
    print("| --- | --- | --- | --- |")
    for width in widths:
        for n in BATCHES:
            ms = 1e3 * _median_s(functools.partial(run, shared, crops(n, width)), args.repeats)
            print(f"| {width} | {n} | {ms:.1f} | {ms / n:.1f} |", flush=True)
    print()
    print(f"| width | two requests' batches ({per_request} + {per_request} crops) | ms wall |")
    print("| --- | --- | --- |")
    for width in widths:
        a, b = crops(per_request, width), crops(per_request, width)
        rows: list[tuple[str, Callable[[], object]]] = [
            ("one after the other", functools.partial(in_turn, a, b)),
            (
                "concurrent on one session (the service today)",
                functools.partial(concurrent, shared, shared, a, b),
            ),
            (
                "concurrent on two 1-thread sessions",
                functools.partial(concurrent, one_a, one_b, a, b),
            ),
            (
                f"merged into one batch of {2 * per_request}",
                functools.partial(run, shared, np.concatenate([a, b])),
            ),
        ]
        for label, fn in rows:
            print(f"| {width} | {label} | {1e3 * _median_s(fn, args.repeats):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

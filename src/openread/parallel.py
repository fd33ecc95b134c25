"""The one owner of parallelism: onnxruntime thread counts, the threads that try several
Tesseract models on one line at once (``thread_map``), and the server's bounded admission.

Stages never start threads. Inside one model call onnxruntime uses ``threads`` intra-op threads
(a setting, default the number of CPUs). Across requests, at most ``workers`` images are read at
the same time, on a dedicated thread limiter, and at most ``max_queue`` more wait; beyond that a
request is refused at once with ``BusyError`` (HTTP 429 + Retry-After), so the server never
queues without bound and never oversubscribes the cores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio
import anyio.to_thread

from .errors import BusyError

__all__ = ["Admission", "session_options", "thread_map"]

T = TypeVar("T")
U = TypeVar("U")


def thread_map(fn: Callable[[T], U], items: Sequence[T], threads: int) -> list[U]:
    """``[fn(x) for x in items]`` on up to ``threads`` threads (for work that releases the GIL,
    such as libtesseract); results in ``items`` order, the first exception re-raised. The
    threads live only for this call."""
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(fn, items))


def session_options(threads: int) -> object:
    """onnxruntime ``SessionOptions`` for one model: ``threads`` intra-op threads, one inter-op
    thread, sequential execution, full graph optimisation, and no memory-arena growth without
    bound (arena off: the tensors change size with every image)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    return options


class Admission:
    """Runs blocking work on at most ``workers`` threads with at most ``max_queue`` waiting.

    ``run`` is called from the event loop; it raises ``BusyError`` immediately when
    ``workers + max_queue`` calls are already admitted. Create it inside the running event loop
    (the server's lifespan).
    """

    def __init__(self, workers: int, max_queue: int, retry_after: int = 1) -> None:
        if workers < 1 or max_queue < 0:
            raise ValueError("workers must be >= 1 and max_queue >= 0")
        self.workers = workers
        self.max_queue = max_queue
        self.retry_after = retry_after
        self._limiter = anyio.CapacityLimiter(workers)
        self._admitted = 0

    @property
    def in_flight(self) -> int:
        """Calls admitted and not finished (running or waiting)."""
        return self._admitted

    async def run(self, fn: Callable[[], T]) -> T:
        if self._admitted >= self.workers + self.max_queue:
            raise BusyError(retry_after=self.retry_after)
        self._admitted += 1
        try:
            return await anyio.to_thread.run_sync(fn, limiter=self._limiter)
        finally:
            self._admitted -= 1

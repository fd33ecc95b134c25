"""The one owner of parallelism: onnxruntime thread counts, the threads that try several
Tesseract models on one line at once (``thread_map``), and the server's bounded admission.

Stages never start threads (nor hold memory of their own between calls: the models share one
memory arena, ``shared_arena``). Inside one model call onnxruntime uses ``threads`` intra-op
threads (a setting, default the number of CPUs). Across requests, at most ``workers`` images are
read at the same time, on a dedicated thread limiter, and at most ``max_queue`` more wait;
beyond that a request is refused at once with ``BusyError`` (HTTP 429 + Retry-After), so the
server never queues without bound. Request bodies are admitted by bytes too (``ByteBudget``),
before they are read, so held uploads cannot take memory past the budget. Intra-op threads do
not spin (``session_options``), so two images in flight (the default ``workers``) share the
cores: while one is in Python or Tesseract work, the other's model calls run."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

from .errors import BusyError

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["Admission", "ByteBudget", "bulk_plan", "session_options", "shared_arena", "thread_map"]

T = TypeVar("T")
U = TypeVar("U")


def thread_map(
    fn: Callable[[T], U],
    items: Sequence[T],
    threads: int,
    until: Callable[[U], bool] | None = None,
) -> list[U | None]:
    """``[fn(x) for x in items]`` on up to ``threads`` threads (for work that releases the GIL,
    such as libtesseract); results in ``items`` order, the first exception re-raised. The
    threads live only for this call.

    With ``until``, items are started in order and none is started once a result satisfies
    it: the items never started get ``None`` (those already running finish, so with several
    threads a few items after the satisfying one may have results too)."""
    results: list[U | None] = [None] * len(items)
    if threads <= 1 or len(items) <= 1:
        for index, item in enumerate(items):
            results[index] = result = fn(item)
            if until is not None and until(result):
                break
        return results
    lock = threading.Lock()
    upcoming = iter(range(len(items)))
    done = False

    def work() -> None:
        nonlocal done
        while True:
            with lock:
                index = None if done else next(upcoming, None)
            if index is None:
                return
            result = fn(items[index])
            with lock:
                results[index] = result
                if until is not None and until(result):
                    done = True

    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        for future in [pool.submit(work) for _ in range(min(threads, len(items)))]:
            future.result()
    return results


def session_options(threads: int) -> object:
    """onnxruntime ``SessionOptions`` for one model: ``threads`` intra-op threads that do not
    spin, one inter-op thread, sequential execution, full graph optimisation, and the process's
    shared memory arena (``shared_arena``)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = True
    if shared_arena():
        options.add_session_config_entry("session.use_env_allocators", "1")
    options.log_severity_level = 3
    # Intra-op threads sleep between model calls instead of spinning: a spinning pool burns a
    # core while the caller does Python or Tesseract work, and with two images in flight the
    # two pools fight for the cores (bench.load on 2 cores, 2 workers x 2 threads, concurrency
    # 8: 1.54 ok/s without spinning, 1.17 with it; single images read in the same time or less,
    # with 20-30 % less CPU).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


@functools.cache
def shared_arena() -> bool:
    """Register, once per process, one CPU memory arena that every model session shares, and
    say whether it could be (else each session keeps its own arena).

    An arena reuses its buffers from call to call instead of asking the system for fresh memory
    each time: the detector runs 13 % and the recogniser 15-25 % faster than with the arena off
    (measured ad hoc, see docs/performance.md).
    It grows to the largest working set it has served and keeps it; this one grows by exactly
    what is requested (not by powers of two) and is shared, so memory stays low and flat: after
    ``ModelStore.warm_up`` (which runs the largest usual shapes) a sweep of 60 random detector
    and recogniser shapes within the detector's pixel budget grew RSS from 608 to 762 MiB in the
    first 10 and not at all in the next 50 (per-session power-of-two arenas: 911 to 1135 MiB,
    still growing; arena off: 443 to 721 MiB, still growing, and 30 % slower)."""
    import onnxruntime as ort

    try:
        config = ort.OrtArenaCfg(0, 1, -1, -1)  # no cap, kSameAsRequested, default chunks
        info = ort.OrtMemoryInfo(
            "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
        )
        ort.create_and_register_allocator(info, config)
    except Exception:  # an onnxruntime without it: each session keeps its own arena
        return False
    return True


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


class ByteBudget:
    """The bytes of request bodies the server holds at once, reserved before they are read.

    ``reserve`` raises ``BusyError`` (429 + Retry-After) when ``capacity`` would be exceeded,
    except when nothing is reserved at all (so one body larger than the whole budget, such as
    a big PDF, is still served alone). Single-threaded: call it from the event loop only.
    """

    def __init__(self, capacity: int, retry_after: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.retry_after = retry_after
        self._used = 0

    @property
    def used(self) -> int:
        """Bytes reserved and not released."""
        return self._used

    def reserve(self, count: int) -> None:
        """Reserve ``count`` more bytes, or raise ``BusyError``."""
        if count <= 0:
            return
        if self._used and self._used + count > self.capacity:
            raise BusyError(
                "The server is busy: too many request bodies are being received. Please retry.",
                retry_after=self.retry_after,
            )
        self._used += count

    def release(self, count: int) -> None:
        self._used = max(0, self._used - count)


def bulk_plan(settings: Settings, processes: int | None = None) -> tuple[int, int]:
    """Worker processes and onnxruntime threads per process for ``openread bulk``.

    ``settings.threads`` is the machine's thread budget (default: the CPUs); it is split into
    ``processes`` workers (default: one per thread, each with one thread, since whole images
    in parallel keep the cores busier than threads inside one model call)."""
    budget = settings.threads
    count = budget if processes is None else processes
    if count < 1:
        raise ValueError("processes must be >= 1")
    return count, max(1, budget // count)

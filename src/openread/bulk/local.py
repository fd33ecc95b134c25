"""Reading many inputs on one machine: worker processes, each with one engine loaded once.

The number of processes and the onnxruntime threads of each come from ``parallel.bulk_plan``
(the one owner of parallelism). By default (``fork``), where the platform forks and the parent
has no other Python thread and no object store's client, the parent loads one engine with
every Tesseract script model and forks the workers from it: they start at once, share the
models' memory copy-on-write, and no worker pays again for the script models a line may need
(``bench.bulk``: see the README's bulk section). Otherwise each worker is spawned and loads its
own engine. A worker takes one task (a source, and the pages
of it already in the output) at a time and sends back each page's row as soon as it is read, so
the parent journals a long document page by page (a kill mid-document loses no finished page).
Every worker has its next task waiting (``PREFETCH`` tasks in flight per worker), so it never
idles between sources. A bad input or page becomes an error row, never an exception; a worker
that dies (a crash in native code) gives an error row for the source it was reading and is
replaced.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .. import documents, wire
from ..engine import Engine
from ..errors import InternalError, InvalidRequestError, OpenReadError
from ..settings import Settings
from ..wire import v32
from .inputs import read_bytes
from .output import Row

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.queues import Queue

__all__ = ["PREFETCH", "Task", "read_source", "run"]

PREFETCH = 2
"""Tasks handed to each worker ahead (the one it reads and the next)."""

Task = tuple[str, frozenset[int]]
"""A source and the page numbers of it already read (skipped)."""


def _error(exc: Exception) -> OpenReadError:
    if isinstance(exc, OpenReadError):
        return exc
    return InternalError(f"internal error: {type(exc).__name__}: {exc}")


def _error_row(
    source: str, page: int | None, pages: int | None, exc: Exception, since: float
) -> Row:
    error = _error(exc)
    code = error.inner_code or error.code
    seconds = time.perf_counter() - since
    return Row(source, page, pages, None, None, None, None, None, seconds, code, error.message)


def _load(source: str) -> bytes:
    try:
        return read_bytes(source)
    except FileNotFoundError as exc:
        raise InvalidRequestError("no such file") from exc
    except IsADirectoryError as exc:
        raise InvalidRequestError("is a directory, not an image file") from exc
    except OSError as exc:
        raise InvalidRequestError(f"cannot read the file: {exc.strerror or exc}") from exc


def read_source(engine: Engine, source: str, skip: frozenset[int] = frozenset()) -> Iterator[Row]:
    """The rows of ``source``, one per page not in ``skip`` as each is read: an image gives one
    row (the 4.0 body), a PDF or multi-page TIFF one per page (its v3.2 page entry); a page
    that cannot be read gives an error row for that page, a source that cannot be opened one
    error row with no page."""
    started = time.perf_counter()
    try:
        data = _load(source)
        document = None
        if documents.kind_of(data) != "image":
            document = documents.open_document(data, engine.settings)
            if document.kind == "tiff" and document.page_count == 1:
                document.close()  # a one-page TIFF is an image like any other
                document = None
        if document is None:
            result = engine.read(data)
            body = wire.dumps(wire.to_azure_json(result)).decode("utf-8")
            seconds = time.perf_counter() - started
            row = Row(source, 1, 1, "4.0", result.width, result.height, result.text, body,
                      seconds, None, None)  # fmt: skip
    except Exception as exc:
        yield _error_row(source, None, None, exc, started)
        return
    if document is None:
        yield row
        return
    with document:
        yield from _pages(engine, source, document, skip)


def _pages(
    engine: Engine, source: str, document: documents.Document, skip: frozenset[int]
) -> Iterator[Row]:
    count = document.page_count
    for number in range(1, count + 1):
        if number in skip:
            continue
        begun = time.perf_counter()
        try:
            page = document.page(number)
            result = engine.read_decoded(page.image)
            entry = v32.page_json(
                number,
                result,
                unit=page.unit,
                width=page.width,
                height=page.height,
                scale=page.scale,
                appearance=True,
            )
        except Exception as exc:
            yield _error_row(source, number, count, exc, begun)
            continue
        body = v32.serialise(entry).decode("utf-8")  # type: ignore[arg-type]
        seconds = time.perf_counter() - begun
        yield Row(source, number, count, "3.2", result.width, result.height, result.text, body,
                  seconds, None, None)  # fmt: skip


# ---------------------------------------------------------------------------- worker processes

Message = tuple[str, int, object]
"""``("ready", pid, None)`` once its engine is loaded, then per task ``("start", pid, source)``,
``("row", pid, Row)`` for each page and ``("done", pid, source)``."""


def _serve(
    settings: Settings,
    tasks: Queue[Task | None],
    results: Queue[Message],
    engine: Engine | None = None,
) -> None:
    """A worker process: its engine (``engine``, inherited by a fork, or loaded now), then
    tasks until ``None``."""
    import os

    from .inputs import forget_stores

    forget_stores()  # an object store's client is never shared across a fork
    pid = os.getpid()
    if engine is None:
        engine = Engine.load(settings)
    results.put(("ready", pid, None))
    while (task := tasks.get()) is not None:
        source, skip = task
        results.put(("start", pid, source))
        for row in read_source(engine, source, skip):
            results.put(("row", pid, row))
        results.put(("done", pid, source))


def run(
    tasks: Sequence[Task], settings: Settings, processes: int, *, fork: bool = False
) -> Iterator[Row]:
    """The rows of every task, each as soon as it is read (sources in completion order).
    ``fork``: fork the workers from one engine loaded here, where that is safe."""
    if processes <= 1:
        engine = Engine.load(settings)
        for source, skip in tasks:
            yield from read_source(engine, source, skip)
        return
    yield from _Pool(settings, processes, fork=fork).run(tasks)


def _can_fork() -> bool:
    """Whether forking is safe here: a platform that forks, no Python thread but this one (a
    fork copies no thread, so a lock another thread held would stay held in the child) and no
    object store's client (its native threads and connections are not fork-safe). The idle
    pools numpy, OpenCV and onnxruntime start when imported are left: they hold no lock while
    idle, and a worker reads with one thread."""
    import threading

    from .inputs import stores_open

    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    return threading.active_count() == 1 and not stores_open()


def _preload(settings: Settings) -> Engine:
    """The engine workers are forked from: loaded with every Tesseract model it may use."""
    engine = Engine.load(settings)
    if engine.models.tesseract is not None:
        engine.models.tesseract.load_all()
    return engine


class _Pool:
    def __init__(self, settings: Settings, processes: int, *, fork: bool) -> None:
        self._engine: Engine | None = None
        if fork and _can_fork():
            self._engine = _preload(settings)
        # Loading may start threads of its own; check again before the first fork.
        method = "fork" if self._engine is not None and _can_fork() else "spawn"
        if method == "spawn":
            self._engine = None
        self._context = multiprocessing.get_context(method)
        self._settings = settings
        self._tasks: Queue[Task | None] = self._context.Queue()
        self._results: Queue[Message] = self._context.Queue()
        self._workers: dict[int, BaseProcess] = {}
        self._reading: dict[int, str] = {}
        self._ready: set[int] = set()
        for _ in range(processes):
            self._spawn()

    def _spawn(self) -> None:
        args = (self._settings, self._tasks, self._results, self._engine)
        process = self._context.Process(target=_serve, args=args, daemon=True)  # type: ignore[attr-defined]
        process.start()
        assert process.pid is not None
        self._workers[process.pid] = process

    def run(self, tasks: Sequence[Task]) -> Iterator[Row]:
        upcoming = iter(tasks)
        in_flight = 0
        try:
            for task in upcoming:
                self._tasks.put(task)
                in_flight += 1
                if in_flight >= PREFETCH * len(self._workers):
                    break
            while in_flight:
                try:
                    kind, pid, value = self._results.get(timeout=0.5)
                except queue.Empty:
                    for row in self._reap():
                        in_flight -= 1
                        yield row
                    continue
                if kind == "ready":
                    self._ready.add(pid)
                elif kind == "start":
                    self._reading[pid] = str(value)
                elif kind == "row":
                    assert isinstance(value, Row)
                    yield value
                else:
                    self._reading.pop(pid, None)
                    in_flight -= 1
                    following = next(upcoming, None)
                    if following is not None:
                        self._tasks.put(following)
                        in_flight += 1
        finally:
            self.close()

    @property
    def start_method(self) -> str:
        """``fork`` or ``spawn``: how the workers were started."""
        return self._context.get_start_method()

    def _reap(self) -> Iterator[Row]:
        """Replace workers that died; an error row for the source each was reading."""
        for pid, process in list(self._workers.items()):
            if process.exitcode is None:
                continue
            del self._workers[pid]
            if pid not in self._ready:
                raise InternalError(
                    f"a bulk worker process failed to start (exit code {process.exitcode})"
                )
            source = self._reading.pop(pid, None)
            self._spawn()
            if source is not None:
                error = InternalError(f"the worker process died (exit code {process.exitcode})")
                yield _error_row(source, None, None, error, time.perf_counter())

    def close(self) -> None:
        """Stop the workers (each after its task; killed after 5 s)."""
        for _ in self._workers:
            self._tasks.put(None)
        deadline = time.monotonic() + 5.0
        for process in self._workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
        for process in self._workers.values():
            if process.exitcode is None:
                process.terminate()
                process.join()
        self._tasks.close()
        self._results.close()

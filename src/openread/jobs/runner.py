"""Running v3.x Read jobs: pages read one at a time on the server's shared workers.

Fairness: every page (a job's or a ``syncAnalyze`` request's) is one call of the same
``parallel.Admission`` that synchronous requests use. A job reads one page at a time and at most
``settings.job_workers`` jobs run at once, so with ``job_workers < workers`` at least one worker
is always left to synchronous callers, and since the admission's limiter serves waiters in
arrival order, a waiting synchronous request gets the next free worker before the job's next page
(a 300-page job delays a synchronous caller by at most one page). When more than
``settings.job_queue`` jobs are unfinished on this server, a submit answers 429 + Retry-After.

Durability: jobs live in the ``JobStore`` (``store``). On start, and every ``SWEEP_SECONDS``
after, the runner takes every unfinished job that nobody holds a lease on: jobs of a previous
run of this server (released when it stopped, or whose lease ran out when it died) and, with a
shared store, jobs queued on a replica that is busy. Every page read is saved in the store at
once (``JobStore.save_page``), so a job that was running goes on from its first unsaved page:
the pages finished before the stop are not read again.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import documents
from ..engine import Engine
from ..errors import BusyError, InternalError, NotReadyError, OpenReadError
from ..parallel import Admission
from ..result import StageTimings
from ..settings import Settings
from ..wire import v32
from .store import JobRecord, JobRequest, JobStore, open_store

__all__ = ["LEASE_SECONDS", "JobRunner", "PageObserver", "read_pages"]

log = logging.getLogger("openread.jobs")

LEASE_SECONDS = 30.0
"""How long a claimed job stays claimed without renewal (renewed every third of it)."""
SWEEP_SECONDS = 5.0
"""How often unfinished, unclaimed jobs are looked for."""
PURGE_SECONDS = 600.0
"""How often expired jobs are deleted."""
BUSY_RETRY_SECONDS = 5
"""``Retry-After`` of a submit refused because the job queue is full."""

App = TypeVar("App")
Ready = Callable[[], tuple[Engine, Admission]]
PageObserver = Callable[[int, StageTimings], None]
"""Told of every page read: its word count and stage timings (the metrics)."""
PageDone = Callable[[int, v32.PageJson], Awaitable[None]]
"""Awaited after each page with its position in the selection (0-based) and its result."""


def _read_page(
    document: documents.Document,
    number: int,
    engine: Engine,
    request: JobRequest,
    on_page: PageObserver | None = None,
) -> v32.PageJson:
    """Read page ``number``; a page that cannot be read becomes an entry with its error."""
    unit: v32.Unit = "inch" if document.kind == "pdf" else "pixel"
    try:
        started = time.perf_counter()
        page = document.page(number)  # rendered or decoded: the page's decode stage
        rendered = time.perf_counter() - started
        result = engine.read_decoded(page.image, language=request.language)
        if on_page is not None:
            on_page(len(result.words), dataclasses.replace(result.timings, decode=rendered))
    except OpenReadError as exc:
        return v32.page_error_json(number, exc, unit=unit)
    except Exception:
        log.exception("page %d of a document failed", number)
        return v32.page_error_json(number, InternalError(f"Page {number} failed."), unit=unit)
    return v32.page_json(
        number,
        result,
        unit=page.unit,
        width=page.width,
        height=page.height,
        scale=page.scale,
        appearance=request.api_version == "3.2",
    )


async def read_pages(
    document: documents.Document,
    numbers: Sequence[int],
    engine: Engine,
    admission: Admission,
    request: JobRequest,
    *,
    refuse_first: bool = False,
    on_page: PageObserver | None = None,
    on_done: PageDone | None = None,
) -> list[v32.PageJson]:
    """Read ``numbers`` of ``document`` one page at a time on ``admission``'s workers. A full
    admission queue makes a page wait and retry (its pages are never dropped), except for the
    first page when ``refuse_first`` is set (a synchronous caller then gets the 429).
    ``on_page`` is told of every page read (on the worker thread); ``on_done`` is awaited after
    each page, before the next is read."""
    pages: list[v32.PageJson] = []
    for index, number in enumerate(numbers):
        while True:
            try:
                page = await admission.run(
                    lambda n=number: _read_page(document, n, engine, request, on_page)  # type: ignore[misc]
                )
            except BusyError:
                if refuse_first and not pages:
                    raise
                await anyio.sleep(0.2)
                continue
            pages.append(page)
            if on_done is not None:
                await on_done(index, page)
            break
    return pages


def open_and_select(
    data: bytes, request: JobRequest, settings: Settings
) -> tuple[documents.Document, tuple[int, ...]]:
    """Open ``data`` and select its pages; checks the PDF page sizes of the selection (blocking,
    run it in a thread). The caller closes the document."""
    ranges = documents.parse_pages(request.pages)
    document = documents.open_document(data, settings)
    try:
        numbers = document.select(ranges)
        document.check_sizes(numbers)
    except BaseException:
        document.close()
        raise
    return document, numbers


class JobRunner:
    """The jobs of one server: submit, look up, run (``lifespan`` starts the workers)."""

    def __init__(
        self, settings: Settings, ready: Ready, on_page: PageObserver | None = None
    ) -> None:
        self.settings = settings
        self._ready = ready
        self._on_page = on_page
        self.owner = uuid.uuid4().hex
        self.store: JobStore | None = None
        self._local: set[str] = set()
        """Jobs queued or running here."""
        self._running: set[str] = set()
        self._send: MemoryObjectSendStream[str] | None = None

    # ------------------------------------------------------------------ lifecycle

    def wrap(
        self, outer: Callable[[App], AbstractAsyncContextManager[None]]
    ) -> Callable[[App], AbstractAsyncContextManager[None]]:
        """A lifespan that runs ``outer`` (the service's) and then this runner's."""

        @asynccontextmanager
        async def lifespan(app: App) -> AsyncIterator[None]:
            async with outer(app), self.lifespan():
                yield

        return lifespan

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        settings = self.settings
        store = await anyio.to_thread.run_sync(open_store, settings.job_store, settings.data_dir)
        self.store = store
        send, receive = anyio.create_memory_object_stream[str](math.inf)
        self._send = send
        try:
            async with anyio.create_task_group() as group:
                for _ in range(settings.job_workers):
                    group.start_soon(self._worker, receive.clone())
                group.start_soon(self._sweeper)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            self._send = None
            send.close()
            receive.close()
            self.store = None
            await anyio.to_thread.run_sync(store.close)

    # ------------------------------------------------------------------ API

    @property
    def full(self) -> bool:
        """Whether a submit would be refused now (the job queue of this server is full)."""
        return len(self._local) >= self.settings.job_queue

    def require_store(self) -> JobStore:
        if self.store is None:
            raise NotReadyError()
        return self.store

    async def submit(self, data: bytes, request: JobRequest) -> JobRecord:
        """Store a new job for ``data`` and queue it here (``BusyError`` when the queue is full)."""
        store = self.require_store()
        if self.full:
            raise BusyError(
                "The server is busy: too many Read operations are waiting. Please retry.",
                retry_after=BUSY_RETRY_SECONDS,
            )
        now = time.time()
        record = JobRecord(
            id=str(uuid.uuid4()),
            request=request,
            status="notStarted",
            created=now,
            updated=now,
            expires=now + self.settings.job_ttl,
        )
        await anyio.to_thread.run_sync(store.create, record, data)
        self._enqueue(record.id)
        return record

    def counts(self) -> dict[str, int]:
        """Jobs in the store by state (blocking; for the metrics, asked at scrape time)."""
        store = self.store
        return {} if store is None else store.counts()

    async def get(self, job_id: str) -> JobRecord | None:
        store = self.require_store()
        return await anyio.to_thread.run_sync(store.get, job_id)

    # ------------------------------------------------------------------ workers

    def _enqueue(self, job_id: str) -> None:
        if job_id in self._local or self._send is None:
            return
        self._local.add(job_id)
        self._send.send_nowait(job_id)

    async def _sweeper(self) -> None:
        last_purge = 0.0
        while True:
            store = self.store
            if store is None:
                return
            try:
                if time.monotonic() - last_purge > PURGE_SECONDS:
                    last_purge = time.monotonic()
                    purged = await anyio.to_thread.run_sync(store.purge)
                    if purged:
                        log.info("deleted %d expired Read operations", purged)
                room = self.settings.job_queue - len(self._local)
                if room > 0:
                    for job_id in await anyio.to_thread.run_sync(store.claimable, room):
                        if job_id not in self._local:
                            log.info("taking over unfinished Read operation %s", job_id)
                            self._enqueue(job_id)
            except Exception:
                log.exception("the job sweeper failed; trying again")
            await anyio.sleep(SWEEP_SECONDS)

    async def _worker(self, receive: MemoryObjectReceiveStream[str]) -> None:
        async with receive:
            async for job_id in receive:
                try:
                    await self._run(job_id)
                except Exception:
                    log.exception("Read operation %s failed", job_id)
                finally:
                    self._local.discard(job_id)

    async def _renew(self, store: JobStore, job_id: str) -> None:
        while True:
            await anyio.sleep(LEASE_SECONDS / 3)
            await anyio.to_thread.run_sync(store.renew, job_id, self.owner, LEASE_SECONDS)

    async def _run(self, job_id: str) -> None:
        store = self.require_store()
        owner = self.owner
        if not await anyio.to_thread.run_sync(store.claim, job_id, owner, LEASE_SECONDS):
            return  # finished, expired, or taken by another replica
        self._running.add(job_id)
        try:
            record = await anyio.to_thread.run_sync(store.get, job_id)
            payload = await anyio.to_thread.run_sync(store.payload, job_id)
            if record is None or payload is None:
                await anyio.to_thread.run_sync(
                    lambda: store.finish(
                        job_id, owner, "failed", error=("InternalServerError", "Payload lost.")
                    )
                )
                return
            if record.attempts > 1:
                log.info("Read operation %s: attempt %d", job_id, record.attempts)
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._renew, store, job_id)
                    result = await self._execute(job_id, payload, record.request)
                    group.cancel_scope.cancel()
            except OpenReadError as exc:
                error = (exc.inner_code or exc.code, exc.message)
                await anyio.to_thread.run_sync(
                    lambda: store.finish(job_id, owner, "failed", error=error)
                )
                return
            await anyio.to_thread.run_sync(
                lambda: store.finish(job_id, owner, "succeeded", result=result)
            )
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):  # stopping: give the job back for a rerun
                await anyio.to_thread.run_sync(store.release, job_id, owner)
            raise
        finally:
            self._running.discard(job_id)

    async def _execute(self, job_id: str, payload: bytes, request: JobRequest) -> bytes:
        engine, admission = self._ready()
        store = self.require_store()
        owner = self.owner
        saved = await anyio.to_thread.run_sync(store.pages, job_id)
        done = [v32.loads_page(raw) for raw in saved]
        document, numbers = await anyio.to_thread.run_sync(
            open_and_select, payload, request, self.settings
        )
        done = done[: len(numbers)]
        if done:
            log.info(
                "Read operation %s: going on from page %d (%d of %d pages were read before)",
                job_id,
                numbers[len(done)] if len(done) < len(numbers) else numbers[-1],
                len(done),
                len(numbers),
            )

        async def save(index: int, page: v32.PageJson) -> None:
            raw = v32.serialise_page(page)
            position = len(done) + index
            await anyio.to_thread.run_sync(store.save_page, job_id, owner, position, raw)

        try:
            pages = await read_pages(
                document,
                numbers[len(done) :],
                engine,
                admission,
                request,
                on_page=self._on_page,
                on_done=save,
            )
        finally:
            await anyio.to_thread.run_sync(document.close)
        body = v32.analyze_result_json(
            request.api_version, engine.settings.model_version, [*done, *pages]
        )
        return v32.serialise(body)

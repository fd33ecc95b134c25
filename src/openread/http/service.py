"""The server's state, shared by every router: settings, the engine, admission, readiness, keys.

The lifespan loads the engine (unless one was given), warms it up and creates the admission
control; until then ``require_ready`` raises ``NotReadyError`` (503).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request

from ..engine import Engine
from ..errors import AuthenticationError, ImageUrlError, NotReadyError, OpenReadError
from ..parallel import Admission, ByteBudget
from ..settings import Settings
from . import urlfetch
from .auth import KeyRing
from .body import BodyReservation, ImageUrl, admitted_body, body_cap
from .metrics import Metrics

__all__ = ["Service"]

log = logging.getLogger("openread.http")

URL_DISABLED_MESSAGE = (
    "The provided image url is not accessible. URL input is disabled on this server "
    "(set OPENREAD_URL_FETCH=true)."
)
URL_FETCH_WORKERS = 4
URL_FETCH_QUEUE = 32


class Service:
    """The server's state (engine, admission, readiness) and what every route needs of it."""

    def __init__(self, settings: Settings, engine: Engine | None) -> None:
        self.settings = settings
        self.engine = engine
        self.admission: Admission | None = None
        self.fetches: Admission | None = None
        self.bodies: ByteBudget | None = None
        """Bytes of request bodies held at once: (workers + max_queue) x the largest body."""
        self.ready = False
        self.startup_error: OpenReadError | None = None
        self.metrics = Metrics()
        self.draining = False
        """Set on SIGTERM (``lifecycle``): not ready, new requests 503."""
        self._keys = KeyRing.from_settings(settings)  # SettingsError if its file is unreadable

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        try:
            await self._start()
        except OpenReadError as exc:
            self.startup_error = exc
            log.error("openread cannot start: %s", exc.message)
            raise
        try:
            yield
        finally:
            self.ready = False

    async def _start(self) -> None:
        started = time.perf_counter()
        engine = self.engine
        if engine is None:
            engine = await anyio.to_thread.run_sync(Engine.load, self.settings)
        loaded = time.perf_counter()
        self.metrics.model_load.set(loaded - started)
        await anyio.to_thread.run_sync(engine.warm_up)
        self.metrics.warm_up.set(time.perf_counter() - loaded)
        self.engine = engine
        self.admission = admission = Admission(self.settings.workers, self.settings.max_queue)
        self.metrics.queue_depth.set_function(
            lambda: float(max(0, admission.in_flight - admission.workers))
        )
        self.fetches = Admission(URL_FETCH_WORKERS, URL_FETCH_QUEUE)
        slots = self.settings.workers + self.settings.max_queue
        self.bodies = ByteBudget(slots * body_cap(self.settings), admission.retry_after)
        self.ready = True
        log.info(
            "engine ready in %.1f s (workers=%d, max_queue=%d, threads=%d, auth=%s, url_fetch=%s)",
            time.perf_counter() - started,
            self.settings.workers,
            self.settings.max_queue,
            self.settings.threads,
            "on" if self._keys.enabled else "off",
            "on" if self.settings.url_fetch else "off",
        )

    @property
    def auth_enabled(self) -> bool:
        """Whether requests need a key (static keys or a keys file)."""
        return self._keys.enabled

    def key_hash(self, headers: Headers) -> str | None:
        """A short hash of the key a request supplied (for logs; never the key itself)."""
        supplied = _supplied_key(headers)
        if supplied is None:
            return None
        return hashlib.sha256(supplied.encode("utf-8", "replace")).hexdigest()[:8]

    def authenticate(self, headers: Headers) -> None:
        """Require one of the configured keys (when there are any, or a keys file)."""
        if not self._keys.enabled:
            return
        supplied = _supplied_key(headers)
        if supplied is None:
            raise AuthenticationError()
        if not self._keys.matches(supplied):
            raise AuthenticationError()

    def authenticate_metrics(self, request: Request) -> None:
        """The key check of ``/metrics``: only with ``OPENREAD_METRICS_KEY_REQUIRED``."""
        if self.settings.metrics_key_required:
            self.authenticate(request.headers)

    def require_ready(self) -> tuple[Engine, Admission]:
        """The engine and its admission control, or ``NotReadyError`` (or the startup error)."""
        if self.draining:
            raise NotReadyError()
        if not self.ready or self.engine is None or self.admission is None:
            raise self.startup_error or NotReadyError()
        return self.engine, self.admission

    def admit_body(
        self, request: Request, settings: Settings | None = None
    ) -> AbstractAsyncContextManager[BodyReservation]:
        """``body.admitted_body`` in this server's byte budget (429 before the body is read
        when it is spent); ``settings``: the limits the body is read under (default the
        server's)."""
        if self.bodies is None:
            raise NotReadyError()
        return admitted_body(request, self.bodies, body_cap(settings or self.settings))

    async def download(self, body: ImageUrl, limits: Settings | None = None) -> bytes:
        """The image a ``{"url": ...}`` body names (``ImageUrlError`` if URL input is off),
        at most ``limits.limits.max_bytes`` long (default: the server's settings)."""
        if not self.settings.url_fetch:
            raise ImageUrlError(URL_DISABLED_MESSAGE)
        fetches = self.fetches
        if fetches is None:
            raise NotReadyError()
        settings = limits or self.settings
        return await fetches.run(lambda: urlfetch.fetch_image(body.url, settings))


def _supplied_key(headers: Headers) -> str | None:
    supplied = headers.get("ocp-apim-subscription-key")
    if supplied is None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        supplied = token.strip() if scheme.lower() == "bearer" else None
    return supplied

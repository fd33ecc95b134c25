"""uvicorn's h11 protocol with the deadlines and the connection cap it lacks.

- **Header deadline**: a connection must send a complete request head within
  ``HEADER_TIMEOUT`` seconds of opening, or it is closed (uvicorn has none: half-sent heads are
  held forever).
- **Body deadline**: a request body must be complete within ``BODY_TIMEOUT`` seconds of its
  head, or the connection is closed (a 1-byte-per-29-s drip no longer holds it).
- **Connection cap**: at most ``connection_cap()`` connections (the open-file limit less a
  reserve for model files, logs and outgoing fetches, at most ``MAX_CONNECTIONS``). A new
  connection beyond it evicts the oldest one that has not sent a complete head yet, or is closed
  at once when every connection is busy.
- **Accept errors**: a flood can still make one accept batch hit the file limit (asyncio accepts
  a batch of sockets before ``connection_made`` can close any). asyncio then pauses accepting
  for 1 s; ``install_accept_guard`` replaces its ``socket.accept() out of system resource``
  error (a traceback each time) by one warning per ``ACCEPT_LOG_INTERVAL`` seconds that counts
  the pauses.
- **Content-Length with Transfer-Encoding** (RFC 9112 6.1, a smuggling risk behind a proxy):
  answered 400 with ``Connection: close`` by ``reject_ambiguous_framing``.

Keep-alive, TLS and uvicorn's start-up line are uvicorn's own.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from ..errors import InvalidRequestError
from .responses import error_response

__all__ = [
    "BODY_TIMEOUT",
    "HEADER_TIMEOUT",
    "MAX_CONNECTIONS",
    "AcceptErrorLog",
    "HardenedH11Protocol",
    "connection_cap",
    "install_accept_guard",
    "reject_ambiguous_framing",
]

log = logging.getLogger("openread.http")

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 60.0
MAX_CONNECTIONS = 4096
_FILE_RESERVE = 128
ACCEPT_LOG_INTERVAL = 60.0
ACCEPT_ERROR_MESSAGE = "socket.accept() out of system resource"
"""asyncio's ``call_exception_handler`` message when ``accept`` fails with EMFILE/ENFILE/
ENOBUFS/ENOMEM (it then stops accepting for 1 s)."""


def connection_cap() -> int:
    """How many client connections may be open at once under this process's file limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    reserve = max(_FILE_RESERVE, soft // 4)  # model files, thread pipes, logs, URL fetches
    return max(8, min(MAX_CONNECTIONS, soft - reserve))


class HardenedH11Protocol(H11Protocol):
    """``H11Protocol`` plus the header and body deadlines and the connection cap."""

    # connections that have not sent a complete request head yet, oldest first (one server
    # per process, so a class attribute is the server's registry)
    _awaiting_head: dict[int, HardenedH11Protocol] = {}  # noqa: RUF012
    _cap: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rejected = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        cls = type(self)
        if not cls._cap:
            cls._cap = connection_cap()
        if len(self.connections) >= cls._cap and not self._evict_one():
            self._rejected = True
            transport.abort()
            return
        super().connection_made(transport)
        cls._awaiting_head[id(self)] = self
        self._arm(HEADER_TIMEOUT)

    def _evict_one(self) -> bool:
        awaiting = type(self)._awaiting_head
        for key, protocol in list(awaiting.items()):
            awaiting.pop(key, None)
            cycle: RequestResponseCycle | None = protocol.cycle  # uvicorn types it non-optional
            if cycle is None and not protocol.transport.is_closing():
                protocol.transport.abort()
                return True
        return False

    def _arm(self, seconds: float) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(seconds, self._on_deadline)

    def _on_deadline(self) -> None:
        self._deadline = None
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is None or cycle.more_body:
            type(self)._awaiting_head.pop(id(self), None)
            if not self.transport.is_closing():
                self.transport.close()

    def handle_events(self) -> None:
        before: RequestResponseCycle | None = self.cycle
        super().handle_events()
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is not None and cycle is not before:  # a new request head arrived
            type(self)._awaiting_head.pop(id(self), None)
            if cycle.more_body:
                self._arm(BODY_TIMEOUT)
            elif self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
        elif cycle is not None and not cycle.more_body and self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        type(self)._awaiting_head.pop(id(self), None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._rejected:
            return
        super().connection_lost(exc)


class AcceptErrorLog:
    """A loop exception handler: asyncio's accept-resource errors become one warning per
    ``interval`` seconds (with how many there were); everything else goes to ``fallback`` or
    the loop's default handler."""

    def __init__(
        self,
        interval: float = ACCEPT_LOG_INTERVAL,
        fallback: Any = None,
    ) -> None:
        self.interval = interval
        self.fallback = fallback
        self.count = 0
        """Accept errors seen since the last warning."""
        self._last: float | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_ERROR_MESSAGE:
            if self.fallback is not None:
                self.fallback(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.count += 1
        now = time.monotonic()
        if self._last is None or now - self._last >= self.interval:
            error = context.get("exception")
            log.warning(
                "accepting connections paused for 1 s: %s (%d time(s) since the last warning; "
                "the connection cap is %d, the open-file limit %d)",
                getattr(error, "strerror", None) or "out of system resources",
                self.count,
                connection_cap(),
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )
            self._last = now
            self.count = 0


def install_accept_guard(server: Any) -> None:
    """Make ``server`` (a ``uvicorn.Server``) install ``AcceptErrorLog`` on its event loop
    when it starts, before it listens."""
    startup = server.startup

    async def guarded_startup(*args: Any, **kwargs: Any) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(AcceptErrorLog(fallback=loop.get_exception_handler()))
        await startup(*args, **kwargs)

    server.startup = guarded_startup


def reject_ambiguous_framing(app: ASGIApp) -> ASGIApp:
    """``app``, but a request with both Content-Length and Transfer-Encoding gets Azure's 400
    envelope and ``Connection: close`` (the connection is not reused)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _value in scope.get("headers", ())}
            if b"content-length" in names and b"transfer-encoding" in names:
                response = error_response(
                    InvalidRequestError(
                        "A request must not have both Content-Length and Transfer-Encoding."
                    )
                )
                response.headers["connection"] = "close"
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    return wrapped

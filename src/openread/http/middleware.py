"""The request-context middleware: request ids, the common headers, one structured log line per
request (request id, route template, api-version, status, error code, latency, image bytes,
pages, words, a short hash of the key: never the key nor the image), the request metrics, and
503 + ``Retry-After`` for requests that arrive while the server drains (``lifecycle``)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InternalError, NotReadyError
from .analyze import SUPPORTED_API_VERSIONS
from .logsafe import sanitize_for_log
from .metrics import STATS_KEY, RequestStats
from .responses import REQUEST_ID_KEY, error_for
from .service import Service

__all__ = ["RequestContextMiddleware"]

log = logging.getLogger("openread.http")

_CLIENT_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class RequestContextMiddleware:
    """Gives each request an id, adds the common headers to every response, logs one line per
    request, and turns any exception that escaped into a 500 envelope naming the request id."""

    def __init__(self, app: ASGIApp, service: Service, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.service = service
        self.routes = tuple(routes)

    def route_label(self, scope: Scope) -> str:
        """The path template of the route Starlette's matching picks for ``scope`` (e.g.
        ``/vision/v3.2/read/analyzeResults/{operation_id}``; a wrong method still names its
        route), or ``other``: never the raw path."""
        probe = {"type": "http", "path": scope.get("path", ""), "method": scope.get("method", "")}
        probe["root_path"] = scope.get("root_path", "")
        partial = "other"
        for route in self.routes:
            match, _ = route.matches(probe)
            if match is Match.FULL and isinstance(route, Route):
                return route.path
            if match is Match.PARTIAL and partial == "other" and isinstance(route, Route):
                partial = route.path
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(uuid.uuid4())
        scope[REQUEST_ID_KEY] = rid
        client_rid = Headers(scope=scope).get("x-ms-client-request-id", "")
        if not _CLIENT_REQUEST_ID.fullmatch(client_rid):
            client_rid = ""
        status = 0
        code = ""
        received = 0
        started = time.perf_counter()
        stats = scope[STATS_KEY] = RequestStats()
        metrics = self.service.metrics
        metrics.in_flight.inc()

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status, code
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                code = headers.get("x-ms-error-code", "")
                headers["apim-request-id"] = rid
                headers["request-id"] = rid
                headers["api-supported-versions"] = ",".join(SUPPORTED_API_VERSIONS)
                if client_rid:
                    headers["x-ms-client-request-id"] = client_rid
            await send(message)

        try:
            if self.service.draining:
                await error_for(scope, NotReadyError())(scope, counting_receive, send_with_headers)
            else:
                await self.app(scope, counting_receive, send_with_headers)
        except ClientDisconnect:
            log.info("request %s: the client disconnected before sending its body", rid)
        except Exception:
            log.exception("request %s failed", rid)
            if status:
                raise
            error = InternalError(f"An internal error occurred. Request id: {rid}")
            await error_for(scope, error)(scope, receive, send_with_headers)
        finally:
            metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = self.route_label(scope)
            given = QueryParams(scope.get("query_string", b"")).get("api-version")
            if given is None:
                api_version = ""
            else:
                api_version = given if given in SUPPORTED_API_VERSIONS else "other"
            if not code and status == 401:
                code = "401"
            metrics.requests.labels(route, api_version, str(status), code).inc()
            metrics.latency.labels(route).observe(elapsed)
            if status == 429:
                metrics.busy.inc()
            fields: dict[str, str | int | float | None] = {
                "request_id": rid,
                "client_request_id": client_rid or None,
                "method": sanitize_for_log(str(scope.get("method", ""))),
                "route": route,
                "api_version": api_version or None,
                "status": status,
                "error_code": code or None,
                "latency_ms": round(elapsed * 1000, 1),
                "image_bytes": received,
                "pages": stats.pages,
                "words": stats.words,
                "key_hash": self.service.key_hash(Headers(scope=scope)),
            }
            log.info(
                "%s %s -> %d in %.0f ms",
                sanitize_for_log(str(scope.get("method", ""))),
                route,
                status,
                elapsed * 1000,
                extra={"fields": fields},
            )

"""The request-context middleware: request ids, the common headers, one log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InternalError
from .analyze import SUPPORTED_API_VERSIONS
from .logsafe import sanitize_for_log
from .responses import REQUEST_ID_KEY, error_response

__all__ = ["RequestContextMiddleware"]

log = logging.getLogger("openread.http")

_CLIENT_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class RequestContextMiddleware:
    """Gives each request an id, adds the common headers to every response, logs one line per
    request, and turns any exception that escaped into a 500 envelope naming the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers["apim-request-id"] = rid
                headers["request-id"] = rid
                headers["api-supported-versions"] = ",".join(SUPPORTED_API_VERSIONS)
                if client_rid:
                    headers["x-ms-client-request-id"] = client_rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            log.info("request %s: the client disconnected before sending its body", rid)
        except Exception:
            log.exception("request %s failed", rid)
            if status:
                raise
            error = InternalError(f"An internal error occurred. Request id: {rid}")
            await error_response(error)(scope, receive, send_with_headers)
        finally:
            log.info(
                "%s %s HTTP/%s -> %d in %.0f ms (request-id %s, x-ms-client-request-id %s)",
                scope.get("method", ""),
                sanitize_for_log(scope.get("path", "")),
                scope.get("http_version", ""),
                status,
                (time.perf_counter() - started) * 1000,
                rid,
                client_rid or "-",
            )

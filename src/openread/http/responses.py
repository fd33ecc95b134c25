"""Responses shared by every route: Azure's error envelope and the exception handlers.

``OpenReadError``s are translated to HTTP here and nowhere else: the status, ``x-ms-error-code``
(except on 401, as Azure), ``Retry-After`` on 429/503, and ``Connection: close`` when the rest of
a refused body was left unread. Under ``/vision/v3.x/`` (the v3.x Read API and the Read
container) the body is the combined v3 one (``wire.v32.v3_error_json``, spec 3.3), whatever
answers: a route, an unknown path or method there, the drain, an internal error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from .. import wire
from ..errors import InternalError, MethodNotAllowedError, NotFoundError, OpenReadError
from ..wire import v32

__all__ = [
    "BODY_ABANDONED_KEY",
    "JSON_CONTENT_TYPE",
    "REQUEST_ID_KEY",
    "error_for",
    "error_response",
    "exception_handlers",
    "is_v3_path",
    "json_response",
    "request_id",
    "v3_error_response",
]

log = logging.getLogger("openread.http")

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
REQUEST_ID_KEY = "openread.request_id"
"""Scope key of the id the request-context middleware gives each request."""
BODY_ABANDONED_KEY = "openread.body_abandoned"
"""Scope key set when a body was refused before it was read to its end."""


def error_response(error: OpenReadError) -> Response:
    """Azure's error envelope for ``error``, with its status and headers."""
    headers: dict[str, str] = {}
    if error.status != 401:
        headers["x-ms-error-code"] = error.code
    retry_after = error.retry_after
    if retry_after is None and error.status in (429, 503):
        retry_after = 1
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(
        wire.dumps(wire.error_json(error)),
        status_code=error.status,
        headers=headers,
        media_type=JSON_CONTENT_TYPE,
    )


def is_v3_path(path: str) -> bool:
    """Whether ``path`` is under ``/vision/v3.x/`` (at the root or under a root path)."""
    _, found, tail = path.partition("/vision/v3.")
    return bool(found) and tail[:1].isdigit()


def v3_error_response(
    error: OpenReadError, rid: str, *, status_member: str | None = None
) -> Response:
    """``error`` in the combined v3 body (``status_member``: with ``{"status": ...}``, as the
    Read container's ``syncAnalyze`` answers), with the status and headers of
    ``error_response``."""
    plain = error_response(error)
    body: dict[str, object] = dict(v32.v3_error_json(error, rid))
    if status_member is not None:
        body["status"] = status_member
    response = Response(wire.dumps(body), status_code=error.status, media_type=JSON_CONTENT_TYPE)
    for name, value in plain.headers.items():
        if name.lower() not in ("content-length", "content-type"):
            response.headers[name] = value
    return response


def error_for(scope: Scope, error: OpenReadError) -> Response:
    """The error response for a request: the v3 body under ``/vision/v3.x/``, else Azure's
    4.0 envelope."""
    if is_v3_path(str(scope.get("path", ""))):
        return v3_error_response(error, str(scope.get(REQUEST_ID_KEY, "unknown")))
    return error_response(error)


def json_response(body: Mapping[str, object], headers: dict[str, str] | None = None) -> Response:
    """A 200 with ``body`` serialised as the wire module does it."""
    return Response(wire.dumps(body), headers=headers, media_type=JSON_CONTENT_TYPE)


def request_id(request: Request) -> str:
    """The id given to ``request`` by the request-context middleware."""
    return str(request.scope.get(REQUEST_ID_KEY, "unknown"))


async def _openread_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, OpenReadError):  # pragma: no cover - registered for OpenReadError
        raise exc
    if isinstance(exc, InternalError):
        log.error("request %s: %s", request_id(request), exc.message)
    response = error_for(request.scope, exc)
    if request.scope.get(BODY_ABANDONED_KEY):
        # The rest of a too large body is not read: close rather than drain it.
        response.headers["Connection"] = "close"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for 404/405
        raise exc
    if exc.status_code == 405:
        response = error_for(request.scope, MethodNotAllowedError())
        allow = (exc.headers or {}).get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response
    return error_for(request.scope, NotFoundError())


def exception_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Starlette's ``exception_handlers`` for every openread app."""
    return {OpenReadError: _openread_error, 404: _http_error, 405: _http_error}

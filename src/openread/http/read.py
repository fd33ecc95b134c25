"""Azure's Computer Vision v3.0 / v3.1 / v3.2 Read API, asynchronous.

    POST {root?}/vision/v3.{0,1,2}/read/analyze[?language=&pages=&readingOrder=&model-version=]
         -> 202, empty body, Operation-Location: {scheme}://{host}{path}/analyzeResults/{uuid}
    GET  {root?}/vision/v3.{0,1,2}/read/analyzeResults/{id}   (Azure's)
    GET  {root?}/vision/v3.{0,1,2}/read/operations/{id}       (the Read container's)
         -> 200 {"status": notStarted|running|succeeded|failed, ..., "analyzeResult"?}

Bodies are those of the 4.0 route (raw bytes, chunked or not, ``{"url"}`` JSON, multipart), up
to ``settings.max_document_bytes``: an image, a PDF or a multi-page TIFF (``documents``). What
can be checked up front is checked before the 202 (format, page count, ``pages`` selection, PDF
page sizes), so bad input gets a 400, not a failed operation. The ``Operation-Location`` URL is
built from the request (``X-Forwarded-Proto`` / ``X-Forwarded-Host`` honoured behind a proxy).
Errors are the combined v3 body (``wire.v32.v3_error_json``); an unknown or expired id is 404.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable

import anyio.to_thread
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import (
    BadArgumentError,
    BusyError,
    InvalidReadingOrderError,
    NotFoundError,
    OpenReadError,
)
from ..jobs import JobRequest, JobRunner
from ..jobs.runner import BUSY_RETRY_SECONDS, open_and_select
from ..settings import Settings
from ..wire import v32
from .body import BodyReservation, read_image_body
from .responses import BODY_ABANDONED_KEY, JSON_CONTENT_TYPE, request_id, v3_error_response
from .service import Service

__all__ = ["API_VERSIONS", "parse_read_query", "read_document_body", "routes", "v3_errors"]

API_VERSIONS = ("3.0", "3.1", "3.2")
_MODEL_VERSION = re.compile(r"^(latest|\d{4}-\d{2}-\d{2})(-preview)?$", re.IGNORECASE)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

Handler = Callable[[Request], Awaitable[Response]]


def parse_read_query(api_version: str, params: QueryParams) -> JobRequest:
    """The v3.x Read query (names case-insensitive, unknown names ignored)."""
    values: dict[str, str] = {}
    for name, value in params.multi_items():
        values.setdefault(name.lower(), value.strip())
    order = values.get("readingorder", "") or "basic"
    if order.lower() not in ("basic", "natural"):
        raise InvalidReadingOrderError(
            f"The readingOrder '{order[:40]}' is invalid: use 'basic' or 'natural'."
        )
    model_version = values.get("model-version") or values.get("modelversion") or None
    if model_version is not None and not _MODEL_VERSION.fullmatch(model_version):
        raise BadArgumentError(
            f"The model-version '{model_version[:40]}' is not valid: use 'latest' or a date "
            "'YYYY-MM-DD', optionally followed by '-preview'."
        )
    from ..documents import parse_pages

    pages = values.get("pages") or None
    parse_pages(pages)  # InvalidPageRangeError now, before the body is read
    return JobRequest(
        api_version=api_version,
        language=values.get("language") or None,
        pages=pages,
        reading_order=order.lower(),
        model_version=model_version,
    )


def document_settings(settings: Settings) -> Settings:
    """``settings`` with the byte limit of documents in place of the image one."""
    limits = dataclasses.replace(settings.limits, max_bytes=settings.max_document_bytes)
    return settings.replace(limits=limits)


async def read_document_body(
    request: Request,
    service: Service,
    limits: Settings,
    reservation: BodyReservation | None = None,
) -> bytes:
    """The document of a v3.x request: the body, or what its ``{"url"}`` names (both capped at
    the document limit of ``limits``, 50 MB by default, not the 4.0 image limit;
    ``reservation``: from ``Service.admit_body``, which covers the downloaded bytes too)."""
    body = await read_image_body(request, limits, reservation, documents=True)
    data = body if isinstance(body, bytes) else await service.download(body, limits)
    if reservation is not None:
        reservation.cover(len(data))
    return data


def v3_errors(handler: Handler, *, status_member: str | None = None) -> Handler:
    """``handler`` with its ``OpenReadError``s answered in the v3 body (``status_member``: add
    ``{"status": ...}``, as the Read container's ``syncAnalyze`` does)."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except OpenReadError as exc:
            response = v3_error_response(exc, request_id(request), status_member=status_member)
            if request.scope.get(BODY_ABANDONED_KEY):
                response.headers["Connection"] = "close"
            return response

    return wrapped


def operation_location(request: Request, job_id: str) -> str:
    """The URL of the job's result, built from the request as the client addressed it."""
    headers = request.headers
    scheme = headers.get("x-forwarded-proto", "").split(",")[0].strip() or request.url.scheme
    host = headers.get("x-forwarded-host", "").split(",")[0].strip() or headers.get(
        "host", request.url.netloc
    )
    base = request.url.path.rsplit("/", 1)[0]  # .../read
    return f"{scheme}://{host}{base}/analyzeResults/{job_id}"


def routes(service: Service, runner: JobRunner) -> list[Route]:
    """The v3.x Read routes for every version, at the root and under ``root_path``."""
    limits = document_settings(service.settings)

    def analyze_for(api_version: str) -> Handler:
        async def analyze(request: Request) -> Response:
            service.authenticate(request.headers)
            query = parse_read_query(api_version, request.query_params)
            service.require_ready()
            runner.require_store()
            if runner.full:  # before reading the body
                raise BusyError(
                    "The server is busy: too many Read operations are waiting. Please retry.",
                    retry_after=BUSY_RETRY_SECONDS,
                )
            async with service.admit_body(request, limits) as reservation:
                data = await read_document_body(request, service, limits, reservation)
                document, _ = await anyio.to_thread.run_sync(
                    open_and_select, data, query, service.settings
                )
                document.close()
                record = await runner.submit(data, query)
            return Response(
                status_code=202,
                headers={"Operation-Location": operation_location(request, record.id)},
            )

        return analyze

    async def result(request: Request) -> Response:
        service.authenticate(request.headers)
        job_id = str(request.path_params["operation_id"])
        record = await runner.get(job_id) if _UUID.fullmatch(job_id) else None
        if record is None:
            raise NotFoundError(
                f"The operation '{job_id[:64]}' was not found: it does not exist or has expired."
            )
        error = None
        if record.error_code is not None:
            error = v32.PageErrorJson(code=record.error_code, message=record.error_message or "")
        body = v32.operation_body(
            record.status, record.created, record.updated, record.result, error
        )
        return Response(body, media_type=JSON_CONTENT_TYPE)

    found: list[Route] = []
    for prefix in dict.fromkeys(["", service.settings.root_path]):
        for version in API_VERSIONS:
            base = f"{prefix}/vision/v{version}/read"
            found.append(
                Route(f"{base}/analyze", v3_errors(analyze_for(version)), methods=["POST"])
            )
            for kind in ("analyzeResults", "operations"):
                found.append(
                    Route(f"{base}/{kind}/{{operation_id}}", v3_errors(result), methods=["GET"])
                )
    return found

"""The routes of Microsoft's self-hosted Read 3.2 container that its clients call.

    POST {root?}/vision/v3.2/read/syncAnalyze   the finished operation result (200), or the
                                                v3 error body with ``"status": "Failed"``
    GET  /ContainerLiveness                     200 whenever the process answers
    GET  /status                                checks the key (when keys are configured): 200
                                                {"status": "ready"|"starting"} or 401

``/ready`` is the one of ``ops`` (200 once the models are loaded and warmed up, else 503), which
is what the container's ``/ready`` means. The ``.../read/operations/{id}`` alias of the result
route lives in ``read`` with the other v3.x routes.
"""

from __future__ import annotations

import time

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import BusyError
from ..jobs import JobRunner, read_pages
from ..jobs.runner import open_and_select
from ..wire import v32
from .read import document_settings, parse_read_query, read_document_body, v3_errors
from .responses import JSON_CONTENT_TYPE
from .service import Service

__all__ = ["routes"]


def routes(service: Service, runner: JobRunner) -> list[Route]:
    """The container's routes, at the root and under ``root_path``."""
    limits = document_settings(service.settings)
    del runner  # syncAnalyze reads on the shared workers directly; it stores nothing

    async def sync_analyze(request: Request) -> Response:
        service.authenticate(request.headers)
        query = parse_read_query("3.2", request.query_params)
        engine, admission = service.require_ready()
        if admission.in_flight >= admission.workers + admission.max_queue:
            raise BusyError(retry_after=admission.retry_after)  # before reading the body
        created = time.time()
        metrics = service.metrics
        async with service.admit_body(request, limits) as reservation:
            data = await read_document_body(request, service, limits, reservation)
            document, numbers = await anyio.to_thread.run_sync(
                open_and_select, data, query, service.settings
            )
            try:
                pages = await read_pages(
                    document,
                    numbers,
                    engine,
                    admission,
                    query,
                    refuse_first=True,
                    on_page=lambda words, timings: metrics.record_page(
                        words, timings, request.scope
                    ),
                )
            finally:
                await anyio.to_thread.run_sync(document.close)
        metrics.images.inc()
        result = v32.analyze_result_json("3.2", engine.settings.model_version, pages)
        body = v32.operation_body("succeeded", created, time.time(), v32.serialise(result))
        return Response(body, media_type=JSON_CONTENT_TYPE)

    async def liveness(_request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    async def status(request: Request) -> Response:
        service.authenticate(request.headers)
        return JSONResponse({"status": "ready" if service.ready else "starting"})

    found: list[Route] = []
    for prefix in dict.fromkeys(["", service.settings.root_path]):
        found.append(
            Route(
                f"{prefix}/vision/v3.2/read/syncAnalyze",
                v3_errors(sync_analyze, status_member="Failed"),
                methods=["POST"],
            )
        )
        found.append(Route(f"{prefix}/ContainerLiveness", liveness, methods=["GET"]))
        found.append(Route(f"{prefix}/status", v3_errors(status), methods=["GET"]))
    return found

"""Operational routes: liveness, readiness, the OpenAPI document, and the languages read.

GET  /health               200 {"status":"ok"} whenever the process answers
GET  /ready                200 once the engine is loaded and warmed up, else 503
GET  /openread/languages   the scripts and languages this server reads (key needed)
GET  /openapi.json         the OpenAPI 3 description of these routes (no key needed: it is
                           the same for every openread server and names no setting)
"""

from __future__ import annotations

import functools
import importlib.resources

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import wire
from ..errors import NotReadyError
from .responses import JSON_CONTENT_TYPE, error_response, json_response
from .service import Service

__all__ = ["routes"]


@functools.cache
def _openapi_document() -> bytes:
    return importlib.resources.files("openread").joinpath("openapi.json").read_bytes()


def routes(service: Service) -> list[Route]:
    """The operational routes, at the root and under ``root_path``."""

    async def languages(request: Request) -> Response:
        """The scripts and languages this server reads (openread's own route)."""
        service.authenticate(request.headers)
        engine, _ = service.require_ready()
        return json_response(wire.languages_json(engine.supported_scripts()))

    async def openapi(_request: Request) -> Response:
        """The OpenAPI description shipped with the package (Azure serves none)."""
        return Response(_openapi_document(), media_type=JSON_CONTENT_TYPE)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readiness(_request: Request) -> Response:
        if not service.ready:
            return error_response(service.startup_error or NotReadyError())
        return JSONResponse({"status": "ready"})

    result: list[Route] = []
    for prefix in dict.fromkeys(["", service.settings.root_path]):
        result.append(Route(prefix + "/openread/languages", languages, methods=["GET"]))
        result.append(Route(prefix + "/health", health, methods=["GET"]))
        result.append(Route(prefix + "/ready", readiness, methods=["GET"]))
        result.append(Route(prefix + "/openapi.json", openapi, methods=["GET"]))
    return result

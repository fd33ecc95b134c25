"""The HTTP adapter's assembly: one Starlette app from the routers of each API area, and ``serve``.

Routers (each a ``routes(service)`` function over the shared ``Service``):

    analyze   Azure's Image Analysis 4.0 ``analyze`` route
    ops       /health, /ready, /openapi.json, /openread/languages

Every response carries ``apim-request-id``/``request-id`` and ``api-supported-versions``
(``middleware``); errors are Azure's envelope (``responses``). ``OpenReadError``s are translated
there and nowhere else; anything else is a 500 whose message names the request id, with the
traceback in the log.
"""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware

from ..engine import Engine
from ..settings import Settings
from . import analyze, ops
from .middleware import RequestContextMiddleware
from .responses import exception_handlers
from .server import HardenedH11Protocol, reject_ambiguous_framing
from .service import Service

__all__ = ["create_app", "serve"]

KEEP_ALIVE_SECONDS = 30


def _build(service: Service) -> Starlette:
    app = Starlette(
        routes=[*analyze.routes(service), *ops.routes(service)],
        middleware=[Middleware(RequestContextMiddleware)],
        exception_handlers=exception_handlers(),
        lifespan=service.lifespan,
    )
    # A path with a trailing slash is another path: 404 envelope, not a 307 to the route.
    app.router.redirect_slashes = False
    return app


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """The ASGI app. Its lifespan loads the engine (unless ``engine`` is given), warms it up and
    creates the admission control; ``/ready`` answers 200 only after that."""
    return _build(Service(settings, engine))


def _configure_logging(level: str) -> None:
    root = logging.getLogger("openread")
    root.setLevel(level.upper())
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.propagate = False


def serve(settings: Settings) -> int:
    """Run the server until it is stopped (SIGINT/SIGTERM); the process exit code.

    HTTP/1.1 with keep-alive; HTTPS when ``settings.tls_cert``/``tls_key`` are set. A failure to
    start (e.g. a damaged model file) returns that error's exit code; a keys file that cannot be
    read raises ``SettingsError`` before anything is loaded.
    """
    _configure_logging(settings.log_level)
    service = Service(settings, None)
    config = uvicorn.Config(
        reject_ambiguous_framing(_build(service)),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        http=HardenedH11Protocol,  # header/body deadlines, connection cap (server.py)
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
    )
    server = uvicorn.Server(config)
    server.run()
    if server.started:
        return 0
    if service.startup_error is not None:
        return service.startup_error.exit_code
    return 1

"""The HTTP adapter's assembly: one Starlette app from the routers of each API area, and ``serve``.

Routers (each a ``routes(service)`` function over the shared ``Service``):

    analyze   Azure's Image Analysis 4.0 ``analyze`` route
    ops       /health, /ready, /openapi.json, /openread/languages
    read      the v3.0/v3.1/v3.2 Read API (analyze, analyzeResults, operations), on ``jobs``
    container the Read container's syncAnalyze, /ContainerLiveness, /status
    web       the try-it page at / and its assets (unless ``web_page`` is off)

Every response carries ``apim-request-id``/``request-id`` and ``api-supported-versions``
(``middleware``); errors are Azure's envelope (``responses``). ``OpenReadError``s are translated
there and nowhere else; anything else is a 500 whose message names the request id, with the
traceback in the log.
"""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware

from .. import logs
from ..engine import Engine
from ..jobs import JobRunner
from ..settings import Settings
from . import analyze, container, lifecycle, metrics, ops, read, web
from .middleware import RequestContextMiddleware
from .responses import exception_handlers
from .server import HardenedH11Protocol, install_accept_guard, reject_ambiguous_framing
from .service import Service

__all__ = ["create_app", "serve"]

KEEP_ALIVE_SECONDS = 30


def _build(service: Service) -> Starlette:
    jobs = JobRunner(service.settings, service.require_ready, service.metrics.record_page)
    service.metrics.register_jobs(jobs.counts)
    routes = [
        *analyze.routes(service),
        *ops.routes(service),
        *read.routes(service, jobs),
        *container.routes(service, jobs),
        *web.routes(service),
    ]
    if service.settings.metrics and service.settings.metrics_port is None:
        routes += metrics.routes(service.metrics, service.authenticate_metrics)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContextMiddleware, service=service, routes=routes)],
        exception_handlers=exception_handlers(),
        lifespan=jobs.wrap(service.lifespan),
    )
    # A path with a trailing slash is another path: 404 envelope, not a 307 to the route.
    app.router.redirect_slashes = False
    return app


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """The ASGI app. Its lifespan loads the engine (unless ``engine`` is given), warms it up and
    creates the admission control; ``/ready`` answers 200 only after that."""
    return _build(Service(settings, engine))


def serve(settings: Settings) -> int:
    """Run the server until it is stopped (SIGINT/SIGTERM); the process exit code.

    HTTP/1.1 with keep-alive; HTTPS when ``settings.tls_cert``/``tls_key`` are set. A failure to
    start (e.g. a damaged model file) returns that error's exit code; a keys file that cannot be
    read raises ``SettingsError`` before anything is loaded.
    """
    logs.configure(settings.log_level, settings.log_format)
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
        log_config=None,  # openread.logs has configured uvicorn's loggers
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace)),
    )
    server = uvicorn.Server(config)
    lifecycle.install(server, service)
    install_accept_guard(server)  # EMFILE under a flood: one warning a minute (server.py)
    if settings.metrics and settings.metrics_port is not None:
        metrics.serve_separately(service.metrics, settings.host, settings.metrics_port)
    server.run()
    if server.started:
        return 0
    if service.startup_error is not None:
        return service.startup_error.exit_code
    return 1

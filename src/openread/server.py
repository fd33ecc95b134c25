"""The HTTP server: Azure's Image Analysis 4.0 ``analyze`` route (``features=read``) on Starlette.

    POST {root_path?}/computervision/imageanalysis:analyze?api-version=...&features=read
    GET  /health   200 {"status":"ok"} whenever the process answers
    GET  /ready    200 once the engine is loaded and warmed up, else 503
    GET  /openread/languages   the scripts and languages this server reads (key needed)
    GET  /openapi.json         the OpenAPI 3 description of these routes (no key needed: it is
                               the same for every openread server and names no setting)

Order of checks for ``analyze``: key, query parameters, readiness, content type, then the body
(streamed, and abandoned as soon as it is larger than the limit), then the image itself (in the
engine, on a worker thread admitted by ``parallel.Admission``). Every response carries
``apim-request-id``/``request-id`` and ``api-supported-versions``; errors are Azure's envelope
(built by ``wire``) with ``x-ms-error-code`` (except 401, as Azure) and ``Retry-After`` on
429/503. ``OpenReadError``s are translated here and nowhere else; anything else is a 500 whose
message names the request id, with the traceback in the log.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import uvicorn
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import urlfetch, wire
from .auth import KeyRing
from .engine import Engine
from .errors import (
    AuthenticationError,
    BadArgumentError,
    BusyError,
    FeatureNotEnabledError,
    ImageBytesSizeError,
    ImageUrlError,
    InternalError,
    InvalidApiVersionError,
    MethodNotAllowedError,
    MissingFeaturesError,
    NotFoundError,
    NotReadyError,
    NotSupportedVisualFeatureError,
    OpenReadError,
    UnsupportedContentTypeError,
)
from .parallel import Admission
from .settings import Settings

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["ANALYZE_PATH", "SUPPORTED_API_VERSIONS", "create_app", "serve"]

log = logging.getLogger("openread.server")

ANALYZE_PATH = "/computervision/imageanalysis:analyze"
SUPPORTED_API_VERSIONS = ("2023-10-01", "2024-02-01")
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

FEATURES = {
    "tags": "Tags",
    "caption": "Caption",
    "densecaptions": "DenseCaptions",
    "objects": "Objects",
    "read": "Read",
    "smartcrops": "SmartCrops",
    "people": "People",
}
"""Azure's visual feature names (lower case) and how Azure spells them in messages."""

MODEL_VERSION_PATTERN = re.compile(r"^(latest|\d{4}-\d{2}-\d{2})(-preview)?$")
BAD_BODY_MESSAGE = "Bad or unrecognizable request JSON or binary file."
URL_DISABLED_MESSAGE = (
    "The provided image url is not accessible. URL input is disabled on this server "
    "(set OPENREAD_URL_FETCH=true)."
)
JSON_BODY_LIMIT = 64 * 1024
"""Largest accepted ``{"url": ...}`` body."""
MULTIPART_OVERHEAD = 64 * 1024
"""Room for multipart boundaries and part headers on top of the image byte limit."""
URL_FETCH_WORKERS = 4
URL_FETCH_QUEUE = 32
KEEP_ALIVE_SECONDS = 30
BODY_IDLE_SECONDS = 30
"""A request body that sends nothing for this long is abandoned (400 and the connection closed)."""
_REQUEST_ID_KEY = "openread.request_id"
_BODY_ABANDONED_KEY = "openread.body_abandoned"
_CLIENT_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


# --------------------------------------------------------------------------- query parameters


@dataclass(frozen=True, slots=True)
class AnalyzeQuery:
    """The validated query of an ``analyze`` request."""

    api_version: str
    features: tuple[str, ...]
    model_version: str | None
    language: str | None = None
    """A hint (BCP-47); never an error for Read, whatever it names (Azure auto-detects)."""
    scripts: bool = False
    """``openread-script=true``: add each line's script to the body (openread's extension)."""


def parse_query(params: QueryParams) -> AnalyzeQuery:
    """Validate the query (names are matched case-insensitively; unknown ones are ignored)."""
    values: dict[str, list[str]] = {}
    for name, value in params.multi_items():
        values.setdefault(name.lower(), []).append(value)
    api_version = _api_version(values.get("api-version", []))
    features = _features(values.get("features", []))
    model_version = _model_version(values.get("model-version", []))
    language = next((v.strip() for v in values.get("language", []) if v.strip()), None)
    scripts = any(v.strip().lower() in {"true", "1"} for v in values.get("openread-script", []))
    return AnalyzeQuery(api_version, features, model_version, language, scripts)


def _api_version(given: list[str]) -> str:
    supported = ", ".join(SUPPORTED_API_VERSIONS)
    if not given or not given[0].strip():
        raise InvalidApiVersionError(
            f"The api-version query parameter is missing. Supported versions: {supported}."
        )
    version = given[0].strip()
    if version not in SUPPORTED_API_VERSIONS:
        raise InvalidApiVersionError(
            f"The api-version '{version[:40]}' is not supported. Supported versions: {supported}."
        )
    return version


def _features(given: list[str]) -> tuple[str, ...]:
    names = [item.strip().lower() for value in given for item in value.split(",")]
    names = [name for name in names if name]
    if not names:
        raise MissingFeaturesError()
    if any(name not in FEATURES for name in names):
        raise NotSupportedVisualFeatureError(inner_message="Specified feature type is not valid")
    for name in names:
        if name != "read":
            raise FeatureNotEnabledError(
                f"The feature '{FEATURES[name]}' is not supported by this server; "
                "openread implements 'read' only."
            )
    return tuple(dict.fromkeys(names))


def _model_version(given: list[str]) -> str | None:
    if not given:
        return None
    value = given[0].strip()
    if not MODEL_VERSION_PATTERN.fullmatch(value):
        raise BadArgumentError(
            f"The model-version '{value[:40]}' is not valid: use 'latest' or a date "
            "'YYYY-MM-DD', optionally followed by '-preview'."
        )
    return value


# --------------------------------------------------------------------------- request bodies


@dataclass(frozen=True, slots=True)
class ImageUrl:
    """A ``{"url": ...}`` body: the image is to be downloaded."""

    url: str


def _too_large(max_bytes: int) -> ImageBytesSizeError:
    return ImageBytesSizeError(
        f"The image size is not allowed to be zero or larger than {max_bytes} bytes."
    )


async def read_capped(request: Request, cap: int, too_large: Callable[[], OpenReadError]) -> bytes:
    """The whole body, read chunk by chunk (chunked bodies too); raise ``too_large()`` as soon
    as it is longer than ``cap`` bytes (before reading anything if ``Content-Length`` says so)."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only ("²".isdigit() is true); more than 18 of them is too large anyway (and
    # past 4300 digits int() refuses to convert)
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > cap):
        request.scope[_BODY_ABANDONED_KEY] = True
        raise too_large()
    buffer = bytearray()
    chunks = request.stream()
    while True:
        try:
            with anyio.fail_after(BODY_IDLE_SECONDS):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return bytes(buffer)
        except TimeoutError as exc:
            request.scope[_BODY_ABANDONED_KEY] = True
            raise BadArgumentError(
                f"The request body stalled: nothing arrived for {BODY_IDLE_SECONDS} seconds."
            ) from exc
        buffer += chunk
        if len(buffer) > cap:
            request.scope[_BODY_ABANDONED_KEY] = True
            raise too_large()


async def read_image_body(request: Request, settings: Settings) -> bytes | ImageUrl:
    """The image bytes, or the URL to download, from a request of any accepted content type."""
    header = request.headers.get("content-type", "")
    media_type = header.split(";", 1)[0].strip().lower()
    max_bytes = settings.limits.max_bytes
    if media_type in ("", "application/octet-stream") or media_type.startswith("image/"):
        data = await read_capped(request, max_bytes, lambda: _too_large(max_bytes))
    elif media_type == "multipart/form-data":
        raw = await read_capped(
            request, max_bytes + MULTIPART_OVERHEAD, lambda: _too_large(max_bytes)
        )
        data = first_file_part(raw, header)
    elif media_type == "application/json":
        raw = await read_capped(
            request, JSON_BODY_LIMIT, lambda: BadArgumentError(BAD_BODY_MESSAGE)
        )
        return ImageUrl(parse_url_json(raw))
    else:
        raise UnsupportedContentTypeError(
            f"The provided image content type '{header[:100]}' is not supported."
        )
    if not data or len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def parse_url_json(raw: bytes) -> str:
    """The ``url`` of a ``{"url": "..."}`` body."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON (or not UTF-8), or nested too deep
        raise BadArgumentError(BAD_BODY_MESSAGE) from exc
    url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str):
        raise BadArgumentError(BAD_BODY_MESSAGE)
    return url


@dataclass(slots=True)
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)

    @property
    def is_file(self) -> bool:
        """A part with a file name, or with a non-text content type."""
        _, params = parse_options_header(self.headers.get("content-disposition", ""))
        if b"filename" in params or b"filename*" in params:
            return True
        content_type = self.headers.get("content-type", "").lower()
        return bool(content_type) and not content_type.startswith("text/")


@dataclass(slots=True)
class _PartCollector:
    """Callbacks for ``python_multipart.MultipartParser`` that keep every part in memory."""

    parts: list[_Part] = field(default_factory=list)
    _field: bytearray = field(default_factory=bytearray)
    _value: bytearray = field(default_factory=bytearray)

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": lambda: self.parts.append(_Part()),
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_part_data": lambda d, s, e: self.parts[-1].data.extend(d[s:e]),
        }

    def _header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self.parts[-1].headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()


def first_file_part(body: bytes, content_type: str) -> bytes:
    """The content of the first file part of a ``multipart/form-data`` body."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadArgumentError(BAD_BODY_MESSAGE)
    collector = _PartCollector()
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # refuses boundaries > 256 bytes
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise BadArgumentError(BAD_BODY_MESSAGE) from exc
    for part in collector.parts:
        if part.is_file:
            return bytes(part.data)
    raise BadArgumentError(BAD_BODY_MESSAGE)


# --------------------------------------------------------------------------- responses


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


def request_id(request: Request) -> str:
    """The id given to ``request`` by the request-context middleware."""
    return str(request.scope.get(_REQUEST_ID_KEY, "unknown"))


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
        scope[_REQUEST_ID_KEY] = rid
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
                scope.get("path", ""),
                scope.get("http_version", ""),
                status,
                (time.perf_counter() - started) * 1000,
                rid,
                client_rid or "-",
            )


async def _openread_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, OpenReadError):  # pragma: no cover - registered for OpenReadError
        raise exc
    if isinstance(exc, InternalError):
        log.error("request %s: %s", request_id(request), exc.message)
    response = error_response(exc)
    if request.scope.get(_BODY_ABANDONED_KEY):
        # The rest of a too large body is not read: close rather than drain it.
        response.headers["Connection"] = "close"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for 404/405
        raise exc
    if exc.status_code == 405:
        response = error_response(MethodNotAllowedError())
        allow = (exc.headers or {}).get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response
    return error_response(NotFoundError())


# --------------------------------------------------------------------------- the service


@functools.cache
def _openapi_document() -> bytes:
    return importlib.resources.files("openread").joinpath("openapi.json").read_bytes()


class _Service:
    """The server's state (engine, admission, readiness) and its endpoints."""

    def __init__(self, settings: Settings, engine: Engine | None) -> None:
        self.settings = settings
        self.engine = engine
        self.admission: Admission | None = None
        self.fetches: Admission | None = None
        self.ready = False
        self.startup_error: OpenReadError | None = None
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
        await anyio.to_thread.run_sync(engine.warm_up)
        self.engine = engine
        self.admission = Admission(self.settings.workers, self.settings.max_queue)
        self.fetches = Admission(URL_FETCH_WORKERS, URL_FETCH_QUEUE)
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

    def routes(self) -> list[Route]:
        paths = [ANALYZE_PATH]
        if self.settings.root_path:
            paths.append(self.settings.root_path + ANALYZE_PATH)
        routes = [Route(path, self.analyze, methods=["POST"]) for path in paths]
        for prefix in dict.fromkeys(["", self.settings.root_path]):
            routes.append(Route(prefix + "/openread/languages", self.languages, methods=["GET"]))
            routes.append(Route(prefix + "/health", self.health, methods=["GET"]))
            routes.append(Route(prefix + "/ready", self.readiness, methods=["GET"]))
            routes.append(Route(prefix + "/openapi.json", self.openapi, methods=["GET"]))
        return routes

    async def languages(self, request: Request) -> Response:
        """The scripts and languages this server reads (openread's own route)."""
        self.authenticate(request.headers)
        engine, _ = self._require_ready()
        body = wire.languages_json(engine.supported_scripts())
        return Response(wire.dumps(body), media_type=JSON_CONTENT_TYPE)

    async def openapi(self, _request: Request) -> Response:
        """The OpenAPI description shipped with the package (Azure serves none)."""
        return Response(_openapi_document(), media_type=JSON_CONTENT_TYPE)

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readiness(self, _request: Request) -> Response:
        if not self.ready:
            return error_response(self.startup_error or NotReadyError())
        return JSONResponse({"status": "ready"})

    def authenticate(self, headers: Headers) -> None:
        """Require one of the configured keys (when there are any, or a keys file)."""
        if not self._keys.enabled:
            return
        supplied = headers.get("ocp-apim-subscription-key")
        if supplied is None:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            supplied = token.strip() if scheme.lower() == "bearer" else None
        if supplied is None:
            raise AuthenticationError()
        if not self._keys.matches(supplied):
            raise AuthenticationError()

    async def analyze(self, request: Request) -> Response:
        self.authenticate(request.headers)
        query = parse_query(request.query_params)
        engine, admission = self._require_ready()
        if admission.in_flight >= admission.workers + admission.max_queue:
            raise BusyError(retry_after=admission.retry_after)  # before reading the body
        received = time.perf_counter()
        body = await read_image_body(request, self.settings)
        data = body if isinstance(body, bytes) else await self._download(body)
        processed = time.perf_counter()
        result = await admission.run(lambda: engine.read(data, language=query.language))
        done = time.perf_counter()
        headers = {
            "ms-vision-response-time-input-received": str(round((processed - received) * 1000)),
            "ms-vision-response-time-input-processed": str(round((done - processed) * 1000)),
        }
        body_json = wire.to_azure_json(
            result, include_read="read" in query.features, scripts=query.scripts
        )
        return Response(wire.dumps(body_json), headers=headers, media_type=JSON_CONTENT_TYPE)

    def _require_ready(self) -> tuple[Engine, Admission]:
        if not self.ready or self.engine is None or self.admission is None:
            raise self.startup_error or NotReadyError()
        return self.engine, self.admission

    async def _download(self, body: ImageUrl) -> bytes:
        if not self.settings.url_fetch:
            raise ImageUrlError(URL_DISABLED_MESSAGE)
        fetches = self.fetches
        if fetches is None:
            raise NotReadyError()
        settings = self.settings
        return await fetches.run(lambda: urlfetch.fetch_image(body.url, settings))

    def app(self) -> Starlette:
        app = Starlette(
            routes=self.routes(),
            middleware=[Middleware(RequestContextMiddleware)],
            exception_handlers={
                OpenReadError: _openread_error,
                404: _http_error,
                405: _http_error,
            },
            lifespan=self.lifespan,
        )
        # A path with a trailing slash is another path: 404 envelope, not a 307 to the route.
        app.router.redirect_slashes = False
        return app


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """The ASGI app. Its lifespan loads the engine (unless ``engine`` is given), warms it up and
    creates the admission control; ``/ready`` answers 200 only after that."""
    return _Service(settings, engine).app()


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
    service = _Service(settings, None)
    config = uvicorn.Config(
        service.app(),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        http="h11",
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

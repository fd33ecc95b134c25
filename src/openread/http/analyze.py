"""Azure's Image Analysis 4.0 ``analyze`` route (``features=read``).

    POST {root_path?}/computervision/imageanalysis:analyze?api-version=...&features=read

Order of checks: key, query parameters, readiness, admission (429 before reading the body, by
requests in flight and by the bytes of bodies held, ``Service.admit_body``), content type, then
the body (``body``), then the image itself (in the engine, on a worker thread admitted by
``parallel.Admission``)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import wire
from ..errors import (
    BadArgumentError,
    BusyError,
    FeatureNotEnabledError,
    InvalidApiVersionError,
    MissingFeaturesError,
    NotSupportedVisualFeatureError,
)
from ..result import ReadResult
from .body import read_image_body
from .responses import json_response
from .service import Service

__all__ = [
    "ANALYZE_PATH",
    "GA_API_VERSIONS",
    "PREVIEW_API_VERSIONS",
    "SUPPORTED_API_VERSIONS",
    "AnalyzeQuery",
    "parse_query",
    "routes",
]

ANALYZE_PATH = "/computervision/imageanalysis:analyze"
GA_API_VERSIONS = ("2023-10-01", "2024-02-01")
PREVIEW_API_VERSIONS = ("2022-10-12-preview", "2023-02-01-preview", "2023-04-01-preview")
"""Retired preview versions still used by old clients: answered in the preview ``readResult``
shape (``wire.preview``)."""
SUPPORTED_API_VERSIONS = GA_API_VERSIONS + PREVIEW_API_VERSIONS

LENIENT_FEATURES = frozenset(
    {"caption", "tags", "objects", "people", "smartcrops", "densecaptions"}
)
"""Features openread does not have that ``--lenient-features`` lets a ``read`` request name
(they are left out of the answer)."""

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
    styles: bool = False
    """``openread-style=true``: add each line's ``appearance`` (handwriting or not) to the
    body (openread's extension)."""

    @property
    def preview(self) -> bool:
        """Whether the answer takes the preview ``readResult`` shape (``wire.preview``)."""
        return self.api_version in PREVIEW_API_VERSIONS


def parse_query(params: QueryParams, *, lenient_features: bool = False) -> AnalyzeQuery:
    """Validate the query (names are matched case-insensitively; unknown ones are ignored).
    ``lenient_features``: ``read`` may come with features openread does not have (see
    ``LENIENT_FEATURES``), which are then ignored instead of refused."""
    values: dict[str, list[str]] = {}
    for name, value in params.multi_items():
        values.setdefault(name.lower(), []).append(value)
    api_version = _api_version(values.get("api-version", []))
    features = _features(values.get("features", []), lenient_features)
    model_version = _model_version(values.get("model-version", []))
    language = next((v.strip() for v in values.get("language", []) if v.strip()), None)
    scripts = _flag(values.get("openread-script", []))
    styles = _flag(values.get("openread-style", []))
    return AnalyzeQuery(api_version, features, model_version, language, scripts, styles)


def _flag(given: list[str]) -> bool:
    return any(v.strip().lower() in {"true", "1"} for v in given)


def _api_version(given: list[str]) -> str:
    supported = ", ".join(SUPPORTED_API_VERSIONS)  # GA first
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


def _features(given: list[str], lenient: bool) -> tuple[str, ...]:
    names = [item.strip().lower() for value in given for item in value.split(",")]
    names = [name for name in names if name]
    if not names:
        raise MissingFeaturesError()
    if any(name not in FEATURES for name in names):
        raise NotSupportedVisualFeatureError(inner_message="Specified feature type is not valid")
    ignored = LENIENT_FEATURES if lenient and "read" in names else frozenset()
    for name in names:
        if name != "read" and name not in ignored:
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


def routes(service: Service) -> list[Route]:
    """The ``analyze`` route, at the root and under ``root_path``."""

    async def analyze(request: Request) -> Response:
        service.authenticate(request.headers)
        query = parse_query(
            request.query_params, lenient_features=service.settings.lenient_features
        )
        engine, admission = service.require_ready()
        if admission.in_flight >= admission.workers + admission.max_queue:
            raise BusyError(retry_after=admission.retry_after)  # before reading the body
        async with service.admit_body(request) as reservation:  # 429 before the body too
            received = time.perf_counter()
            body = await read_image_body(request, service.settings, reservation)
            data = body if isinstance(body, bytes) else await service.download(body)
            reservation.cover(len(data))  # a downloaded image is held as well
            processed = time.perf_counter()
            stage = service.metrics.stage

            def read() -> ReadResult:
                stage.labels("queue").observe(time.perf_counter() - processed)
                return engine.read(data, language=query.language)

            stage.labels("body").observe(processed - received)
            result = await admission.run(read)
        done = time.perf_counter()
        service.metrics.record_read(request.scope, len(result.words), timings=result.timings)
        headers = {
            "ms-vision-response-time-input-received": str(round((processed - received) * 1000)),
            "ms-vision-response-time-input-processed": str(round((done - processed) * 1000)),
        }
        include_read = "read" in query.features
        if query.preview:
            return json_response(wire.to_preview_json(result, include_read=include_read), headers)
        body_json = wire.to_azure_json(
            result, include_read=include_read, scripts=query.scripts, styles=query.styles
        )
        return json_response(body_json, headers)

    paths = dict.fromkeys([ANALYZE_PATH, service.settings.root_path + ANALYZE_PATH])
    return [Route(path, analyze, methods=["POST"]) for path in paths]

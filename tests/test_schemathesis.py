"""The server against its own OpenAPI description (``GET /openapi.json``), with schemathesis.

schemathesis loads the description from the in-process app (ASGI, its lifespan run by
schemathesis), generates requests for every operation (valid and invalid ones) and checks each
answer: no 5xx, a status the description declares, its content type, and its body against the
declared schema. The engine is the session's (``conftest.engine``), reading each distinct image
once (see ``test_request_properties.OnceEngine``); the server has no keys and URL input off.
"""

from __future__ import annotations

import importlib.resources
import io
import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from PIL import Image, ImageDraw
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport import SerializationContext
from schemathesis.transport.serialization import serialize_binary
from starlette.applications import Starlette

from openread import Engine, Settings
from openread.http import ANALYZE_PATH, create_app
from test_request_properties import AppClient, OnceEngine

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@schemathesis.serializer("application/pdf")
def _pdf_body(_ctx: SerializationContext, value: Any) -> bytes:
    """The v3.x Read routes take ``application/pdf`` bodies as they are (raw bytes)."""
    return serialize_binary(value)


SCHEMA = schemathesis.openapi.from_dict(
    json.loads(importlib.resources.files("openread").joinpath("openapi.json").read_text())
)


@pytest.fixture(scope="module")
def app(engine: Engine) -> Starlette:
    return create_app(Settings(), OnceEngine(engine))


def test_the_description_is_served(app: Starlette) -> None:
    client = AppClient(app)
    try:
        response = client.get("/openapi.json")
    finally:
        client.close()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == SCHEMA.raw_schema


@SCHEMA.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_conformance(case: schemathesis.Case[Any], app: Starlette) -> None:
    case.call_and_validate(app=app, checks=CHECKS)


def text_png() -> bytes:
    image = Image.new("RGB", (160, 60), "white")
    ImageDraw.Draw(image).text((10, 20), "Hello world", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("media_type", ["application/octet-stream", "image/png"])
def test_a_real_read_conforms(app: Starlette, media_type: str) -> None:
    """A 200 with text in it (generated bodies are almost never valid images)."""
    operation = SCHEMA[ANALYZE_PATH]["POST"]
    case = operation.Case(
        query={"api-version": "2023-10-01", "features": "read"},
        body=text_png(),
        media_type=media_type,
    )
    response = case.call_and_validate(app=app, checks=CHECKS)
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["readResult"]["blocks"], body

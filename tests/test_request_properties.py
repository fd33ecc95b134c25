"""Property tests of the request path: whatever a client sends (query, headers, body, method,
path), the in-process app answers 200 with the result JSON or Azure's error envelope, never 5xx.

The app is ``create_app`` with keys on, a root path, URL input off (the default) and the
session's real engine (``conftest.engine``). A read costs most of a second on this machine, so
the engine here reads each distinct image once and keeps the result (the request path is what
is tested; the language hint is still parsed for every request).
"""

from __future__ import annotations

import io
import json
import string
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from starlette.applications import Starlette

from openread import Engine, ReadResult, Settings
from openread.engine import ImageInput
from openread.http import ANALYZE_PATH, create_app
from openread.scripts.script import language_scripts

KEY = "property-key"
ROOT_PATH = "/proxy"
JSON_UTF8 = "application/json; charset=utf-8"
VALID_QUERY = "api-version=2023-10-01&features=read"
COMMON_HEADERS = ("apim-request-id", "request-id", "api-supported-versions")
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class OnceEngine(Engine):
    """The session's engine, reading each distinct image once."""

    def __init__(self, engine: Engine) -> None:
        self.settings = engine.settings
        self.models = engine.models
        self._engine = engine
        self._results: dict[bytes, ReadResult] = {}

    def warm_up(self) -> None:
        """Nothing: the session engine warms up on its first read."""

    def read(self, image: ImageInput, *, language: str | None = None) -> ReadResult:
        language_scripts(language)  # the hint must never fail, whatever it says
        if not isinstance(image, bytes):
            return self._engine.read(image, language=language)
        if image not in self._results:
            self._results[image] = self._engine.read(image, language=language)
        return self._results[image]


def image_bytes(size: tuple[int, int], fmt: str, text: str = "Hi") -> bytes:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((8, size[1] // 3), text, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


PNG = image_bytes((64, 64), "PNG")
TINY_PNG = image_bytes((8, 6), "PNG")
JPEG = image_bytes((64, 64), "JPEG")
IMAGES = (PNG, TINY_PNG, JPEG)


class AppClient:
    """A synchronous client of an in-process app whose lifespan runs (so it is ready) for as
    long as the client is open; requests go through ``httpx.ASGITransport`` on one event loop."""

    def __init__(self, app: Starlette) -> None:
        self._stack = ExitStack()
        self._portal = self._stack.enter_context(start_blocking_portal())
        self._stack.enter_context(
            self._portal.wrap_async_context_manager(app.router.lifespan_context(app))
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://openread.test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(partial(self._client.request, method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._stack.close()


def app_client(engine: Engine, **settings: Any) -> AppClient:
    """An ``AppClient`` of ``create_app(Settings(**settings), OnceEngine(engine))``."""
    return AppClient(create_app(Settings(**settings), OnceEngine(engine)))


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[AppClient]:
    test_client = app_client(engine, api_keys=(KEY,), root_path=ROOT_PATH)
    yield test_client
    test_client.close()


# --------------------------------------------------------------------------- the oracle


def assert_azure_answer(response: httpx.Response, method: str = "POST") -> None:
    """200 with JSON (the result invariants for ``analyze``), or Azure's error envelope."""
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:500]}"
    if response.request.url.path.startswith(("/vision/v3", ROOT_PATH + "/vision/v3")):
        assert_v3_answer(response)
        return
    for name in COMMON_HEADERS:
        assert name in response.headers
    if status >= 400:
        assert_envelope(response, method)
        return
    assert status == 200, f"{status} is neither 200 nor an error envelope"
    path = response.request.url.path.removeprefix(ROOT_PATH)
    if method in ("GET", "HEAD") and (path in ("", "/") or path.startswith("/openread/web/")):
        # the try-it page and its assets (http/web.py)
        assert response.headers["content-security-policy"]
        return
    assert response.headers["content-type"].startswith("application/json")
    if method == "HEAD":
        return
    body = response.json()
    if method == "POST":
        assert_analyze_result(body)


def assert_v3_answer(response: httpx.Response) -> None:
    """The v3.x Read routes: 202 + Operation-Location, 200 JSON, or the v3 error body (the 4.0
    envelope plus flat ``code``/``message``/``requestId``; unknown paths get the plain one)."""
    status = response.status_code
    for name in COMMON_HEADERS:
        assert name in response.headers
    if status == 202:
        assert "/read/analyzeResults/" in response.headers["operation-location"]
        return
    if status < 400 or response.request.method == "HEAD":
        return
    body = response.json()
    assert isinstance(body, dict)
    assert "error" in body
    assert set(body) <= {"error", "code", "message", "requestId", "status"}


def assert_envelope(response: httpx.Response, method: str = "POST") -> None:
    assert response.headers["content-type"] == JSON_UTF8
    if response.status_code == 401:
        assert "x-ms-error-code" not in response.headers
    if response.status_code in (429, 503):
        assert "retry-after" in response.headers
    if method == "HEAD":
        return
    body = response.json()
    assert isinstance(body, dict)
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "innererror"}
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    if "innererror" in error:
        inner = error["innererror"]
        assert set(inner) == {"code", "message"}
        assert all(isinstance(inner[k], str) and inner[k] for k in inner)
    if response.status_code != 401:
        assert response.headers["x-ms-error-code"] == error["code"]


def assert_analyze_result(body: Any) -> None:
    assert {"modelVersion", "metadata"} <= set(body)
    width, height = body["metadata"]["width"], body["metadata"]["height"]
    assert isinstance(width, int)
    assert isinstance(height, int)
    blocks = body.get("readResult", {"blocks": []})["blocks"]
    assert len(blocks) <= 1
    for block in blocks:
        for line in block["lines"]:
            assert line["text"] == " ".join(word["text"] for word in line["words"])
            polygons = [line["boundingPolygon"]] + [w["boundingPolygon"] for w in line["words"]]
            for polygon in polygons:
                assert len(polygon) == 4
                for point in polygon:
                    assert 0 <= point["x"] < width
                    assert 0 <= point["y"] < height
            for word in line["words"]:
                assert 0 <= word["confidence"] <= 1


# --------------------------------------------------------------------------- strategies

PARAM_NAMES = (
    "api-version",
    "API-VERSION",
    "features",
    "Features",
    "language",
    "model-version",
    "gender-neutral-caption",
    "smartcrops-aspect-ratios",
    "openread-script",
    "model-name",
)
PARAM_VALUES = (
    "2023-10-01",
    "2024-02-01",
    "2023-02-01-preview",
    "read",
    "Read,READ",
    "read%2Ccaption",
    "caption",
    "read,people",
    "nonsense",
    "",
    " ",
    ",,",
    "latest",
    "2023-10-01-preview",
    "true",
    "False",
    "0.9,1.33",
    "ru",
    "zh-Hant",
    "x" * 300,
)
any_text = st.text(st.characters(codec="utf-8"), max_size=40)
params = st.lists(
    st.tuples(st.sampled_from(PARAM_NAMES) | any_text, st.sampled_from(PARAM_VALUES) | any_text),
    max_size=6,
)
raw_query = st.text(st.sampled_from(string.printable.replace("#", "")), max_size=120)


@st.composite
def queries(draw: st.DrawFn) -> str:
    """A query string: random pairs (encoded or raw) after a valid prefix or none."""
    if draw(st.booleans()):
        query = urlencode(draw(params))
    else:
        query = quote(draw(raw_query), safe="=&%,;+:/")
    return f"{VALID_QUERY}&{query}" if draw(st.booleans()) else query


CONTENT_TYPES = (
    "application/octet-stream",
    "image/png",
    "IMAGE/JPEG",
    "image/",
    "application/json",
    "application/json; charset=utf-8",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=abc",
    "text/plain",
    "application/x-www-form-urlencoded",
    ";",
    "application/octet-stream; q=1; q=2",
)
header_text = st.binary(max_size=60).map(
    lambda b: bytes(c for c in b if 0x20 <= c <= 0x7E or c >= 0x80)
)
AUTH: dict[str, dict[str, str | bytes]] = {
    "key": {"Ocp-Apim-Subscription-Key": KEY},
    "bearer": {"Authorization": f"Bearer {KEY}"},
    "none": {},
    "wrong": {"Ocp-Apim-Subscription-Key": "nope"},
    "empty": {"Ocp-Apim-Subscription-Key": ""},
    "basic": {"Authorization": f"Basic {KEY}"},
    "bearer-only": {"Authorization": "Bearer"},
    "unicode": {"Authorization": "Bearer ключ".encode()},
}


def multipart(parts: list[tuple[bytes, bytes]], boundary: str) -> bytes:
    """A multipart body of (part headers, data) pairs."""
    body = b""
    for headers, data in parts:
        body += b"--" + boundary.encode() + b"\r\n" + headers + b"\r\n\r\n" + data + b"\r\n"
    return body + b"--" + boundary.encode() + b"--\r\n"


PART_HEADERS = (
    b'content-disposition: form-data; name="image"; filename="a.png"',
    b'content-disposition: form-data; name="image"',
    b"content-disposition: form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC.png",
    b'content-disposition: form-data; name="f"\r\ncontent-type: image/png',
    b'content-disposition: form-data; name="f"\r\ncontent-type: text/plain',
    b"content-disposition: attachment",
    b"x: y",
)
data_bytes = st.sampled_from(IMAGES) | st.binary(max_size=512)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str | None, bytes]:
    """A content type (None: no header) and a body that go together, or do not."""
    kind = draw(st.sampled_from(["raw", "multipart", "json", "random"]))
    if kind == "raw":
        return draw(st.sampled_from(["application/octet-stream", "image/png", None])), draw(
            data_bytes
        )
    if kind == "multipart":
        boundary = draw(
            st.text(string.ascii_letters + string.digits + "'()+_,-./:=?", min_size=1)
            | st.sampled_from([70, 256, 257, 2000]).map(lambda n: "b" * n)
        )
        part = st.tuples(st.sampled_from(PART_HEADERS), data_bytes)
        body = multipart(draw(st.lists(part, max_size=3)), boundary)
        if draw(st.booleans()):
            body = body[: draw(st.integers(0, len(body)))]
        return f"multipart/form-data; boundary={boundary}", body
    if kind == "json" and draw(st.booleans()):
        depth = draw(st.integers(1, 20_000))  # deeper than the recursion limit, too
        return "application/json", draw(st.sampled_from([b"[", b'{"url":'])) * depth
    if kind == "json":
        value = draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | any_text,
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["url", "URL", "x"]), inner, max_size=3)
                ),
                max_leaves=6,
            )
        )
        return draw(st.sampled_from(["application/json", "Application/JSON; x=1"])), json.dumps(
            value
        ).encode()
    return draw(st.sampled_from(CONTENT_TYPES) | any_text.map(ascii)), draw(st.binary(max_size=256))


# --------------------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(query=queries(), prefix=st.sampled_from(["", ROOT_PATH]))
def test_any_query_string(client: AppClient, query: str, prefix: str) -> None:
    headers = {"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/octet-stream"}
    response = client.post(f"{prefix}{ANALYZE_PATH}?{query}", content=PNG, headers=headers)
    event(f"status {response.status_code}")
    assert_azure_answer(response)


@PROPERTY_SETTINGS
@given(
    auth=st.sampled_from(sorted(AUTH)),
    content_type=st.sampled_from(CONTENT_TYPES) | header_text,
    extra=st.lists(
        st.tuples(
            st.sampled_from(
                ["x-ms-client-request-id", "content-length", "expect", "accept", "x-custom"]
            ),
            header_text | st.sampled_from([b"\xb2", b"0", b"99999999", b"9" * 5000]),
        ),
        max_size=3,
    ),
    image=st.sampled_from(IMAGES),
)
def test_any_headers(
    client: AppClient,
    auth: str,
    content_type: str | bytes,
    extra: list[tuple[str, bytes]],
    image: bytes,
) -> None:
    pairs = [("content-type", content_type), *AUTH[auth].items(), *extra]
    headers = [(name.encode(), v if isinstance(v, bytes) else v.encode()) for name, v in pairs]
    response = client.post(f"{ANALYZE_PATH}?{VALID_QUERY}", content=image, headers=headers)
    event(f"status {response.status_code}")
    assert_azure_answer(response)


@PROPERTY_SETTINGS
@given(body=bodies())
def test_any_body(client: AppClient, body: tuple[str | None, bytes]) -> None:
    content_type, content = body
    headers = {"Ocp-Apim-Subscription-Key": KEY}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post(f"{ANALYZE_PATH}?{VALID_QUERY}", content=content, headers=headers)
    event(f"status {response.status_code}")
    assert_azure_answer(response)


@PROPERTY_SETTINGS
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.sampled_from(
        [
            ANALYZE_PATH,
            "/computervision/imageanalysis%3Aanalyze",
            ANALYZE_PATH + "/",
            ROOT_PATH + ANALYZE_PATH,
            "/health",
            "/health/",
            "/ready",
            "/openread/languages",
            "/openapi.json",
            ROOT_PATH + "/openapi.json",
            "/",
            "/vision/v3.2/read/analyze",
        ]
    )
    # one leading slash: the client reads "//host:port/..." as a network path (another server)
    | st.text(string.ascii_letters + string.digits + "/:%._-~", max_size=40).map(
        lambda p: "/" + p.lstrip("/")
    ),
    keyed=st.booleans(),
)
def test_any_method_and_path(client: AppClient, method: str, path: str, keyed: bool) -> None:
    headers = {"Ocp-Apim-Subscription-Key": KEY} if keyed else {}
    content = b"" if method in ("GET", "HEAD", "OPTIONS") else TINY_PNG
    response = client.request(method, f"{path}?{VALID_QUERY}", content=content, headers=headers)
    event(f"status {response.status_code}")
    assert_azure_answer(response, method)

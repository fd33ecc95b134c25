"""The HTTP server over real sockets (``openread serve`` subprocesses), driven with httpx.

Covers the rows of spec section 2.9 that apply, the body forms (raw, ``image/*``, chunked,
multipart, JSON URL), routing (``%3A``, root path, 404, 405), auth, the common headers, the 429
admission limit, and the layout invariants of the wire JSON.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from PIL import Image

from openread import Settings
from openread.http import create_app
from serving import (
    ANALYZE,
    API_KEY,
    QUERY,
    ImageHost,
    ServerProcess,
    azure_words,
    busy_server,
    image_host,
    main_server,
    matched_words,
    png_bytes,
    server_logs,
)

__all__ = ["busy_server", "image_host", "main_server", "server_logs"]

SIZE_MESSAGE = "The image size is not allowed to be zero or larger than 20971520 bytes."
DIMENSION_MESSAGE = (
    "The image dimension is not allowed to be smaller than 50 and larger than 16000."
)
BAD_BODY = "Bad or unrecognizable request JSON or binary file."
KEY = {"Ocp-Apim-Subscription-Key": API_KEY}
OCTET = {**KEY, "Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def note_response(
    main_server: ServerProcess, client: httpx.Client, sticky_note: Path
) -> httpx.Response:
    return client.post(main_server.url(), content=sticky_note.read_bytes(), headers=OCTET)


@pytest.fixture(scope="module")
def blank_png() -> bytes:
    return png_bytes(200, 200)


def assert_common_headers(response: httpx.Response) -> None:
    rid = response.headers["apim-request-id"]
    assert uuid.UUID(rid).version == 4
    assert response.headers["request-id"] == rid
    assert response.headers["api-supported-versions"] == (
        "2023-10-01,2024-02-01,2022-10-12-preview,2023-02-01-preview,2023-04-01-preview"
    )


def assert_error(
    response: httpx.Response,
    status: int,
    code: str,
    inner: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Check Azure's envelope and headers; the ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert_common_headers(response)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    if status == 401:
        assert "x-ms-error-code" not in response.headers
    else:
        assert response.headers["x-ms-error-code"] == code
    if inner is None:
        assert "innererror" not in error
    else:
        assert error["innererror"]["code"] == inner
        assert error["innererror"]["message"]
    if message is not None:
        assert error["message"] == message
    return error


# --------------------------------------------------------------------------- success


def assert_polygon(polygon: list[dict[str, Any]], width: int, height: int) -> None:
    assert len(polygon) == 4
    for point in polygon:
        assert set(point) == {"x", "y"}
        assert isinstance(point["x"], int)
        assert isinstance(point["y"], int)
        assert 0 <= point["x"] < width
        assert 0 <= point["y"] < height


def assert_layout(body: dict[str, Any]) -> None:
    """The invariants of Azure's schema on a wire body."""
    assert list(body) == ["modelVersion", "metadata", "readResult"]
    assert isinstance(body["modelVersion"], str)
    assert body["modelVersion"]
    width, height = body["metadata"]["width"], body["metadata"]["height"]
    assert isinstance(width, int)
    assert isinstance(height, int)
    assert width >= 1
    assert height >= 1
    blocks = body["readResult"]["blocks"]
    assert len(blocks) <= 1
    for block in blocks:
        assert block["lines"]
        for line in block["lines"]:
            assert line["words"]
            assert line["text"] == " ".join(word["text"] for word in line["words"])
            assert_polygon(line["boundingPolygon"], width, height)
            for word in line["words"]:
                assert word["text"]
                assert not any(ch.isspace() for ch in word["text"])
                assert_polygon(word["boundingPolygon"], width, height)
                confidence = word["confidence"]
                assert isinstance(confidence, float | int)
                assert 0 <= confidence <= 1
                assert round(confidence, 3) == confidence


def test_sticky_note(note_response: httpx.Response, eval_data: Path) -> None:
    assert note_response.status_code == 200, note_response.text
    assert note_response.headers["content-type"] == "application/json; charset=utf-8"
    assert "x-ms-error-code" not in note_response.headers
    assert_common_headers(note_response)
    body = note_response.json()
    assert_layout(body)
    assert body["modelVersion"] == "2023-10-01"
    assert body["metadata"] == {"width": 1000, "height": 945}
    lines = body["readResult"]["blocks"][0]["lines"]
    assert len(lines) == 4
    words = [word["text"] for line in lines for word in line["words"]]
    assert matched_words(words, azure_words(eval_data)) >= 20


def test_blank_image_has_no_blocks(
    main_server: ServerProcess, client: httpx.Client, blank_png: bytes
) -> None:
    response = client.post(main_server.url(), content=blank_png, headers=OCTET)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["readResult"] == {"blocks": []}
    assert body["metadata"] == {"width": 200, "height": 200}
    assert_layout(body)


@pytest.mark.parametrize(
    "query",
    [
        "api-version=2024-02-01&features=read",
        "features=Read&api-version=2023-10-01",
        "api-version=2023-10-01&features=READ",
        "api-version=2023-10-01&features=read%2C",
        "api-version=2023-10-01&features=,read,,read",
        "api-version=2023-10-01&features=read&language=pt",
        "api-version=2023-10-01&features=read&language=x",
        "api-version=2023-10-01&features=read&gender-neutral-caption=False",
        "api-version=2023-10-01&features=read&smartcrops-aspect-ratios=9.5",
        "api-version=2023-10-01&features=read&model-version=latest",
        "api-version=2023-10-01&features=read&model-version=2023-10-01-preview",
        "key1=value1&api-version=2023-10-01&key2=value2&features=read",
    ],
)
def test_accepted_queries(
    main_server: ServerProcess, client: httpx.Client, blank_png: bytes, query: str
) -> None:
    response = client.post(main_server.url(query=query), content=blank_png, headers=OCTET)
    assert response.status_code == 200, response.text
    assert "readResult" in response.json()


@pytest.mark.parametrize(
    "path",
    [
        ANALYZE,
        "/computervision/imageanalysis%3Aanalyze",
        "/computervision/imageanalysis%3aanalyze",
        "/proxy" + ANALYZE,
        "/proxy/computervision/imageanalysis%3Aanalyze",
    ],
)
def test_routes(
    main_server: ServerProcess, client: httpx.Client, blank_png: bytes, path: str
) -> None:
    response = client.post(main_server.url(path=path), content=blank_png, headers=OCTET)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "content_type", [None, "image/png", "IMAGE/JPEG", "application/octet-stream; x=y"]
)
def test_raw_body_content_types(
    main_server: ServerProcess, client: httpx.Client, blank_png: bytes, content_type: str | None
) -> None:
    headers = dict(KEY)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post(main_server.url(), content=blank_png, headers=headers)
    assert response.status_code == 200, response.text


def test_chunked_body(main_server: ServerProcess, client: httpx.Client, blank_png: bytes) -> None:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(blank_png), 100):
            yield blank_png[start : start + 100]

    response = client.post(main_server.url(), content=chunks(), headers=OCTET)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"width": 200, "height": 200}


def test_multipart_body(main_server: ServerProcess, client: httpx.Client, blank_png: bytes) -> None:
    files = {"image": ("blank.png", blank_png, "image/png")}
    response = client.post(main_server.url(), files=files, data={"note": "x"}, headers=KEY)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"width": 200, "height": 200}


def test_multipart_without_a_file_part(main_server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(
        main_server.url(),
        files={"note": (None, b"just text")},
        headers=KEY,
    )
    assert_error(response, 400, "InvalidRequest", "BadArgument", BAD_BODY)


def test_url_body(main_server: ServerProcess, client: httpx.Client, image_host: ImageHost) -> None:
    response = client.post(main_server.url(), json={"url": image_host.url("/image")}, headers=KEY)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"width": 320, "height": 240}


def test_health_and_ready(main_server: ServerProcess, client: httpx.Client) -> None:
    for path in ("/health", "/proxy/health"):
        response = client.get(main_server.base_url + path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert_common_headers(response)
    response = client.get(main_server.base_url + "/ready")
    assert response.status_code == 200
    assert_common_headers(response)


def test_client_request_id_is_echoed_and_logged(
    main_server: ServerProcess, client: httpx.Client
) -> None:
    client_id = str(uuid.uuid4())
    response = client.get(
        main_server.base_url + "/health", headers={"x-ms-client-request-id": client_id}
    )
    assert response.headers["x-ms-client-request-id"] == client_id
    rid = response.headers["apim-request-id"]
    deadline = time.monotonic() + 5
    while client_id not in main_server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(line for line in main_server.log().splitlines() if client_id in line)
    assert rid in line


def test_keys_are_never_logged(main_server: ServerProcess, client: httpx.Client) -> None:
    client.post(main_server.url(), content=b"", headers=OCTET)
    client.post(main_server.url(), content=b"", headers={"Ocp-Apim-Subscription-Key": "wrong"})
    assert API_KEY not in main_server.log()


# --------------------------------------------------------------------------- errors (2.9)


@pytest.mark.parametrize(
    "case",
    [
        ("features=read", "InvalidApiVersion", "2023-10-01, 2024-02-01"),
        ("api-version=&features=read", "InvalidApiVersion", "2023-10-01, 2024-02-01"),
        ("api-version=2022-07-31-preview&features=read", "InvalidApiVersion", "2024-02-01"),
        ("api-version=2023-10-01", None, "Either 'features' or 'model-name'"),
        ("api-version=2023-10-01&features=", None, "Either 'features' or 'model-name'"),
        ("api-version=2023-10-01&features=,%2C", None, "Either 'features' or 'model-name'"),
        ("api-version=2023-10-01&features=text", "NotSupportedVisualFeature", "Analyze query"),
        ("api-version=2023-10-01&features=read,ocr", "NotSupportedVisualFeature", "Analyze"),
        ("api-version=2023-10-01&features=read,caption", "NotSupportedFeature", "'Caption'"),
        ("api-version=2023-10-01&features=denseCaptions", "NotSupportedFeature", "DenseCaptions"),
        ("api-version=2023-10-01&features=read&model-version=v2", "BadArgument", "model-version"),
        ("api-version=2023-10-01&features=read&model-version=2023-1-1", "BadArgument", "model"),
    ],
)
def test_query_errors(
    main_server: ServerProcess,
    client: httpx.Client,
    blank_png: bytes,
    case: tuple[str, str | None, str],
) -> None:
    query, inner, message_part = case
    response = client.post(main_server.url(query=query), content=blank_png, headers=OCTET)
    error = assert_error(response, 400, "InvalidRequest", inner)
    assert message_part in error["message"]


def test_unknown_feature_messages(main_server: ServerProcess, client: httpx.Client) -> None:
    query = "api-version=2023-10-01&features=foo"
    response = client.post(main_server.url(query=query), content=b"x", headers=OCTET)
    error = assert_error(
        response, 400, "InvalidRequest", "NotSupportedVisualFeature", "Analyze query is invalid."
    )
    assert error["innererror"]["message"] == "Specified feature type is not valid"


def test_feature_not_enabled_message(main_server: ServerProcess, client: httpx.Client) -> None:
    query = "api-version=2023-10-01&features=Caption,read"
    response = client.post(main_server.url(query=query), content=b"x", headers=OCTET)
    assert_error(
        response,
        400,
        "InvalidRequest",
        "NotSupportedFeature",
        "The feature 'Caption' is not supported by this server; openread implements 'read' only.",
    )


def test_empty_body(main_server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(main_server.url(), content=b"", headers=OCTET)
    assert_error(response, 400, "InvalidRequest", None, SIZE_MESSAGE)


def test_oversize_body_with_content_length(
    main_server: ServerProcess, client: httpx.Client
) -> None:
    started = time.monotonic()
    response = client.post(main_server.url(), content=bytes(20_971_521), headers=OCTET)
    assert_error(response, 400, "InvalidRequest", None, SIZE_MESSAGE)
    assert time.monotonic() - started < 10


def test_oversize_chunked_body(main_server: ServerProcess, client: httpx.Client) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 64 MiB offered; the server must stop after 20 MiB
            sent += 1 << 20
            yield bytes(1 << 20)

    response = client.post(main_server.url(), content=chunks(), headers=OCTET)
    assert_error(response, 400, "InvalidRequest", None, SIZE_MESSAGE)
    assert sent < 64 << 20


def test_exactly_the_limit_is_not_a_size_error(
    main_server: ServerProcess, client: httpx.Client
) -> None:
    response = client.post(main_server.url(), content=bytes(20_971_520), headers=OCTET)
    assert_error(response, 400, "InvalidRequest", "InvalidImageFormat")


def test_undecodable_bytes(main_server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(main_server.url(), content=b"not an image " * 50, headers=OCTET)
    assert_error(response, 400, "InvalidRequest", "InvalidImageFormat", "Image format is not valid")


def test_too_small_image(main_server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(main_server.url(), content=png_bytes(40, 40), headers=OCTET)
    assert_error(response, 400, "InvalidRequest", "InvalidImageSize", DIMENSION_MESSAGE)


@pytest.mark.parametrize(
    "body", [b'{"URL": "http://x"}', b'{"url": 5}', b"[]", b'"http://x"', b"{}", b""]
)
def test_json_without_url(main_server: ServerProcess, client: httpx.Client, body: bytes) -> None:
    headers = {**KEY, "Content-Type": "application/json"}
    response = client.post(main_server.url(), content=body, headers=headers)
    assert_error(response, 400, "InvalidRequest", "BadArgument", BAD_BODY)


@pytest.mark.parametrize("body", [b'{"url": ', b"\xff\xfe{", b"{'url': 'x'}"])
def test_invalid_json(main_server: ServerProcess, client: httpx.Client, body: bytes) -> None:
    headers = {**KEY, "Content-Type": "application/json; charset=utf-8"}
    response = client.post(main_server.url(), content=body, headers=headers)
    assert_error(response, 400, "InvalidRequest", "BadArgument", BAD_BODY)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_unsupported_content_type(
    main_server: ServerProcess, client: httpx.Client, content_type: str
) -> None:
    headers = {**KEY, "Content-Type": content_type}
    response = client.post(main_server.url(), content=b"abc", headers=headers)
    error = assert_error(response, 400, "InvalidRequest", "UnsupportedMediaType")
    assert error["message"].startswith("The provided image content type")
    assert error["message"].endswith("is not supported.")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/x.jpg", "Image URL is badly formatted or not accessible"),
        ("no url at all", "Image URL is badly formatted or not accessible"),
        ("http://127.0.0.1:9/x.jpg", "The provided image url is not accessible."),
    ],
)
def test_url_errors(
    main_server: ServerProcess, client: httpx.Client, url: str, message: str
) -> None:
    response = client.post(main_server.url(), json={"url": url}, headers=KEY)
    assert_error(response, 400, "InvalidRequest", None, message)


def test_url_not_found(
    main_server: ServerProcess, client: httpx.Client, image_host: ImageHost
) -> None:
    url = image_host.url("/status/404")
    response = client.post(main_server.url(), json={"url": url}, headers=KEY)
    assert_error(response, 400, "InvalidRequest", None, "The provided image url is not accessible.")


def test_url_to_a_private_address(main_server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(main_server.url(), json={"url": "http://10.9.8.7/a.png"}, headers=KEY)
    error = assert_error(response, 400, "InvalidRequest")
    assert error["message"].startswith("The provided image url is not accessible.")
    assert "10.9.8.7" not in error["message"]


def test_url_input_disabled(busy_server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(busy_server.url(), json={"url": "https://example.com/a.png"})
    assert_error(
        response,
        400,
        "InvalidRequest",
        None,
        "The provided image url is not accessible. URL input is disabled on this server "
        "(set OPENREAD_URL_FETCH=true).",
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Ocp-Apim-Subscription-Key": "wrong"},
        {"Ocp-Apim-Subscription-Key": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": API_KEY},
        {"Ocp-Apim-Subscription-Key": API_KEY + "x"},
    ],
)
def test_authentication_errors(
    main_server: ServerProcess, client: httpx.Client, blank_png: bytes, headers: dict[str, str]
) -> None:
    response = client.post(main_server.url(), content=blank_png, headers=headers)
    error = assert_error(response, 401, "401")
    assert error["message"].startswith("Access denied due to invalid subscription key")


@pytest.mark.parametrize(
    "headers",
    [
        {"Ocp-Apim-Subscription-Key": "second-key"},
        {"Authorization": f"Bearer {API_KEY}"},
        {"authorization": f"bearer {API_KEY}"},
    ],
)
def test_accepted_credentials(
    main_server: ServerProcess, client: httpx.Client, blank_png: bytes, headers: dict[str, str]
) -> None:
    response = client.post(main_server.url(), content=blank_png, headers=headers)
    assert response.status_code == 200, response.text


def test_auth_is_checked_before_the_query(main_server: ServerProcess, client: httpx.Client) -> None:
    response = client.post(main_server.url(query="features=caption"), content=b"")
    assert_error(response, 401, "401")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing-here"),  # "/" is the try-it page
        ("POST", "/vision/v9/analyze"),
        ("GET", "/computervision/imageanalysis:analyzeX"),
        ("POST", "/other" + ANALYZE),
    ],
)
def test_not_found(
    main_server: ServerProcess, client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, main_server.base_url + path, headers=KEY)
    assert_error(response, 404, "404", None, "Resource not found")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_method_not_allowed(main_server: ServerProcess, client: httpx.Client, method: str) -> None:
    response = client.request(method, main_server.url(), headers=KEY)
    assert_error(response, 405, "405")
    assert "POST" in response.headers["allow"]


def test_client_disconnect_mid_body(main_server: ServerProcess, client: httpx.Client) -> None:
    host, port = main_server.base_url.removeprefix("http://").split(":")
    head = (
        f"POST {ANALYZE}?{QUERY} HTTP/1.1\r\nHost: {host}\r\n"
        f"Ocp-Apim-Subscription-Key: {API_KEY}\r\nContent-Length: 100000\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + b"\xff" * 1000)
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while "disconnected before sending its body" not in main_server.log():
        assert time.monotonic() < deadline, main_server.log()
        time.sleep(0.05)
    assert client.get(main_server.base_url + "/health").status_code == 200
    assert "Traceback" not in main_server.log()


def test_keep_alive(main_server: ServerProcess, blank_png: bytes) -> None:
    with httpx.Client(timeout=60) as one_connection:
        for _ in range(3):
            response = one_connection.post(main_server.url(), content=blank_png, headers=OCTET)
            assert response.status_code == 200
            assert response.headers.get("connection", "keep-alive") != "close"


# --------------------------------------------------------------------------- busy (429)


def tiled(image: Path, times: int) -> bytes:
    """The image repeated ``times`` x ``times`` (more text: a longer read)."""
    with Image.open(image) as source:
        tile = source.convert("RGB")
    canvas = Image.new("RGB", (tile.width * times, tile.height * times))
    for row in range(times):
        for column in range(times):
            canvas.paste(tile, (column * tile.width, row * tile.height))
    buffer = BytesIO()
    canvas.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_busy_server_answers_429_and_stays_healthy(
    busy_server: ServerProcess, sticky_note: Path
) -> None:
    image = tiled(sticky_note, 2)
    results: list[tuple[httpx.Response, float]] = []
    barrier = threading.Barrier(5)

    def one() -> None:
        with httpx.Client(timeout=120) as c:
            barrier.wait()
            response = c.post(busy_server.url(), content=image)
            results.append((response, time.monotonic()))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    barrier.wait()
    time.sleep(0.1)
    with httpx.Client(timeout=10) as c:
        health = c.get(busy_server.base_url + "/health")
        health_done = time.monotonic()
    for thread in threads:
        thread.join()
    assert health.status_code == 200
    statuses = sorted(response.status_code for response, _ in results)
    assert set(statuses) <= {200, 429}, statuses
    assert 200 in statuses
    assert 429 in statuses
    ocr_done = max(done for response, done in results if response.status_code == 200)
    assert health_done < ocr_done, "/health waited for OCR"
    for response, _ in results:
        if response.status_code == 429:
            assert_error(response, 429, "429")
            assert response.headers["retry-after"] == "1"


# --------------------------------------------------------------------------- in-process app


def test_not_ready_before_startup() -> None:
    """Without its lifespan (no engine loaded yet) the app is alive but not ready."""

    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(Settings()))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return (
                await c.get("/health"),
                await c.get("/ready"),
                await c.post(f"{ANALYZE}?{QUERY}", content=b"x"),
            )

    health, ready, analyze = anyio.run(run)
    assert health.status_code == 200
    for response in (ready, analyze):
        assert_error(response, 503, "ServiceUnavailable")
        assert response.headers["retry-after"] == "1"

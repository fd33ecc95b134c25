"""Inputs that broke the contract (found by the fuzz harnesses in ``fuzz/`` or by reviewing
what they reach), minimized, with the answer they must get now: a 4xx envelope for a client
mistake, an ``OpenReadError`` from ``load_image``.

Each test names who found it and what went wrong. The app is the in-process one of
``test_request_properties`` (keys on, root path ``/proxy``, the session's engine).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from openread import Engine, ImageLimits, InvalidImageFormatError, InvalidRequestError
from openread.http import ANALYZE_PATH, BAD_BODY_MESSAGE
from openread.pipeline.decode import load_image
from test_request_properties import (
    KEY,
    PNG,
    ROOT_PATH,
    VALID_QUERY,
    AppClient,
    app_client,
    assert_envelope,
    image_bytes,
)


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[AppClient]:
    test_client = app_client(engine, api_keys=(KEY,), root_path=ROOT_PATH)
    yield test_client
    test_client.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{ANALYZE_PATH}/"),
        ("POST", f"{ROOT_PATH}{ANALYZE_PATH}/"),
        ("GET", "/health/"),
        ("GET", "/ready/"),
        ("GET", f"{ROOT_PATH}/openread/languages/"),
    ],
)
def test_trailing_slash_is_404_not_a_redirect(client: AppClient, method: str, path: str) -> None:
    """fuzz_request: ``POST /computervision/imageanalysis:analyze/?...`` was a 307 redirect
    with an empty body (Starlette's ``redirect_slashes``), not Azure's 404 envelope."""
    headers = {"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/octet-stream"}
    content = PNG if method == "POST" else b""
    response = client.request(method, f"{path}?{VALID_QUERY}", content=content, headers=headers)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert_envelope(response)
    assert response.json()["error"]["code"] == "404"


@pytest.mark.parametrize(
    "declared",
    [b"\xb2", b"12\xb2", b"\xb9" * 3, b"9" * 5000],
    ids=["superscript-two", "digits-and-superscript", "superscript-ones", "5000-digits"],
)
def test_odd_content_length_is_not_a_server_error(client: AppClient, declared: bytes) -> None:
    """Review of ``read_capped``: ``"²".isdigit()`` is true and ``int("²")`` fails, and
    ``int()`` refuses more than 4300 digits: a 500 under an ASGI server that passes such a
    ``Content-Length`` on (h11, under ``openread serve``, refuses it with its own 400)."""
    headers = [
        (b"ocp-apim-subscription-key", KEY.encode()),
        (b"content-type", b"application/octet-stream"),
        (b"content-length", declared),
    ]
    response = client.post(f"{ANALYZE_PATH}?{VALID_QUERY}", content=b"abc", headers=headers)
    assert response.status_code == 400
    assert_envelope(response)


def test_multipart_boundary_longer_than_256_bytes(client: AppClient) -> None:
    """Review of ``first_file_part``: python-multipart refuses a boundary longer than 256 bytes
    with ``FormParserError`` from its constructor, which was outside the ``try``: a 500."""
    boundary = "b" * 257
    body = (
        (
            f'--{boundary}\r\ncontent-disposition: form-data; name="f"; filename="x.png"\r\n\r\n'
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "Ocp-Apim-Subscription-Key": KEY,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    response = client.post(f"{ANALYZE_PATH}?{VALID_QUERY}", content=body, headers=headers)
    assert response.status_code == 400
    assert_envelope(response)
    assert response.json()["error"]["innererror"]["code"] == "BadArgument"


@pytest.mark.parametrize("body", [b"[" * 5000, b'{"url":' * 3000], ids=["array", "object"])
def test_deeply_nested_json_body(client: AppClient, body: bytes) -> None:
    """Review of ``parse_url_json``: JSON nested deeper than the recursion limit raised
    ``RecursionError`` (a 500); a 64 KB body holds 65536 brackets."""
    headers = {"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/json"}
    response = client.post(f"{ANALYZE_PATH}?{VALID_QUERY}", content=body, headers=headers)
    assert response.status_code == 400
    assert_envelope(response)
    assert response.json()["error"]["message"] == BAD_BODY_MESSAGE


def test_file_path_with_a_nul_byte() -> None:
    """Review of ``decode._read_file``: ``stat()`` raises ``ValueError`` for an embedded NUL,
    which escaped the taxonomy."""
    with pytest.raises(InvalidRequestError, match="cannot read image file"):
        load_image("image\x00.png", ImageLimits())


def test_lazily_opened_broken_pil_image() -> None:
    """Review of ``load_image``: a PIL image opened (not loaded) from a truncated file is only
    decoded in ``_to_bgr``; its ``OSError`` escaped the taxonomy."""
    data = image_bytes((300, 300), "PNG")
    with (
        Image.open(io.BytesIO(data[: len(data) // 2])) as image,
        pytest.raises(InvalidImageFormatError),
    ):
        load_image(image, ImageLimits())

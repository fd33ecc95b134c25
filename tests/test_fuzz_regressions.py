"""Inputs the fuzz harnesses (``fuzz/``) found, minimized, with the answer they must get now.

Each test names the harness and what it found. The app is the in-process one of
``test_request_properties`` (keys on, root path ``/proxy``, the session's engine).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openread import Engine
from openread.server import ANALYZE_PATH
from test_request_properties import (
    KEY,
    PNG,
    ROOT_PATH,
    VALID_QUERY,
    AppClient,
    app_client,
    assert_envelope,
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

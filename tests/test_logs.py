"""One structured (JSON) log line per request from a real server; the key never appears."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import httpx

from serving import API_KEY, ServerProcess, png_bytes


def _request_lines(server: ServerProcess) -> list[dict[str, object]]:
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    return [e for e in entries if "request_id" in e]


def test_one_line_per_request_with_its_fields(ops_server: ServerProcess) -> None:
    image = png_bytes(320, 240)
    client_id = f"client-{uuid.uuid4()}"
    headers = {
        "Ocp-Apim-Subscription-Key": API_KEY,
        "Content-Type": "image/png",
        "x-ms-client-request-id": client_id,
    }
    response = httpx.post(ops_server.url(), content=image, headers=headers, timeout=60)
    assert response.status_code == 200
    rid = response.headers["apim-request-id"]
    deadline = time.monotonic() + 5
    while not [e for e in _request_lines(ops_server) if e["request_id"] == rid]:
        assert time.monotonic() < deadline, ops_server.log()
        time.sleep(0.05)
    (line,) = [e for e in _request_lines(ops_server) if e["request_id"] == rid]
    assert line["client_request_id"] == client_id
    assert line["route"] == "/computervision/imageanalysis:analyze"
    assert line["status"] == 200
    assert line["error_code"] is None
    assert line["api_version"] == "2023-10-01"
    assert line["image_bytes"] == len(image)
    assert line["pages"] == 1
    assert isinstance(line["latency_ms"], float)
    assert line["latency_ms"] > 0
    assert line["key_hash"] == hashlib.sha256(API_KEY.encode()).hexdigest()[:8]


def test_errors_are_logged_with_their_code_and_no_key_anywhere(ops_server: ServerProcess) -> None:
    wrong = "wrong-key-" + uuid.uuid4().hex
    response = httpx.post(
        ops_server.url(query="api-version=2023-10-01"),
        content=b"x",
        headers={"Ocp-Apim-Subscription-Key": API_KEY},
    )
    assert response.status_code == 400
    assert (
        httpx.post(
            ops_server.url(), content=b"x", headers={"Ocp-Apim-Subscription-Key": wrong}
        ).status_code
        == 401
    )
    time.sleep(0.3)
    (line,) = [
        e
        for e in _request_lines(ops_server)
        if e["request_id"] == response.headers["apim-request-id"]
    ]
    assert line["status"] == 400
    assert line["error_code"] == response.headers["x-ms-error-code"]
    log = ops_server.log()
    assert API_KEY not in log
    assert wrong not in log
    # every line, uvicorn's included, is JSON
    assert all(json.loads(row) for row in log.splitlines() if row.strip())

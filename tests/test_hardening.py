"""Hostile-connection regressions against a real ``openread serve`` process (issue 16)."""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from openread.http.logsafe import sanitize_for_log
from openread.http.server import HEADER_TIMEOUT
from serving import ServerProcess, start_server

FILE_LIMIT = 256


@pytest.fixture(scope="module")
def low_fd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server started with RLIMIT_NOFILE lowered to 256 (the child inherits it)."""
    log = tmp_path_factory.mktemp("harden") / "serve.log"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, hard))
    try:
        server = start_server([], log)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield server
    finally:
        server.stop()


def _address(server: ServerProcess) -> tuple[str, int]:
    port = int(server.base_url.rsplit(":", 1)[1])
    return ("127.0.0.1", port)


def test_half_open_connections_do_not_starve_health(low_fd_server: ServerProcess) -> None:
    # before: 1,100 half-sent heads made /health time out and asyncio logged EMFILE in a loop
    held: list[socket.socket] = []
    try:
        for _ in range(FILE_LIMIT + 200):
            sock = socket.create_connection(_address(low_fd_server), timeout=5)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            held.append(sock)
        # the 5 s timeout is the bound (a loaded 2-core runner needs a few seconds to accept
        # and evict the backlog of half-open connections first)
        response = httpx.get(low_fd_server.url("/health", ""), timeout=5)
        assert response.status_code == 200
    finally:
        for sock in held:
            sock.close()


@pytest.mark.xfail(
    strict=True,
    reason="known hole: asyncio accepts a backlog batch before connection_made can close "
    "sockets, so EMFILE is still logged under a flood (the cap must move to the accept loop)",
)
def test_a_connection_flood_does_not_log_emfile(low_fd_server: ServerProcess) -> None:
    held = [socket.create_connection(_address(low_fd_server), timeout=5) for _ in range(400)]
    for sock in held:
        sock.close()
    time.sleep(0.5)
    assert "out of system resource" not in low_fd_server.log()


def test_an_unfinished_head_is_closed_after_the_header_deadline(
    low_fd_server: ServerProcess,
) -> None:
    sock = socket.create_connection(_address(low_fd_server), timeout=HEADER_TIMEOUT + 10)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, no answer
        waited = time.monotonic() - started
        assert HEADER_TIMEOUT - 1 < waited < HEADER_TIMEOUT + 5
    finally:
        sock.close()


def test_content_length_with_transfer_encoding_is_refused_and_closed(
    low_fd_server: ServerProcess,
) -> None:
    sock = socket.create_connection(_address(low_fd_server), timeout=10)
    try:
        sock.sendall(
            b"POST /computervision/imageanalysis:analyze?api-version=2024-02-01&features=read"
            b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    finally:
        sock.close()
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 400")
    assert b"connection: close" in head
    assert b"InvalidRequest" in answer


def test_request_path_is_logged_without_control_characters(
    low_fd_server: ServerProcess,
) -> None:
    httpx.get(low_fd_server.url("/nothing%0aFORGED%1b[31m", ""), timeout=5)
    time.sleep(0.3)
    log = low_fd_server.log()
    assert "\nFORGED" not in log
    assert "\x1b" not in log
    # the request line logs the route template ("other" for an unknown path), never the path
    assert "FORGED" not in log


def test_sanitize_for_log() -> None:
    assert sanitize_for_log("/a/b") == "/a/b"
    assert sanitize_for_log("/a\nb\x1b\u2028\\") == "/a\\nb\\x1b\\u2028\\\\"
    assert sanitize_for_log("x" * 3000).endswith("...")
    assert len(sanitize_for_log("x" * 3000)) == 2051


def _health_latencies(server: ServerProcess, busy: list[threading.Thread]) -> list[float]:
    """Seconds each ``/health`` took, asked every 0.1 s while any of ``busy`` runs."""
    latencies: list[float] = []
    with httpx.Client(timeout=60) as client:
        while any(thread.is_alive() for thread in busy):
            started = time.monotonic()
            assert client.get(server.url("/health", "")).status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.1)
    return latencies


def test_a_body_of_many_tiny_parts_does_not_stall_the_event_loop(
    low_fd_server: ServerProcess,
) -> None:
    # before: multipart bodies were parsed on the event loop; 21 MB of tiny parts froze
    # /health for 9-21 s
    tiny = b"--bb\r\nContent-Disposition: form-data; name=x\r\n\r\ny\r\n"
    body = tiny * (20_000_000 // len(tiny))
    statuses: list[int] = []

    def upload() -> None:
        response = httpx.post(
            low_fd_server.url(),
            content=body,
            headers={"Content-Type": "multipart/form-data; boundary=bb"},
            timeout=120,
        )
        statuses.append(response.status_code)

    uploads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in uploads:
        thread.start()
    latencies = _health_latencies(low_fd_server, uploads)
    for thread in uploads:
        thread.join()
    assert statuses == [400, 400]
    assert latencies
    assert max(latencies) < 1.0

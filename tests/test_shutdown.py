"""SIGTERM during a request to a real server: it completes with 200, a new request gets 503 (or
a refused connection), ``/ready`` is false at once, and the process exits 0."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from serving import API_KEY, ServerProcess, png_bytes, start_server


def _big_page() -> bytes:
    # A large image keeps the request in flight long enough to signal during it.
    return png_bytes(3000, 3000, (250, 250, 250))


def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    server: ServerProcess = start_server(
        ["--api-key", API_KEY, "--workers", "1", "--shutdown-grace", "60"], tmp_path / "s.log"
    )
    try:
        headers = {"Ocp-Apim-Subscription-Key": API_KEY, "Content-Type": "image/png"}
        results: list[int] = []
        image = _big_page()

        def slow_request() -> None:
            with httpx.Client(timeout=120) as client:
                results.append(
                    client.post(server.url(), content=image, headers=headers).status_code
                )

        with httpx.Client(timeout=30) as keep_alive:
            assert keep_alive.get(server.url("/ready", "")).status_code == 200
            thread = threading.Thread(target=slow_request)
            thread.start()
            time.sleep(1.0)  # the upload is done and the image is being read
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            try:
                late = keep_alive.get(server.url("/ready", ""))
                assert late.status_code == 503
                assert late.headers["Retry-After"]
            except httpx.TransportError:
                pass  # a refused (closed) connection is the other allowed answer
            try:
                fresh = httpx.post(server.url(), content=png_bytes(320, 240), headers=headers)
                assert fresh.status_code == 503
            except httpx.TransportError:
                pass
            thread.join(timeout=120)
        assert results == [200], server.log()
        assert server.process.wait(timeout=60) == 0, server.log()
        assert "draining" in server.log()
    finally:
        server.stop()

"""Test helpers: real ``openread serve`` subprocesses and a tiny loopback image host.

Servers listen on 127.0.0.1 with ``--port 0``; the port is read from uvicorn's start-up line.
Each configuration is started at most once per test session (``shared_server`` caches it across
test modules) and stopped when the session ends. Nothing here talks to any address but loopback.
"""

from __future__ import annotations

import io
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trustme
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
API_KEY = "test-key-7f3a"
ANALYZE = "/computervision/imageanalysis:analyze"
QUERY = "api-version=2023-10-01&features=read"
START_TIMEOUT = 90.0
_RUNNING = re.compile(r"Uvicorn running on (https?)://127\.0\.0\.1:(\d+)")


def openread_command() -> list[str]:
    """The ``openread`` console script of this interpreter, or an equivalent ``python -c``."""
    script = Path(sys.executable).with_name("openread")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from openread.cli import main; sys.exit(main())"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any ``OPENREAD_*`` setting, with ``src`` importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENREAD_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """A running ``openread serve``."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ca_path: Path | None = None

    def url(self, path: str = ANALYZE, query: str = QUERY) -> str:
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(args: list[str], log_path: Path, ca_path: Path | None = None) -> ServerProcess:
    """Start ``openread serve ARGS`` on a free loopback port and wait until ``/ready``."""
    command = [*openread_command(), "serve", "--host", "127.0.0.1", "--port", "0", *args]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=clean_env(), cwd=REPO
        )
    server = ServerProcess("", process, log_path, ca_path)
    try:
        server.base_url = _wait_listening(server, time.monotonic() + START_TIMEOUT)
        _wait_ready(server, time.monotonic() + START_TIMEOUT)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_listening(server: ServerProcess, deadline: float) -> str:
    while time.monotonic() < deadline and server.process.poll() is None:
        match = _RUNNING.search(server.log())
        if match:
            return f"{match[1]}://127.0.0.1:{match[2]}"
        time.sleep(0.05)
    raise RuntimeError(f"openread serve did not start:\n{server.log()}")


def ssl_context(ca_path: Path | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_path) if ca_path else None)


def _wait_ready(server: ServerProcess, deadline: float) -> None:
    with httpx.Client(verify=ssl_context(server.ca_path)) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{server.base_url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"openread serve never became ready:\n{server.log()}")


_servers: dict[str, ServerProcess] = {}


def shared_server(
    request: pytest.FixtureRequest,
    name: str,
    args: list[str],
    log_dir: Path,
    ca_path: Path | None = None,
) -> ServerProcess:
    """The server ``name`` of this session, started on first use (args must not vary)."""
    if name not in _servers:
        server = start_server(args, log_dir / f"{name}.log", ca_path)
        _servers[name] = server
        request.config.add_cleanup(server.stop)
        request.config.add_cleanup(lambda: _forget(name))
    return _servers[name]


def _forget(name: str) -> None:
    _servers.pop(name, None)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A private CA and a certificate for 127.0.0.1/localhost issued by it (trustme)."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    for index, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(str(files.cert), append=index > 0)
    return files


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def main_server(request: pytest.FixtureRequest, server_logs: Path) -> ServerProcess:
    """Keys on, URL input on (127.0.0.1 allowed), root path ``/proxy``."""
    args = ["--api-key", API_KEY, "--api-key", "second-key", "--root-path", "/proxy"]
    args += ["--url-fetch", "--url-allow", "127.0.0.1", "--url-timeout", "5"]
    return shared_server(request, "main", args, server_logs)


@pytest.fixture(scope="session")
def busy_server(request: pytest.FixtureRequest, server_logs: Path) -> ServerProcess:
    """No keys, URL input off, one worker and no queue (the second request in flight is 429)."""
    args = ["--workers", "1", "--max-queue", "0", "--no-url-fetch"]
    return shared_server(request, "busy", args, server_logs)


@pytest.fixture(scope="session")
def tls_server(request: pytest.FixtureRequest, server_logs: Path) -> ServerProcess:
    """HTTPS with a certificate from a private CA (``ca_path``), keys on."""
    tls = make_tls_files(server_logs)
    args = ["--api-key", API_KEY, "--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    return shared_server(request, "tls", args, server_logs, ca_path=tls.ca)


@pytest.fixture(scope="session")
def image_host() -> Iterator[ImageHost]:
    """Serves ``/image`` (a generated 320x240 PNG); tests may ``add`` more files."""
    with ImageHost({"/image": png_bytes(320, 240)}) as host:
        yield host


# --------------------------------------------------------------------------- images


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (255, 255, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- image host


class _Handler(BaseHTTPRequestHandler):
    """Routes: the host's files, /redirect?to=URL, /status/N, /size/N, /stream/N, /slow."""

    server: _HostServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if parts.path in self.server.files:
            self._send(200, self.server.files[parts.path], "application/octet-stream")
        elif parts.path == "/redirect":
            target = parse_qs(parts.query)["to"][0]
            self._send(302, b"", "text/plain", {"Location": target})
        elif segments[0] == "status":
            self._send(int(segments[1]), b"nope", "text/plain")
        elif segments[0] == "size":
            self._send(200, b"\xff" * int(segments[1]), "image/jpeg")
        elif segments[0] == "stream":
            self._stream(int(segments[1]))
        elif parts.path == "/slow":
            self.server.stopping.wait(5)
            self._send(200, b"late", "image/jpeg")
        else:
            self._send(404, b"", "text/plain")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, size: int) -> None:
        """``size`` bytes without a Content-Length (close-delimited)."""
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"\xff" * 65536
        sent = 0
        try:
            while sent < size:
                piece = chunk[: size - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:
            pass  # the client stopped reading at its limit
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HostServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = dict(files)
        self.stopping = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up early (timeouts, size caps) is expected here


class ImageHost:
    """A loopback HTTP server (in a thread) that serves files and test routes."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._server = _HostServer(files)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def add(self, path: str, content: bytes) -> str:
        """Serve ``content`` at ``path``; its URL."""
        self._server.files[path] = content
        return self.url(path)

    def content(self, path: str) -> bytes:
        return self._server.files[path]

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ImageHost:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------- ground truth


def azure_words(eval_data: Path, image: str = "images/handwritten-note.jpg") -> list[str]:
    """The words Azure returned for ``image`` of the azure_docs set (in reading order)."""
    for line in (eval_data / "azure_docs" / "gt.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["image"] == image:
            return [item["text"] for item in record["items"]]
    raise KeyError(image)


def matched_words(found: list[str], expected: list[str]) -> int:
    """How many of ``expected`` were found exactly (as a multiset)."""
    return sum((Counter(found) & Counter(expected)).values())

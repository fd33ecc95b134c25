"""atheris harness for the request path: raw HTTP/1.1 bytes -> the ASGI app, in-process.

    python fuzz/make_corpus.py
    python fuzz/fuzz_request.py -atheris_runs=10000 -dict=fuzz/request.dict fuzz/corpus/request

An input is the bytes a client sends on a fresh connection. It is parsed with h11 (the HTTP
parser ``openread serve`` runs under uvicorn); what h11 refuses never reaches the app (uvicorn
answers those with its own 400) and is skipped. Otherwise the ASGI scope is built as uvicorn
builds it, the body is delivered in the pieces h11 produced, and the app's answer is sent back
through h11 (so an unsendable header is caught too).

The app is ``create_app(settings, engine)`` with keys on (``fuzz-key-1``), the root path
``/proxy``, URL input off (the default) and a real engine (one thread); ``FUZZ_ENGINE=stub``
uses an engine that only decodes (faster, for parsing only). Its lifespan runs once.

A finding is: an exception escaping the app, no answer to a complete request, a 5xx, a status
other than 200/4xx (e.g. a redirect), an error that is not Azure's envelope (exact
``{"error": {"code", "message", "innererror"?}}`` JSON, ``application/json; charset=utf-8``,
``x-ms-error-code`` equal to the code except on 401, ``Retry-After`` on 429/503, the request id
headers), a 200 whose body is not the JSON of its route (the ``ImageAnalysisResult`` invariants
for ``analyze``), or a response h11 refuses to send. A timeout is a finding too.

A custom mutator mutates either the whole input or one part of it (the request line, the header
fields, the body with ``Content-Length`` kept right, or a body swapped for a valid image,
multipart or JSON body), so that both the parser and the later stages are reached.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import atheris
import h11

import make_corpus

with atheris.instrument_imports(include=["openread", "starlette", "python_multipart"]):
    from openread.engine import Engine
    from openread.http import create_app
    from openread.pipeline.decode import load_image
    from openread.result import ReadResult
    from openread.settings import Settings

API_KEY = make_corpus.API_KEY
REQUEST_TIMEOUT = 60.0
JSON_UTF8 = b"application/json; charset=utf-8"
COMMON_HEADERS = (b"apim-request-id", b"request-id", b"api-supported-versions")


class FindingError(AssertionError):
    """The server broke its contract for this request."""


# --------------------------------------------------------------------------- the app


class StubEngine:
    """Decodes like the real engine and reads nothing (``FUZZ_ENGINE=stub``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def warm_up(self) -> None:
        pass

    def supported_scripts(self) -> tuple[()]:
        return ()

    def read(self, image: bytes, *, language: str | None = None) -> ReadResult:
        decoded = load_image(image, self.settings.limits)
        return ReadResult(decoded.width, decoded.height, self.settings.model_version, ())


def fuzz_settings() -> Settings:
    return Settings(
        api_keys=(API_KEY, "second-key"),
        root_path=make_corpus.ROOT_PATH,
        threads=1,
        workers=1,
        log_level="warning",
    )


@dataclass
class ParsedRequest:
    """What h11 made of the input: the request head and the body pieces."""

    method: str
    target: bytes
    http_version: str
    headers: list[tuple[bytes, bytes]]
    chunks: list[bytes]
    complete: bool
    connection: h11.Connection


def parse(data: bytes) -> ParsedRequest | None:
    """The first request in ``data``, or None if h11 (so uvicorn) would not pass it on."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    try:
        event = connection.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(event, h11.Request):
        return None
    chunks: list[bytes] = []
    complete = False
    while True:
        try:
            body_event = connection.next_event()
        except h11.RemoteProtocolError:
            break  # bad body framing: uvicorn answers 400 and closes; the app sees a disconnect
        if isinstance(body_event, h11.Data):
            chunks.append(bytes(body_event.data))
        elif isinstance(body_event, h11.EndOfMessage):
            complete = True
            break
        else:
            break  # NEED_DATA: the client stopped sending
    return ParsedRequest(
        method=event.method.decode("ascii"),
        target=bytes(event.target),
        http_version=event.http_version.decode("ascii"),
        headers=[(bytes(k).lower(), bytes(v)) for k, v in event.headers],
        chunks=chunks,
        complete=complete,
        connection=connection,
    )


@dataclass
class Answer:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


class InProcessServer:
    """The ASGI app on a private event loop, with its lifespan started once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.state: dict[str, Any] = {}
        self._lifespan_in: asyncio.Queue[dict[str, Any]] | None = None
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._lifespan_task = asyncio.ensure_future(self.app(scope, inbox.get, outbox.put))
        await inbox.put({"type": "lifespan.startup"})
        message = await outbox.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {message}")

    def handle(self, request: ParsedRequest) -> Answer:
        return self.loop.run_until_complete(
            asyncio.wait_for(self._call(request), timeout=REQUEST_TIMEOUT)
        )

    async def _call(self, request: ParsedRequest) -> Answer:
        raw_path, _, query_string = request.target.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "server": ("127.0.0.1", 5000),
            "client": ("127.0.0.1", 40000),
            "scheme": "http",
            "method": request.method,
            "root_path": "",
            "path": unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": query_string,
            "headers": list(request.headers),
            "state": dict(self.state),
        }
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": chunk, "more_body": True} for chunk in request.chunks
        ]
        if request.complete:
            if messages:
                messages[-1]["more_body"] = False
            else:
                messages.append({"type": "http.request", "body": b"", "more_body": False})
        answer = Answer()
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            if request.complete:
                await done.wait()  # as uvicorn: a disconnect only once the answer is out
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                if answer.status:
                    raise FindingError("two http.response.start messages")
                answer.status = int(message["status"])
                answer.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                if not answer.status or answer.complete:
                    raise FindingError("a body message outside a response")
                answer.body += message.get("body", b"")
                if not message.get("more_body", False):
                    answer.complete = True
                    done.set()
            else:
                raise FindingError(f"unexpected ASGI message {message['type']!r}")

        await self.app(scope, receive, send)
        return answer


# --------------------------------------------------------------------------- the oracle


def send_through_h11(request: ParsedRequest, answer: Answer) -> None:
    """Serialise the answer as uvicorn would; h11 refusing it is a finding."""
    connection = request.connection
    try:
        connection.send(h11.Response(status_code=answer.status, headers=answer.headers))
        body = b"" if request.method == "HEAD" else bytes(answer.body)
        connection.send(h11.Data(data=body))
        connection.send(h11.EndOfMessage())
    except h11.LocalProtocolError as exc:
        raise FindingError(f"h11 cannot send the answer: {exc}") from exc


def check_envelope(answer: Answer, head: bool) -> None:
    if answer.header(b"content-type") != JSON_UTF8:
        raise FindingError(f"error content-type {answer.header(b'content-type')!r}")
    if head:
        return
    try:
        body = json.loads(answer.body)
    except ValueError as exc:
        raise FindingError(f"error body is not JSON: {bytes(answer.body[:200])!r}") from exc
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        raise FindingError(f"not Azure's envelope: {body!r}")
    error = body["error"]
    if not set(error) <= {"code", "message", "innererror"} or not {"code", "message"} <= set(error):
        raise FindingError(f"bad error members: {error!r}")
    if not isinstance(error["code"], str) or not error["code"]:
        raise FindingError(f"bad error code {error['code']!r}")
    if not isinstance(error["message"], str) or not error["message"]:
        raise FindingError(f"bad error message {error['message']!r}")
    inner = error.get("innererror")
    if inner is not None and not (
        isinstance(inner, dict)
        and set(inner) == {"code", "message"}
        and all(isinstance(inner[k], str) and inner[k] for k in inner)
    ):
        raise FindingError(f"bad innererror {inner!r}")
    code_header = answer.header(b"x-ms-error-code")
    if answer.status == 401:
        if code_header is not None:
            raise FindingError("x-ms-error-code on a 401")
    elif code_header != error["code"].encode():
        raise FindingError(f"x-ms-error-code {code_header!r} != code {error['code']!r}")
    if answer.status in (429, 503) and answer.header(b"retry-after") is None:
        raise FindingError(f"no Retry-After on a {answer.status}")


def _check_polygon(polygon: Any, width: int, height: int) -> None:
    if not isinstance(polygon, list) or len(polygon) != 4:
        raise FindingError(f"bad polygon {polygon!r}")
    for point in polygon:
        if not (isinstance(point, dict) and set(point) == {"x", "y"}):
            raise FindingError(f"bad point {point!r}")
        x, y = point["x"], point["y"]
        if not (isinstance(x, int) and isinstance(y, int) and 0 <= x < width and 0 <= y < height):
            raise FindingError(f"point {point!r} outside {width}x{height}")


def check_analyze_result(body: Any) -> None:
    if not isinstance(body, dict) or not {"modelVersion", "metadata"} <= set(body):
        raise FindingError(f"not an ImageAnalysisResult: {str(body)[:200]}")
    if not isinstance(body["modelVersion"], str) or not body["modelVersion"]:
        raise FindingError("bad modelVersion")
    metadata = body["metadata"]
    width, height = metadata.get("width"), metadata.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and width >= 1 and height >= 1):
        raise FindingError(f"bad metadata {metadata!r}")
    blocks = body.get("readResult", {"blocks": []})["blocks"]
    if not isinstance(blocks, list) or len(blocks) > 1:
        raise FindingError(f"bad blocks {str(blocks)[:200]}")
    for block in blocks:
        for line in block["lines"]:
            if line["text"] != " ".join(word["text"] for word in line["words"]):
                raise FindingError(f"line text is not its words joined: {line!r}")
            _check_polygon(line["boundingPolygon"], width, height)
            for word in line["words"]:
                _check_polygon(word["boundingPolygon"], width, height)
                confidence = word["confidence"]
                if not (isinstance(confidence, int | float) and 0 <= confidence <= 1):
                    raise FindingError(f"bad confidence {confidence!r}")


def check_answer(request: ParsedRequest, answer: Answer) -> None:
    if not answer.status:
        if request.complete:
            raise FindingError("no answer to a complete request")
        return  # the client went away before sending its whole body: nobody to answer
    if not answer.complete:
        raise FindingError("the answer body never ended")
    send_through_h11(request, answer)
    for name in COMMON_HEADERS:
        if answer.header(name) is None:
            raise FindingError(f"no {name.decode()} header")
    head = request.method == "HEAD"
    if answer.status >= 500:
        raise FindingError(f"server error {answer.status}: {bytes(answer.body[:300])!r}")
    if answer.status >= 400:
        check_envelope(answer, head)
        return
    if answer.status != 200:
        raise FindingError(f"status {answer.status} is neither 200 nor an error envelope")
    content_type = answer.header(b"content-type") or b""
    if not content_type.startswith(b"application/json"):
        raise FindingError(f"200 with content-type {content_type!r}")
    if head:
        return
    try:
        body = json.loads(answer.body)
    except ValueError as exc:
        raise FindingError(f"200 body is not JSON: {bytes(answer.body[:200])!r}") from exc
    if request.method == "POST":
        check_analyze_result(body)


# --------------------------------------------------------------------------- the mutator

_CONTENT_LENGTH = re.compile(rb"(?im)^(content-length:[ \t]*)\d+")
_CHUNKED = re.compile(rb"(?im)^transfer-encoding:.*chunked")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type:[^\r\n]*")


def _bodies() -> list[tuple[bytes, bytes]]:
    """Content type and body pairs worth splicing into a request."""
    pairs: list[tuple[bytes, bytes]] = []
    for name, image in make_corpus.request_images().items():
        pairs.append((b"image/" + name.encode(), image))
        pairs.append((b"application/octet-stream", image))
        content_type, body = make_corpus.multipart(image)
        pairs.append((content_type.encode(), body))
    content_type, body = make_corpus.multipart(b"GIF89a", boundary="b" * 257)
    pairs.append((content_type.encode(), body))
    pairs.append((b"application/json", b'{"url": "https://example.com/a.png"}'))
    pairs.append((b"application/json", b'{"url": 1}'))
    pairs.append((b"application/json", b"[" * 3000))
    return pairs


BODIES = _bodies()


def _with_length(head: bytes, body: bytes) -> bytes:
    if _CHUNKED.search(head):
        return head
    return _CONTENT_LENGTH.sub(lambda m: m.group(1) + str(len(body)).encode(), head)


def mutate(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator or rng.random() < 0.3:
        return bytes(atheris.Mutate(data, max_size))
    line, _, fields = head.partition(b"\r\n")
    choice = rng.randrange(4)
    if choice == 0:
        line = bytes(atheris.Mutate(line, len(line) + 64))
    elif choice == 1:
        fields = bytes(atheris.Mutate(fields, len(fields) + 128))
    elif choice == 2:
        body = bytes(atheris.Mutate(body, max(64, min(max_size, 2 * len(body)))))
    else:
        content_type, body = rng.choice(BODIES)
        if rng.random() < 0.8:
            fields = _CONTENT_TYPE.sub(lambda _: b"content-type: " + content_type, fields)
    head = _with_length(line + b"\r\n" + fields, body)
    return (head + separator + body)[:max_size]


# --------------------------------------------------------------------------- main


def main() -> None:
    settings = fuzz_settings()
    engine: Any = StubEngine(settings) if os.environ.get("FUZZ_ENGINE") == "stub" else None
    if engine is None:
        engine = Engine.load(settings)
    server = InProcessServer(create_app(settings, engine))

    def test_one_input(data: bytes) -> None:
        request = parse(data)
        if request is not None:
            check_answer(request, server.handle(request))

    atheris.Setup(sys.argv, test_one_input, custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

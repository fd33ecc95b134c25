"""Request bodies: raw image bytes, ``multipart/form-data`` or ``{"url": ...}`` JSON.

Bodies are streamed and abandoned as soon as they are larger than the limit (before reading
anything when ``Content-Length`` says so), or when nothing arrives for ``BODY_IDLE_SECONDS``.

Multipart bodies are parsed on a worker thread (never on the event loop), and the work per body
is bounded: parsing stops at the end of the first file part, and a body with more than
``MAX_MULTIPART_PARTS`` parts or a part with more than ``MAX_PART_HEADERS`` headers is refused
(400) as soon as the parser gets there (a 20 MB body of tiny parts froze ``/health`` for 9-21 s
when it was parsed on the event loop, issue 16).

Memory admission: ``admitted_body`` reserves a body's bytes in the server's ``ByteBudget``
before anything of it is read (from ``Content-Length``; a chunked body reserves as its bytes
arrive), answers 429 + Retry-After when the budget is spent, and releases the bytes when the
request is done with them. Every route that reads a body uses it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ..errors import (
    BadArgumentError,
    ImageBytesSizeError,
    OpenReadError,
    UnsupportedContentTypeError,
)
from ..parallel import ByteBudget
from ..settings import Settings
from .responses import BODY_ABANDONED_KEY

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = [
    "BAD_BODY_MESSAGE",
    "BODY_IDLE_SECONDS",
    "BodyReservation",
    "ImageUrl",
    "admitted_body",
    "body_cap",
    "first_file_part",
    "parse_url_json",
    "read_capped",
    "read_image_body",
]

BAD_BODY_MESSAGE = "Bad or unrecognizable request JSON or binary file."
JSON_BODY_LIMIT = 64 * 1024
"""Largest accepted ``{"url": ...}`` body."""
MULTIPART_OVERHEAD = 64 * 1024
"""Room for multipart boundaries and part headers on top of the image byte limit."""
MAX_MULTIPART_PARTS = 64
"""Most parts a multipart body may have before its first file part (Azure's clients send one)."""
MAX_PART_HEADERS = 32
"""Most headers one multipart part may have."""
BODY_IDLE_SECONDS = 30
"""A request body that sends nothing for this long is abandoned (400 and the connection closed)."""


@dataclass(frozen=True, slots=True)
class ImageUrl:
    """A ``{"url": ...}`` body: the image is to be downloaded."""

    url: str


def _too_large(max_bytes: int) -> ImageBytesSizeError:
    return ImageBytesSizeError(
        f"The image size is not allowed to be zero or larger than {max_bytes} bytes."
    )


def _declared_length(request: Request) -> int | None:
    """``Content-Length`` as a number (None when absent or not plain ASCII digits; any value
    of more than 18 digits is 10**18, too large for every limit)."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only ("²".isdigit() is true); past 4300 digits int() refuses to convert
    if not (declared.isascii() and declared.isdigit()):
        return None
    return 10**18 if len(declared) > 18 else int(declared)


@dataclass(slots=True)
class BodyReservation:
    """The bytes one request holds in the server's ``ByteBudget`` (see ``admitted_body``)."""

    budget: ByteBudget
    request: Request
    held: int = 0

    def cover(self, size: int) -> None:
        """Hold at least ``size`` bytes, or raise ``BusyError`` (the body is then abandoned)."""
        if size > self.held:
            try:
                self.budget.reserve(size - self.held)
            except OpenReadError:
                self.request.scope[BODY_ABANDONED_KEY] = True
                raise
            self.held = size

    def release(self) -> None:
        self.budget.release(self.held)
        self.held = 0


@asynccontextmanager
async def admitted_body(
    request: Request, budget: ByteBudget, cap: int
) -> AsyncIterator[BodyReservation]:
    """Reserve the request's body in ``budget`` before reading it (``Content-Length`` bytes,
    when it is at most ``cap``: a larger one is refused as too large by ``read_capped``), or
    raise ``BusyError`` (429); give the reservation to ``read_image_body`` so a body without
    ``Content-Length`` reserves as it arrives, and keep the block open as long as the bytes are
    held (the reservation is released when it ends)."""
    reservation = BodyReservation(budget, request)
    declared = _declared_length(request)
    if declared is not None and declared <= cap:
        reservation.cover(declared)
    try:
        yield reservation
    finally:
        reservation.release()


async def read_capped(
    request: Request,
    cap: int,
    too_large: Callable[[], OpenReadError],
    reservation: BodyReservation | None = None,
) -> bytes:
    """The whole body, read chunk by chunk (chunked bodies too); raise ``too_large()`` as soon
    as it is longer than ``cap`` bytes (before reading anything if ``Content-Length`` says so).
    With ``reservation``, the bytes read are reserved as they arrive (``BusyError`` when the
    budget is spent)."""
    declared = _declared_length(request)
    if declared is not None and declared > cap:
        request.scope[BODY_ABANDONED_KEY] = True
        raise too_large()
    buffer = bytearray()
    chunks = request.stream()
    while True:
        try:
            with anyio.fail_after(BODY_IDLE_SECONDS):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return bytes(buffer)
        except TimeoutError as exc:
            request.scope[BODY_ABANDONED_KEY] = True
            raise BadArgumentError(
                f"The request body stalled: nothing arrived for {BODY_IDLE_SECONDS} seconds."
            ) from exc
        buffer += chunk
        if len(buffer) > cap:
            request.scope[BODY_ABANDONED_KEY] = True
            raise too_large()
        if reservation is not None:
            reservation.cover(len(buffer))


def body_cap(settings: Settings) -> int:
    """The largest body ``read_image_body`` reads under ``settings`` (a multipart one)."""
    return settings.limits.max_bytes + MULTIPART_OVERHEAD


async def read_image_body(
    request: Request,
    settings: Settings,
    reservation: BodyReservation | None = None,
    *,
    documents: bool = False,
) -> bytes | ImageUrl:
    """The image bytes, or the URL to download, from a request of any accepted content type
    (``reservation``: see ``admitted_body``; ``documents``: ``application/pdf`` too, as the v3.x
    Read routes accept)."""
    header = request.headers.get("content-type", "")
    media_type = header.split(";", 1)[0].strip().lower()
    max_bytes = settings.limits.max_bytes
    plain = media_type in ("", "application/octet-stream") or media_type.startswith("image/")
    if plain or (documents and media_type == "application/pdf"):
        data = await read_capped(request, max_bytes, lambda: _too_large(max_bytes), reservation)
    elif media_type == "multipart/form-data":
        raw = await read_capped(
            request, body_cap(settings), lambda: _too_large(max_bytes), reservation
        )
        # the parser is pure Python: off the event loop, on anyio's bounded default limiter
        data = await anyio.to_thread.run_sync(first_file_part, raw, header)
    elif media_type == "application/json":
        raw = await read_capped(
            request, JSON_BODY_LIMIT, lambda: BadArgumentError(BAD_BODY_MESSAGE), reservation
        )
        return ImageUrl(parse_url_json(raw))
    else:
        raise UnsupportedContentTypeError(
            f"The provided image content type '{header[:100]}' is not supported."
        )
    if not data or len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def parse_url_json(raw: bytes) -> str:
    """The ``url`` of a ``{"url": "..."}`` body."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON (or not UTF-8), or nested too deep
        raise BadArgumentError(BAD_BODY_MESSAGE) from exc
    url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str):
        raise BadArgumentError(BAD_BODY_MESSAGE)
    return url


@dataclass(slots=True)
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)

    @property
    def is_file(self) -> bool:
        """A part with a file name, or with a non-text content type."""
        _, params = parse_options_header(self.headers.get("content-disposition", ""))
        if b"filename" in params or b"filename*" in params:
            return True
        content_type = self.headers.get("content-type", "").lower()
        return bool(content_type) and not content_type.startswith("text/")


class _FileFoundSignal(Exception):  # noqa: N818 - a signal, not an error
    """Raised from the parser's callbacks to stop at the end of the first file part."""


@dataclass(slots=True)
class _PartCollector:
    """Callbacks for ``python_multipart.MultipartParser`` that keep the parts up to the first
    file part, and stop the parser there (``_FileFoundSignal``) or at a limit
    (``BadArgumentError``)."""

    parts: list[_Part] = field(default_factory=list)
    _field: bytearray = field(default_factory=bytearray)
    _value: bytearray = field(default_factory=bytearray)

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_part_data": lambda d, s, e: self.parts[-1].data.extend(d[s:e]),
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        if len(self.parts) >= MAX_MULTIPART_PARTS:
            raise BadArgumentError(
                f"{BAD_BODY_MESSAGE} The multipart body has more than {MAX_MULTIPART_PARTS} "
                "parts before its file."
            )
        self.parts.append(_Part())

    def _header_end(self) -> None:
        headers = self.parts[-1].headers
        if len(headers) >= MAX_PART_HEADERS:
            raise BadArgumentError(
                f"{BAD_BODY_MESSAGE} A multipart part has more than {MAX_PART_HEADERS} headers."
            )
        name = self._field.decode("latin-1").strip().lower()
        headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _part_end(self) -> None:
        if self.parts[-1].is_file:
            raise _FileFoundSignal()


def first_file_part(body: bytes, content_type: str) -> bytes:
    """The content of the first file part of a ``multipart/form-data`` body (blocking: call it
    on a worker thread)."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadArgumentError(BAD_BODY_MESSAGE)
    collector = _PartCollector()
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # refuses boundaries > 256 bytes
        parser.write(body)
        parser.finalize()
    except _FileFoundSignal:
        return bytes(collector.parts[-1].data)
    except FormParserError as exc:
        raise BadArgumentError(BAD_BODY_MESSAGE) from exc
    for part in collector.parts:
        if part.is_file:
            return bytes(part.data)
    raise BadArgumentError(BAD_BODY_MESSAGE)

"""Request bodies: raw image bytes, ``multipart/form-data`` or ``{"url": ...}`` JSON.

Bodies are streamed and abandoned as soon as they are larger than the limit (before reading
anything when ``Content-Length`` says so), or when nothing arrives for ``BODY_IDLE_SECONDS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
from ..settings import Settings
from .responses import BODY_ABANDONED_KEY

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = [
    "BAD_BODY_MESSAGE",
    "BODY_IDLE_SECONDS",
    "ImageUrl",
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


async def read_capped(request: Request, cap: int, too_large: Callable[[], OpenReadError]) -> bytes:
    """The whole body, read chunk by chunk (chunked bodies too); raise ``too_large()`` as soon
    as it is longer than ``cap`` bytes (before reading anything if ``Content-Length`` says so)."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only ("²".isdigit() is true); more than 18 of them is too large anyway (and
    # past 4300 digits int() refuses to convert)
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > cap):
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


async def read_image_body(
    request: Request, settings: Settings, *, documents: bool = False
) -> bytes | ImageUrl:
    """The image bytes, or the URL to download, from a request of any accepted content type
    (``documents``: ``application/pdf`` too, as the v3.x Read routes accept)."""
    header = request.headers.get("content-type", "")
    media_type = header.split(";", 1)[0].strip().lower()
    max_bytes = settings.limits.max_bytes
    plain = media_type in ("", "application/octet-stream") or media_type.startswith("image/")
    if plain or (documents and media_type == "application/pdf"):
        data = await read_capped(request, max_bytes, lambda: _too_large(max_bytes))
    elif media_type == "multipart/form-data":
        raw = await read_capped(
            request, max_bytes + MULTIPART_OVERHEAD, lambda: _too_large(max_bytes)
        )
        data = first_file_part(raw, header)
    elif media_type == "application/json":
        raw = await read_capped(
            request, JSON_BODY_LIMIT, lambda: BadArgumentError(BAD_BODY_MESSAGE)
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


@dataclass(slots=True)
class _PartCollector:
    """Callbacks for ``python_multipart.MultipartParser`` that keep every part in memory."""

    parts: list[_Part] = field(default_factory=list)
    _field: bytearray = field(default_factory=bytearray)
    _value: bytearray = field(default_factory=bytearray)

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": lambda: self.parts.append(_Part()),
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_part_data": lambda d, s, e: self.parts[-1].data.extend(d[s:e]),
        }

    def _header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self.parts[-1].headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()


def first_file_part(body: bytes, content_type: str) -> bytes:
    """The content of the first file part of a ``multipart/form-data`` body."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadArgumentError(BAD_BODY_MESSAGE)
    collector = _PartCollector()
    try:
        parser = MultipartParser(boundary, collector.callbacks())  # refuses boundaries > 256 bytes
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise BadArgumentError(BAD_BODY_MESSAGE) from exc
    for part in collector.parts:
        if part.is_file:
            return bytes(part.data)
    raise BadArgumentError(BAD_BODY_MESSAGE)

"""Azure's error envelope, shared by every API version, and the one serialiser of wire bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import NotRequired, TypedDict

from ..errors import OpenReadError

__all__ = ["ErrorJson", "dumps", "error_json"]


class InnerErrorJson(TypedDict):
    code: str
    message: str


class ErrorBodyJson(TypedDict):
    code: str
    message: str
    innererror: NotRequired[InnerErrorJson]


class ErrorJson(TypedDict):
    error: ErrorBodyJson


def error_json(error: OpenReadError) -> ErrorJson:
    """Azure's error envelope for ``error``."""
    body: ErrorBodyJson = {"code": error.code, "message": error.message}
    if error.inner_code is not None:
        body["innererror"] = {
            "code": error.inner_code,
            "message": error.inner_message or error.message,
        }
    return {"error": body}


def dumps(body: Mapping[str, object]) -> bytes:
    """Serialise a wire body exactly as the server sends it (UTF-8, compact)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

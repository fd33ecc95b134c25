"""The HTTP adapter: Azure's Read routes over the engine, split by API area.

app         create_app / serve: the routers assembled into one Starlette app
service     the shared state: settings, engine, admission, readiness, keys
analyze     the 4.0 ``analyze`` route
ops         health, readiness, OpenAPI, languages
body        reading request bodies (bytes, multipart, ``{"url"}``)
responses   Azure's error envelope and the exception handlers
middleware  request ids, common headers, request log
auth        API keys;  urlfetch  safe download of ``{"url"}`` images
"""

from __future__ import annotations

from .analyze import ANALYZE_PATH, SUPPORTED_API_VERSIONS
from .app import create_app, serve
from .body import BAD_BODY_MESSAGE

__all__ = ["ANALYZE_PATH", "BAD_BODY_MESSAGE", "SUPPORTED_API_VERSIONS", "create_app", "serve"]

"""The try-it web page: a static page that calls the public 4.0 API, as any client does.

    GET  {root_path}/                       the page (``index.html``)
    GET  {root_path}                        308 to ``{root_path}/`` (relative, so proxies keep it)
    GET  {root_path}/openread/web/app.js    its script
    GET  {root_path}/openread/web/app.css   its style sheet
    GET  {root_path}/openread/web/favicon.svg   its icon
    GET  {root_path}/openread/web-config    what the page must know: whether a key is needed,
                                            whether URL input is on, the size limit (no key
                                            needed: it names no key and no other setting)

Every route exists at the root and under ``root_path``; none exists when ``settings.web_page`` is
off (``/`` is then a 404 envelope like any unknown path). The assets ship in the package
(``openread/web/``) and are read once; nothing is fetched from anywhere else. The responses
carry a strict Content-Security-Policy (scripts and styles from this origin only, no inline
script or style, no frames, no form posts, no plugins), ``nosniff``, no referrer, no framing.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..settings import Settings
from .analyze import GA_API_VERSIONS
from .responses import json_response
from .service import Service

__all__ = ["ASSETS", "WEB_CONFIG_PATH", "content_security_policy", "routes"]

ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
"""The page's assets (under ``/openread/web/``) and their media types."""
WEB_CONFIG_PATH = "/openread/web-config"
PAGE_API_VERSION = GA_API_VERSIONS[-1]


@functools.cache
def _asset(name: str) -> bytes:
    return importlib.resources.files("openread").joinpath("web", name).read_bytes()


def content_security_policy(settings: Settings) -> str:
    """The page's policy. With URL input on, the image a user names is shown from its own
    address (``img-src http: https:``); nothing else may come from another origin."""
    images = "'self' blob:" + (" http: https:" if settings.url_fetch else "")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


def _security_headers(settings: Settings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        "Cache-Control": "no-cache",
    }


def routes(service: Service) -> list[Route]:
    """The page's routes, at the root and under ``root_path``; none when the page is off."""
    settings = service.settings
    if not settings.web_page:
        return []
    headers = _security_headers(settings)

    async def page(_request: Request) -> Response:
        return Response(_asset("index.html"), headers=headers, media_type="text/html")

    def asset(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(_request: Request) -> Response:
            return Response(_asset(name), headers=headers, media_type=media_type)

        return endpoint

    async def config(_request: Request) -> Response:
        body = {
            "auth": service.auth_enabled,
            "urlFetch": settings.url_fetch,
            "maxImageBytes": settings.limits.max_bytes,
            "apiVersion": PAGE_API_VERSION,
        }
        return json_response(body, headers)

    def to_slash(prefix: str) -> Route:
        location = prefix.rsplit("/", 1)[-1] + "/"  # relative: survives a proxy's own prefix

        async def redirect(_request: Request) -> Response:
            return Response(status_code=308, headers={"Location": location})

        return Route(prefix, redirect, methods=["GET"])

    result: list[Route] = []
    for prefix in dict.fromkeys(["", settings.root_path]):
        result.append(Route(prefix + "/", page, methods=["GET"]))
        if prefix:
            result.append(to_slash(prefix))
        for name, media_type in ASSETS.items():
            path = f"{prefix}/openread/web/{name}"
            result.append(Route(path, asset(name, media_type), methods=["GET"]))
        result.append(Route(prefix + WEB_CONFIG_PATH, config, methods=["GET"]))
    return result

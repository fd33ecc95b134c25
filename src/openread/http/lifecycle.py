"""Graceful shutdown: on SIGTERM (or SIGINT) ``/ready`` turns 503 at once, requests that arrive
meanwhile get 503 + ``Retry-After``, the listening socket closes, and requests in flight may
finish within ``OPENREAD_SHUTDOWN_GRACE`` seconds; then the process exits 0.

uvicorn owns the signal handlers and the drain (``timeout_graceful_shutdown``); ``install``
only wraps its ``handle_exit`` so the service starts draining before uvicorn stops accepting.
"""

from __future__ import annotations

import logging
from types import FrameType
from typing import Any

from .service import Service

__all__ = ["install"]

log = logging.getLogger("openread.http")


def install(server: Any, service: Service) -> None:
    """Make ``server`` (a ``uvicorn.Server``) mark ``service`` draining on its first signal."""
    original = server.handle_exit

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        if not service.draining:
            service.draining = True
            log.info(
                "signal %d: draining (requests in flight get %.0f s to finish; new ones 503)",
                sig,
                service.settings.shutdown_grace,
            )
        original(sig, frame)

    server.handle_exit = handle_exit

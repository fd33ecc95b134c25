"""Graceful shutdown: on SIGTERM (or SIGINT) ``/ready`` turns 503 at once, requests that arrive
meanwhile get 503 + ``Retry-After``, the listening socket closes, and requests in flight may
finish within ``OPENREAD_SHUTDOWN_GRACE`` seconds; then the process exits 0 (uvicorn would
re-raise the signal and die of it).

uvicorn owns the signal handlers and the drain (``timeout_graceful_shutdown``); ``install``
only wraps its ``handle_exit`` so the service starts draining before uvicorn stops accepting.
"""

from __future__ import annotations

import logging
import signal
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
        # uvicorn re-raises the signals it caught once it has stopped, so the process would die
        # of SIGTERM (exit -15); a drained SIGTERM is a clean stop: exit 0.
        captured = getattr(server, "_captured_signals", None)
        if isinstance(captured, list) and sig == signal.SIGTERM:
            captured[:] = [s for s in captured if s != signal.SIGTERM]

    server.handle_exit = handle_exit

"""Prometheus metrics: a per-app registry, the metric definitions, and ``GET /metrics``.

Each ``Service`` owns one ``Metrics`` (its own ``CollectorRegistry``, not the process-global
default, so several apps in one process do not collide). Label values are bounded: the route
template (never the raw path), the api-version (one of the supported ones or ``other``), the
status code and the Azure error code. ``/metrics`` needs no key unless
``OPENREAD_METRICS_KEY_REQUIRED`` is set.
"""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..result import STAGES as ENGINE_STAGES
from ..result import StageTimings

__all__ = [
    "JOB_STATES",
    "STAGES",
    "STATS_KEY",
    "Metrics",
    "RequestStats",
    "routes",
    "serve_separately",
]

log = logging.getLogger("openread.http")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WORD_BUCKETS = (0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
STAGES = ("queue", "body", *ENGINE_STAGES)
"""Stages timed per request: admission queue wait, body read / URL fetch, then the engine's
own (``result.StageTimings``: decode, detect, recognize, scriptid, style, layout). A document page
(v3.x jobs, ``syncAnalyze``) observes the engine's stages once per page."""
JOB_STATES = ("notStarted", "running", "succeeded", "failed")


STATS_KEY = "openread.stats"
"""Scope key of the request's ``RequestStats`` (set by the middleware, filled by routes)."""


class RequestStats:
    """What a route reports about its request for the log line: pages and words read."""

    __slots__ = ("pages", "words")

    def __init__(self) -> None:
        self.pages = 0
        self.words: int | None = None


def _rss_bytes() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return float(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except OSError:  # pragma: no cover - not Linux
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


class Metrics:
    """Every metric of one server, in its own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "openread_requests",
            "HTTP requests answered, by route template, api-version, status and error code.",
            ["route", "api_version", "status", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "openread_request_seconds",
            "Whole request latency in seconds, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.stage = Histogram(
            "openread_stage_seconds",
            "Seconds spent per stage of a read: queue, body, decode, detect, recognize, scriptid,"
            " layout.",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "openread_requests_in_flight", "HTTP requests being answered.", registry=registry
        )
        self.queue_depth = Gauge(
            "openread_queue_depth",
            "Images admitted and waiting for a worker.",
            registry=registry,
        )
        self.busy = Counter(
            "openread_busy_rejections", "Requests refused with 429 (busy).", registry=registry
        )
        self.images = Counter("openread_images_read", "Images read.", registry=registry)
        self.pages = Counter("openread_pages_read", "Pages read.", registry=registry)
        self.words = Histogram(
            "openread_words_per_image",
            "Words read per image.",
            buckets=WORD_BUCKETS,
            registry=registry,
        )
        self.model_load = Gauge(
            "openread_model_load_seconds", "Seconds taken to load the models.", registry=registry
        )
        self.warm_up = Gauge(
            "openread_warm_up_seconds", "Seconds taken to warm the models up.", registry=registry
        )
        self._jobs = _JobsCollector()
        registry.register(self._jobs)
        self.rss = Gauge("openread_process_rss_bytes", "Resident memory.", registry=registry)
        self.rss.set_function(_rss_bytes)

    def register_jobs(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """The seam for the jobs store: ``counts()`` gives the number of jobs in each state
        (``JOB_STATES``), asked at every scrape (``openread_jobs{state}``)."""
        self._jobs.counts = counts

    def record_read(
        self,
        scope: MutableMapping[str, Any],
        words: int,
        pages: int = 1,
        timings: StageTimings | None = None,
    ) -> None:
        """Count an image read (``pages`` pages, ``words`` words, its engine ``timings``) and
        note it for the log."""
        self.images.inc()
        self.pages.inc(pages)
        self.words.observe(words)
        self.observe_stages(timings)
        _note(scope, words, pages)

    def record_page(
        self,
        words: int,
        timings: StageTimings | None = None,
        scope: MutableMapping[str, Any] | None = None,
    ) -> None:
        """Count one document page read (a v3.x job's or ``syncAnalyze``'s)."""
        self.pages.inc()
        self.words.observe(words)
        self.observe_stages(timings)
        if scope is not None:
            _note(scope, words, 1)

    def observe_stages(self, timings: StageTimings | None) -> None:
        """Observe the engine's stage seconds of one read."""
        if timings is None:
            return
        for stage, seconds in timings.items():
            self.stage.labels(stage).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def _note(scope: MutableMapping[str, Any], words: int, pages: int) -> None:
    stats = scope.get(STATS_KEY)
    if isinstance(stats, RequestStats):
        stats.pages += pages
        stats.words = words if stats.words is None else stats.words + words


class _JobsCollector(Collector):
    """``openread_jobs{state}``: the job store's counts, asked at scrape time (so it is right
    whichever replica wrote them, and on the separate metrics port too)."""

    def __init__(self) -> None:
        self.counts: Callable[[], Mapping[str, int]] | None = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [self._family()]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = self._family()
        counts = self.counts
        if counts is None:
            return [family]
        try:
            found = counts()
        except Exception:  # a store that cannot answer must not break the scrape
            log.exception("the job store could not count its jobs")
            return [family]
        for state in JOB_STATES:
            family.add_metric([state], float(found.get(state, 0)))
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "openread_jobs", "v3.x Read jobs in the job store, by state.", labels=["state"]
        )


def routes(
    metrics: Metrics, authenticate: Callable[[Request], None] | None = None, path: str = "/metrics"
) -> list[Route]:
    """``GET /metrics``; ``authenticate`` (when given) runs first and may raise."""

    async def scrape(request: Request) -> Response:
        if authenticate is not None:
            authenticate(request)
        body = await anyio.to_thread.run_sync(metrics.exposition)  # the job store is asked
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route(path, scrape, methods=["GET"])]


def serve_separately(metrics: Metrics, host: str, port: int) -> None:
    """Serve ``metrics`` on ``host:port`` from prometheus_client's own small HTTP server (a
    daemon thread; no key, whatever ``OPENREAD_METRICS_KEY_REQUIRED`` says)."""
    from prometheus_client import start_http_server

    start_http_server(port, host, registry=metrics.registry)

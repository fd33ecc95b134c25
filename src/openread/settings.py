"""The one typed settings object, read once from the environment and passed in explicitly.

Every setting has an ``OPENREAD_*`` environment variable; the CLI flags of ``openread serve``
override them. Nothing reads the environment anywhere else.

| variable | default | meaning |
|---|---|---|
| OPENREAD_HOST | 127.0.0.1 | address to listen on |
| OPENREAD_PORT | 5000 | port to listen on |
| OPENREAD_API_KEYS | (empty) | comma-separated keys accepted in ``Ocp-Apim-Subscription-Key`` (or as ``Authorization: Bearer``); empty (and no keys file) = no auth |
| OPENREAD_API_KEYS_FILE | (unset) | file of accepted keys, one a line (blank lines and ``#`` comments ignored), re-read when it changes (checked at most once a second); set = auth always on, even while the file holds no key |
| OPENREAD_TLS_CERT / OPENREAD_TLS_KEY | (unset) | PEM files; both set = serve HTTPS |
| OPENREAD_ROOT_PATH | (empty) | path prefix the API is also served under (e.g. ``/vision``) |
| OPENREAD_MAX_IMAGE_BYTES | 20971520 | largest accepted image body (Azure's limit) |
| OPENREAD_MIN_SIDE / OPENREAD_MAX_SIDE | 50 / 16000 | accepted side lengths in pixels (Azure's limits) |
| OPENREAD_MAX_PIXELS | 89478485 | largest accepted width x height (decompression-bomb guard) |
| OPENREAD_RELAXED_LIMITS | false | accept images with a side below the minimum (they are read as they are) |
| OPENREAD_URL_FETCH | false | accept ``{"url": ...}`` bodies and download the image |
| OPENREAD_URL_ALLOW | (empty) | comma-separated hosts or networks (CIDR) that may be fetched although private/loopback |
| OPENREAD_URL_TIMEOUT | 10 | seconds for a whole URL download |
| OPENREAD_URL_MAX_REDIRECTS | 3 | redirects followed per URL download |
| OPENREAD_THREADS | number of CPUs | threads onnxruntime uses for one model call |
| OPENREAD_WORKERS | 2 | images read at the same time (two overlap one's Python and Tesseract work with the other's model calls) |
| OPENREAD_MAX_QUEUE | 16 | requests waiting for a worker before the server answers 429 |
| OPENREAD_MODEL_VERSION | 2023-10-01 | ``modelVersion`` reported on the wire |
| OPENREAD_LEXICON | true | correct doubtful words against word lists (en, fr, de, es, it, pt, nl); false = the recogniser's raw reading |
| OPENREAD_SCRIPTS | true | read scripts PP-OCR lacks (Cyrillic, Arabic, Hebrew, Indic, Hangul, Thai ...) with Tesseract script models; false = PP-OCR's scripts only |
| OPENREAD_CALIBRATE | true | word confidences are calibrated (a word at 0.8 is right about 80 % of the time; see ``pipeline/calibrate.py``); false = the recogniser's raw mean character probability |
| OPENREAD_NUMBERS | true | read numbers with their context: on a receipt's page a ``C``/``O`` that makes an amount is a zero (``170.0C``), a decimal comma among points a point, a lost point restored (``0 00``); spaces around a colon where the ink shows them (see ``pipeline/numbers.py``); false = off |
| OPENREAD_PROFILE | default | the models: ``default`` (PP-OCRv6 small detector and recogniser) or ``fast`` (PP-OCRv6 tiny: several times faster, reads less well; see README) |
| OPENREAD_CASCADE | false | (default profile) read every line with the tiny recogniser first and again with the small one only where the tiny reading is not sure (``pipeline/recognize.py``); off by default (docs/performance.md) |
| OPENREAD_HANDWRITING | true | lines the style stage calls handwriting (Latin script) are read again by openread's own handwriting reader (``data/handwriting_rec.onnx``, trained by ``train/handwriting.py``; see ``pipeline/handwriting.py``); false = every line is read by PP-OCRv6 small, and the reader is not loaded |
| OPENREAD_TESSDATA | (Debian's directory) | directory holding the Tesseract ``<Script>.traineddata`` files |
| OPENREAD_LOG_LEVEL | info | log level of the server |
| OPENREAD_LENIENT_FEATURES | false | a 4.0 ``analyze`` asking ``read`` plus features openread lacks (caption, tags, objects, people, smartCrops, denseCaptions) answers 200 with ``readResult`` only instead of Azure's 400 |
| OPENREAD_WEB_PAGE | true | serve the try-it page at ``/`` (and under ``root_path``); false = no page, ``/`` answers 404 |
| OPENREAD_DATA_DIR | ``$XDG_DATA_HOME/openread`` (``~/.local/share/openread``) | directory of the embedded job store (``jobs.sqlite3``) of the v3.x Read API |
| OPENREAD_JOB_STORE | sqlite | where v3.x Read jobs live: ``sqlite`` (in the data directory) or a ``redis://host:port/db`` URL shared by several replicas (needs ``openread[redis]``) |
| OPENREAD_JOB_TTL | 172800 | seconds a v3.x Read job and its result are kept (Azure's 48 hours) |
| OPENREAD_JOB_WORKERS | 1 | v3.x Read jobs run at the same time; each reads one page at a time on the shared workers, so keep it below ``OPENREAD_WORKERS`` to leave synchronous callers a worker |
| OPENREAD_JOB_QUEUE | 64 | unfinished v3.x Read jobs a server holds before it answers 429 |
| OPENREAD_MAX_DOCUMENT_BYTES | 52428800 | largest v3.x Read body (PDF, TIFF or image; Azure's 50 MB) |
| OPENREAD_MAX_PAGES | 2000 | most pages of a PDF or TIFF (Azure's limit) |
| OPENREAD_LOG_FORMAT | text | ``text`` (the human-readable lines) or ``json`` (one JSON object a line, uvicorn's logs too) |
| OPENREAD_METRICS | true | serve Prometheus metrics at ``/metrics`` |
| OPENREAD_METRICS_PORT | (unset) | serve ``/metrics`` on this port of the same host instead of the API port |
| OPENREAD_METRICS_KEY_REQUIRED | false | ``/metrics`` needs an API key like the API routes (off: scrapers rarely carry one) |
| OPENREAD_SHUTDOWN_GRACE | 30 | seconds requests in flight may take to finish after SIGTERM (new ones get 503) |
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PROFILES", "ImageLimits", "Settings", "SettingsError"]

PROFILES = ("default", "fast")
"""The model profiles (``models.ModelStore.load``): ``default`` = PP-OCRv6 small detector and
recogniser, ``fast`` = PP-OCRv6 tiny ones."""


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What an accepted image may be. Azure's limits by default."""

    max_bytes: int = 20_971_520
    min_side: int = 50
    max_side: int = 16_000
    max_pixels: int = 89_478_485
    relaxed: bool = False

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise SettingsError("max_bytes must be >= 1")
        if not 1 <= self.min_side <= self.max_side:
            raise SettingsError("need 1 <= min_side <= max_side")
        if self.max_pixels < 1:
            raise SettingsError("max_pixels must be >= 1")


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "openread"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about openread; immutable and validated at construction."""

    host: str = "127.0.0.1"
    port: int = 5000
    api_keys: tuple[str, ...] = ()
    api_keys_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    root_path: str = ""
    limits: ImageLimits = field(default_factory=ImageLimits)
    url_fetch: bool = False
    url_allow: tuple[str, ...] = ()
    url_timeout: float = 10.0
    url_max_redirects: int = 3
    threads: int = field(default_factory=_cpu_count)
    workers: int = 2
    max_queue: int = 16
    model_version: str = "2023-10-01"
    lexicon: bool = True
    scripts: bool = True
    calibrate: bool = True
    numbers: bool = True
    profile: str = "default"
    cascade: bool = False
    handwriting: bool = True
    tessdata: Path | None = None
    log_level: str = "info"
    lenient_features: bool = False
    web_page: bool = True
    data_dir: Path = field(default_factory=_default_data_dir)
    job_store: str = "sqlite"
    job_ttl: float = 172_800.0
    job_workers: int = 1
    job_queue: int = 64
    max_document_bytes: int = 52_428_800
    max_pages: int = 2000
    log_format: str = "text"
    metrics: bool = True
    metrics_port: int | None = None
    metrics_key_required: bool = False
    shutdown_grace: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be in 0..65535, got {self.port}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("TLS needs both a certificate and a key (or neither)")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise SettingsError("root_path must start with '/' and not end with '/'")
        if self.threads < 1 or self.workers < 1 or self.max_queue < 0:
            raise SettingsError("threads and workers must be >= 1, max_queue >= 0")
        if self.url_timeout <= 0 or self.url_max_redirects < 0:
            raise SettingsError("url_timeout must be > 0 and url_max_redirects >= 0")
        if any(not k for k in self.api_keys):
            raise SettingsError("an API key must not be empty")
        for entry in self.url_allow:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as exc:
                    raise SettingsError(f"OPENREAD_URL_ALLOW: bad network {entry!r}") from exc
        if self.job_store != "sqlite" and not self.job_store.startswith(("redis://", "rediss://")):
            raise SettingsError(
                f"job_store must be 'sqlite' or a redis:// URL, got {self.job_store!r}"
            )
        if self.job_ttl <= 0 or self.job_workers < 1 or self.job_queue < 1:
            raise SettingsError("job_ttl must be > 0, job_workers and job_queue >= 1")
        if self.max_document_bytes < 1 or self.max_pages < 1:
            raise SettingsError("max_document_bytes and max_pages must be >= 1")
        if self.log_level.lower() not in {"critical", "error", "warning", "info", "debug"}:
            raise SettingsError(f"unknown log level {self.log_level!r}")
        if self.log_format not in {"text", "json"}:
            raise SettingsError(f"log format must be text or json, got {self.log_format!r}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise SettingsError(f"metrics port must be in 0..65535, got {self.metrics_port}")
        if self.profile not in PROFILES:
            raise SettingsError(
                f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}"
            )
        if self.shutdown_grace < 0:
            raise SettingsError("shutdown_grace must be >= 0")

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``OPENREAD_*`` variables of ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        base = cls()

        def get(name: str) -> str | None:
            value = env.get(f"OPENREAD_{name}")
            return None if value is None or value.strip() == "" else value.strip()

        def integer(name: str, default: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                return int(raw)
            except ValueError as exc:
                raise SettingsError(f"OPENREAD_{name} must be an integer, got {raw!r}") from exc

        def number(name: str, default: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError as exc:
                raise SettingsError(f"OPENREAD_{name} must be a number, got {raw!r}") from exc

        def flag(name: str, default: bool) -> bool:
            raw = get(name)
            if raw is None:
                return default
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise SettingsError(f"OPENREAD_{name} must be true or false, got {raw!r}")

        def items(name: str) -> tuple[str, ...]:
            raw = get(name)
            return () if raw is None else tuple(p.strip() for p in raw.split(",") if p.strip())

        def path(name: str) -> Path | None:
            raw = get(name)
            return None if raw is None else Path(raw)

        limits = ImageLimits(
            max_bytes=integer("MAX_IMAGE_BYTES", base.limits.max_bytes),
            min_side=integer("MIN_SIDE", base.limits.min_side),
            max_side=integer("MAX_SIDE", base.limits.max_side),
            max_pixels=integer("MAX_PIXELS", base.limits.max_pixels),
            relaxed=flag("RELAXED_LIMITS", base.limits.relaxed),
        )
        return cls(
            host=get("HOST") or base.host,
            port=integer("PORT", base.port),
            api_keys=items("API_KEYS"),
            api_keys_file=path("API_KEYS_FILE"),
            tls_cert=path("TLS_CERT"),
            tls_key=path("TLS_KEY"),
            root_path=get("ROOT_PATH") or "",
            limits=limits,
            url_fetch=flag("URL_FETCH", base.url_fetch),
            url_allow=items("URL_ALLOW"),
            url_timeout=number("URL_TIMEOUT", base.url_timeout),
            url_max_redirects=integer("URL_MAX_REDIRECTS", base.url_max_redirects),
            threads=integer("THREADS", base.threads),
            workers=integer("WORKERS", base.workers),
            max_queue=integer("MAX_QUEUE", base.max_queue),
            model_version=get("MODEL_VERSION") or base.model_version,
            lexicon=flag("LEXICON", base.lexicon),
            scripts=flag("SCRIPTS", base.scripts),
            calibrate=flag("CALIBRATE", base.calibrate),
            numbers=flag("NUMBERS", base.numbers),
            profile=(get("PROFILE") or base.profile).lower(),
            cascade=flag("CASCADE", base.cascade),
            handwriting=flag("HANDWRITING", base.handwriting),
            tessdata=path("TESSDATA"),
            log_level=(get("LOG_LEVEL") or base.log_level).lower(),
            lenient_features=flag("LENIENT_FEATURES", base.lenient_features),
            web_page=flag("WEB_PAGE", base.web_page),
            data_dir=path("DATA_DIR") or base.data_dir,
            job_store=get("JOB_STORE") or base.job_store,
            job_ttl=number("JOB_TTL", base.job_ttl),
            job_workers=integer("JOB_WORKERS", base.job_workers),
            job_queue=integer("JOB_QUEUE", base.job_queue),
            max_document_bytes=integer("MAX_DOCUMENT_BYTES", base.max_document_bytes),
            max_pages=integer("MAX_PAGES", base.max_pages),
            log_format=(get("LOG_FORMAT") or base.log_format).lower(),
            metrics=flag("METRICS", base.metrics),
            metrics_port=None if get("METRICS_PORT") is None else integer("METRICS_PORT", 0),
            metrics_key_required=flag("METRICS_KEY_REQUIRED", base.metrics_key_required),
            shutdown_grace=number("SHUTDOWN_GRACE", base.shutdown_grace),
        )

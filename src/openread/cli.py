"""The ``openread`` command.

    openread serve [--host H] [--port P] [--tls-cert F --tls-key F] [--api-key K ...]
                   [--api-keys-file PATH] ...
    openread read IMAGE... [--json] [--language CODE] [--scripts] [--styles] [--overlay OUT.png]
    openread languages [--json]
    openread bulk INPUT... --out DIR [--format parquet|jsonl] [--processes N] [--threads N]
                  [--ray ADDRESS [--batch-size N]] [--spawn] [--no-progress]
    openread --version

``serve`` starts the HTTP server; its flags override the ``OPENREAD_*`` environment
(see ``settings``). ``read`` prints the text of each image (with a ``==> path <==`` header when
there are several), or with ``--json`` the exact body the server would answer for that image, one
JSON document per line. Errors go to stderr as ``openread: <path>: <message>``; the exit code is
the highest ``exit_code`` among the failed images (3 bad input, 4 model files, 1 internal error),
and the other images are still read. ``--overlay OUT`` (one image only) also writes the image with
its line and word polygons and the text drawn on it (``overlay``); an overlay that cannot be
written is reported like an image that cannot be read. ``languages`` lists the scripts openread
knows, the languages written in them, and whether their recogniser is installed here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import BinaryIO, TextIO

from . import __version__, wire
from .engine import Engine
from .errors import EXIT_INTERNAL, EXIT_OK, InternalError, InvalidRequestError, OpenReadError
from .result import ReadResult
from .settings import PROFILES, ImageLimits, Settings, SettingsError

__all__ = ["build_parser", "main", "serve_settings"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openread",
        description="Self-hosted drop-in for the Azure AI Vision Image Analysis 4.0 Read API.",
    )
    parser.add_argument("--version", action="version", version=f"openread {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands.add_parser("serve", help="run the HTTP server"))
    read = commands.add_parser("read", help="read the text in image files")
    read.add_argument("images", nargs="+", metavar="IMAGE", help="image files to read")
    read.add_argument(
        "--json", action="store_true", help="print the server's JSON body for each image"
    )
    read.add_argument("--language", help="language hint (BCP-47, e.g. ru); never required")
    read.add_argument(
        "--scripts", action="store_true", help="with --json, add each line's script (ISO 15924)"
    )
    read.add_argument(
        "--styles",
        action="store_true",
        help="with --json, add each line's appearance (handwriting or other)",
    )
    read.add_argument(
        "--overlay",
        type=Path,
        metavar="OUT",
        help="also write the image with the lines, words and text drawn on it (one IMAGE; "
        "the format follows OUT's extension, e.g. .png)",
    )
    _add_profile(read)
    languages = commands.add_parser("languages", help="list the scripts and languages read")
    languages.add_argument("--json", action="store_true", help="as JSON")
    _add_bulk(commands.add_parser("bulk", help="read many images into Parquet, resumable"))
    return parser


def _add_bulk(bulk: argparse.ArgumentParser) -> None:
    bulk.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="files, directories, globs or manifests"
    )
    bulk.add_argument(
        "--out", required=True, help="output directory, or an object-store URI (s3://bucket/prefix)"
    )
    bulk.add_argument(
        "--format",
        choices=("parquet", "jsonl"),
        default="parquet",
        help="rows.jsonl and rows.parquet (default), or rows.jsonl only",
    )
    bulk.add_argument("--processes", type=int, help="worker processes (default: the threads)")
    bulk.add_argument("--threads", type=int, help="thread budget (OPENREAD_THREADS)")
    bulk.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster (or 'auto')")
    bulk.add_argument(
        "--batch-size", type=int, default=4, help="pages (or images) per Ray batch (default 4)"
    )
    bulk.add_argument(
        "--spawn",
        action="store_true",
        help="spawn each worker with its own engine instead of forking them from one (the "
        "default where forking is safe: Linux, local inputs)",
    )
    bulk.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar"
    )


def _bulk(args: argparse.Namespace, err: TextIO) -> int:
    from .bulk import bulk

    try:
        settings = Settings.from_env()
        if args.threads is not None:
            settings = settings.replace(threads=args.threads)
        summary = bulk(
            args.inputs,
            args.out,
            settings=settings,
            processes=args.processes,
            progress=args.progress,
            ray=args.ray,
            output_format=args.format,
            fork=not args.spawn,
            batch_size=args.batch_size,
        )
    except (SettingsError, ValueError) as exc:
        err.write(f"openread: {exc}\n")
        return EXIT_USAGE
    except OpenReadError as exc:
        err.write(f"openread: {exc.message}\n")
        return exc.exit_code
    errors = ", ".join(f"{code} {n}" for code, n in sorted(summary.by_error.items()))
    err.write(
        f"openread bulk: {summary.sources} inputs, {summary.skipped} already done, "
        f"{summary.read} read, {summary.failed} failed{' (' + errors + ')' if errors else ''} "
        f"in {summary.seconds:.1f} s -> {summary.parquet or summary.journal}\n"
    )
    return EXIT_OK


def _add_serve(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", help="address to listen on (OPENREAD_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on, 0 = any free (OPENREAD_PORT)")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate (OPENREAD_TLS_CERT)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key (OPENREAD_TLS_KEY)")
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accepted key, repeatable; prefer OPENREAD_API_KEYS (flags show in 'ps')",
    )
    serve.add_argument(
        "--api-keys-file",
        type=Path,
        metavar="PATH",
        help="file of accepted keys, one a line, re-read when it changes (OPENREAD_API_KEYS_FILE)",
    )
    serve.add_argument("--root-path", help="extra path prefix of the API (OPENREAD_ROOT_PATH)")
    serve.add_argument("--workers", type=int, help="images read at once (OPENREAD_WORKERS)")
    serve.add_argument("--threads", type=int, help="threads per model call (OPENREAD_THREADS)")
    serve.add_argument("--max-queue", type=int, help="requests waiting (OPENREAD_MAX_QUEUE)")
    serve.add_argument(
        "--url-fetch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help='accept {"url": ...} bodies (OPENREAD_URL_FETCH)',
    )
    serve.add_argument(
        "--url-allow",
        action="append",
        metavar="HOST_OR_CIDR",
        help="host or network that may be fetched although private, repeatable",
    )
    serve.add_argument("--url-timeout", type=float, help="seconds per URL download")
    serve.add_argument(
        "--max-image-bytes", type=int, help="largest image (OPENREAD_MAX_IMAGE_BYTES)"
    )
    serve.add_argument(
        "--relaxed-limits",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="accept images with a side below the minimum (OPENREAD_RELAXED_LIMITS)",
    )
    serve.add_argument("--model-version", help="modelVersion reported (OPENREAD_MODEL_VERSION)")
    _add_profile(serve)
    serve.add_argument(
        "--lexicon",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="correct doubtful words against word lists (OPENREAD_LEXICON, default on)",
    )
    serve.add_argument(
        "--lenient-features",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="answer 'read' plus caption/tags/objects/people/smartCrops/denseCaptions with "
        "readResult only instead of Azure's 400 (OPENREAD_LENIENT_FEATURES, default off)",
    )
    serve.add_argument(
        "--web",
        dest="web_page",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve the try-it page at / (OPENREAD_WEB_PAGE, default on)",
    )
    serve.add_argument(
        "--data-dir", type=Path, help="directory of the v3.x job store (OPENREAD_DATA_DIR)"
    )
    serve.add_argument(
        "--job-store", help="'sqlite' or a redis://host:port/db URL (OPENREAD_JOB_STORE)"
    )
    serve.add_argument("--job-ttl", type=float, help="seconds jobs are kept (OPENREAD_JOB_TTL)")
    serve.add_argument(
        "--job-workers", type=int, help="v3.x jobs run at once (OPENREAD_JOB_WORKERS)"
    )
    serve.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        help="(OPENREAD_LOG_LEVEL)",
    )
    serve.add_argument("--log-format", choices=["text", "json"], help="(OPENREAD_LOG_FORMAT)")
    serve.add_argument(
        "--metrics",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve Prometheus metrics at /metrics (OPENREAD_METRICS, default on)",
    )
    serve.add_argument("--metrics-port", type=int, help="/metrics on its own port")
    serve.add_argument(
        "--metrics-key-required",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="/metrics needs an API key (OPENREAD_METRICS_KEY_REQUIRED)",
    )
    serve.add_argument(
        "--shutdown-grace", type=float, help="seconds to drain on SIGTERM (OPENREAD_SHUTDOWN_GRACE)"
    )


def _add_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        help="models: default (PP-OCRv6 small) or fast (PP-OCRv6 tiny, several times faster, "
        "reads less well) (OPENREAD_PROFILE)",
    )


def serve_settings(args: argparse.Namespace, base: Settings) -> Settings:
    """``base`` (from the environment) with the flags that were given applied."""
    direct = (
        "host",
        "port",
        "tls_cert",
        "tls_key",
        "api_keys_file",
        "root_path",
        "workers",
        "threads",
        "max_queue",
        "url_fetch",
        "url_timeout",
        "model_version",
        "lexicon",
        "profile",
        "log_level",
        "lenient_features",
        "web_page",
        "data_dir",
        "job_store",
        "job_ttl",
        "job_workers",
        "log_format",
        "metrics",
        "metrics_port",
        "metrics_key_required",
        "shutdown_grace",
    )
    changes: dict[str, object] = {
        name: getattr(args, name) for name in direct if getattr(args, name) is not None
    }
    if args.api_keys:
        changes["api_keys"] = tuple(args.api_keys)
    if args.url_allow:
        changes["url_allow"] = tuple(args.url_allow)
    if args.max_image_bytes is not None or args.relaxed_limits is not None:
        changes["limits"] = _limits(args, base.limits)
    return base.replace(**changes)


def _limits(args: argparse.Namespace, base: ImageLimits) -> ImageLimits:
    return ImageLimits(
        max_bytes=base.max_bytes if args.max_image_bytes is None else args.max_image_bytes,
        min_side=base.min_side,
        max_side=base.max_side,
        max_pixels=base.max_pixels,
        relaxed=base.relaxed if args.relaxed_limits is None else args.relaxed_limits,
    )


def _serve(args: argparse.Namespace) -> int:
    from .http import serve

    return serve(serve_settings(args, Settings.from_env()))


class _Reader:
    """Reads images one by one with an engine loaded on first need."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine.load(self.settings)
        return self._engine

    def read(self, path: str, language: str | None = None) -> ReadResult:
        data = _read_file(path)
        return self.engine.read(data, language=language)


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise InvalidRequestError("no such file") from exc
    except IsADirectoryError as exc:
        raise InvalidRequestError("is a directory, not an image file") from exc
    except OSError as exc:
        raise InvalidRequestError(f"cannot read the file: {exc.strerror or exc}") from exc


def _print_result(
    result: ReadResult,
    path: str,
    *,
    as_json: bool,
    scripts: bool,
    several: bool,
    styles: bool = False,
    out: BinaryIO,
    first: bool,
) -> None:
    if as_json:
        out.write(wire.dumps(wire.to_azure_json(result, scripts=scripts, styles=styles)) + b"\n")
        return
    if several:
        separator = "" if first else "\n"
        out.write(f"{separator}==> {path} <==\n".encode())
    text = result.text
    out.write(text.encode("utf-8") + (b"\n" if text else b""))


def _read(args: argparse.Namespace, out: BinaryIO, err: TextIO) -> int:
    try:
        settings = Settings.from_env()
        if args.profile is not None:
            settings = settings.replace(profile=args.profile)
        reader = _Reader(settings)
    except SettingsError as exc:
        err.write(f"openread: {exc}\n")
        return EXIT_USAGE
    usage = _overlay_usage(args)
    if usage:
        err.write(f"openread: --overlay: {usage}\n")
        return EXIT_USAGE
    exit_code = EXIT_OK
    several = len(args.images) > 1
    printed = 0
    for path in args.images:
        try:
            result = reader.read(path, args.language)
            if args.overlay is not None:
                _write_overlay(path, result, args.overlay, reader.settings)
        except OpenReadError as exc:
            exit_code = max(exit_code, _report(path, exc, err))
            continue
        except Exception as exc:  # a bug: report it and go on with the other images
            error = InternalError(f"internal error: {type(exc).__name__}: {exc}")
            exit_code = max(exit_code, _report(path, error, err))
            continue
        _print_result(
            result,
            path,
            as_json=args.json,
            scripts=args.scripts,
            styles=args.styles,
            several=several,
            out=out,
            first=not printed,
        )
        printed += 1
        out.flush()
    return exit_code


def _overlay_usage(args: argparse.Namespace) -> str:
    """Why ``--overlay`` cannot be done as asked ("" when it can)."""
    if args.overlay is None:
        return ""
    if len(args.images) != 1:
        return "give exactly one IMAGE"
    from PIL import Image

    if args.overlay.suffix.lower() not in Image.registered_extensions():
        return f"cannot tell an image format from {args.overlay.name!r} (use .png, .jpg, ...)"
    return ""


def _write_overlay(path: str, result: ReadResult, out: Path, settings: Settings) -> None:
    from .overlay import draw_overlay

    image = draw_overlay(_read_file(path), result, limits=settings.limits)
    try:
        image.save(out)
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"cannot write the overlay {out}: {exc}") from exc


def _report(path: str, error: OpenReadError, err: TextIO) -> int:
    err.write(f"openread: {path}: {error.message}\n")
    err.flush()
    return error.exit_code


def _languages(args: argparse.Namespace, out: BinaryIO, err: TextIO) -> int:
    try:
        supports = Engine.load(Settings.from_env()).supported_scripts()
    except SettingsError as exc:
        err.write(f"openread: {exc}\n")
        return EXIT_USAGE
    except OpenReadError as exc:
        err.write(f"openread: {exc.message}\n")
        return exc.exit_code
    if args.json:
        out.write(wire.dumps(wire.languages_json(supports)) + b"\n")
        return EXIT_OK
    for s in supports:
        state = "yes" if s.available else "not installed"
        languages = " ".join(s.script.languages)
        line = f"{s.script.code}  {s.script.name:<11} {s.recognizer:<24} {state:<13} {languages}"
        out.write(line.encode("utf-8") + b"\n")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the ``openread`` command with ``argv`` (default ``sys.argv[1:]``); the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command == "serve":
        try:
            return _serve(args)
        except SettingsError as exc:
            sys.stderr.write(f"openread: {exc}\n")
            return EXIT_USAGE
    if args.command == "read":
        return _read(args, sys.stdout.buffer, sys.stderr)
    if args.command == "languages":
        return _languages(args, sys.stdout.buffer, sys.stderr)
    if args.command == "bulk":
        return _bulk(args, sys.stderr)
    return EXIT_INTERNAL  # pragma: no cover - argparse requires a command

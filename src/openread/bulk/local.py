"""Reading many inputs on one machine: a pool of worker processes, each with one engine.

The number of processes and the onnxruntime threads of each come from ``parallel.bulk_plan``
(the one owner of parallelism). Each worker loads its engine once (``_start``) and turns one
source into its rows (``read_source``); a bad input becomes an error row, never an exception.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Sequence

from .. import wire
from ..engine import Engine
from ..errors import InternalError, InvalidRequestError, OpenReadError
from ..settings import Settings
from .inputs import pages
from .output import Row

__all__ = ["read_source", "run"]

_engine: Engine | None = None  # the engine of this worker process, set by _start


def read_source(engine: Engine, source: str) -> list[Row]:
    """The rows of ``source``: one per page, or one error row."""
    started = time.perf_counter()
    try:
        try:
            document = pages(source)
        except FileNotFoundError as exc:
            raise InvalidRequestError("no such file") from exc
        except IsADirectoryError as exc:
            raise InvalidRequestError("is a directory, not an image file") from exc
        except OSError as exc:
            raise InvalidRequestError(f"cannot read the file: {exc.strerror or exc}") from exc
        rows = []
        for page in document:
            begun = time.perf_counter()
            result = engine.read(page.data)
            body = wire.dumps(wire.to_azure_json(result)).decode("utf-8")
            seconds = time.perf_counter() - begun
            rows.append(
                Row(
                    source,
                    page.number,
                    result.width,
                    result.height,
                    result.text,
                    body,
                    seconds,
                    None,
                    None,
                )
            )
        return rows
    except Exception as exc:
        error = (
            exc
            if isinstance(exc, OpenReadError)
            else InternalError(f"internal error: {type(exc).__name__}: {exc}")
        )
        code = error.inner_code or error.code
        seconds = time.perf_counter() - started
        return [Row(source, 1, None, None, None, None, seconds, code, error.message)]


def _start(settings: Settings) -> None:
    global _engine  # noqa: PLW0603 - one engine per worker process, loaded once
    _engine = Engine.load(settings)


def _work(source: str) -> list[Row]:
    assert _engine is not None
    return read_source(_engine, source)


def run(sources: Sequence[str], settings: Settings, processes: int) -> Iterator[list[Row]]:
    """The rows of every source, one list per source, in completion order."""
    if processes <= 1:
        engine = Engine.load(settings)
        for source in sources:
            yield read_source(engine, source)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_start, initargs=(settings,)) as pool:
        yield from pool.imap_unordered(_work, sources, chunksize=1)

"""Bulk OCR: many images and documents read on one machine's cores (or a Ray cluster),
resumable, written as Parquet or JSONL.

    >>> import openread
    >>> summary = openread.bulk(["scans/", "more/*.png", "s3://bucket/photos/"], "out/")
    >>> summary.read, summary.failed, summary.by_error

Every image, and every page of a PDF or multi-page TIFF, becomes one row (``output.Row``) in
``out/rows.jsonl`` (fsync'd after each row) and, at the end, ``out/rows.parquet`` (not with
``format="jsonl"``). What is already in the output is skipped page by page, so re-running the
same call resumes after a crash or a kill without duplicate or lost rows. ``out`` may be an
object-store URI (``s3://bucket/prefix``): the journal is then uploaded in parts
(``output``'s docstring) and ``rows.parquet`` written there at the end.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..parallel import bulk_plan
from ..settings import Settings
from .inputs import expand, is_uri
from .output import FORMATS, JOURNAL, Out, Row, done, finish, open_journal, read_rows

__all__ = ["Row", "Summary", "bulk", "iter_rows"]


@dataclass(frozen=True, slots=True)
class Summary:
    """What a bulk run did: sources found, skipped (already in the output), rows read and
    failed in this run, the failures by error code, and the Parquet file."""

    sources: int
    skipped: int
    read: int
    failed: int
    by_error: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    parquet: Out | None = None
    """None with the JSONL format (the rows are in ``journal``); a URI (``str``) for an
    object-store output."""
    journal: Out | None = None
    """``rows.jsonl``: the journal of a local output; for an object-store output, the one
    file of every row written at the end with the JSONL format (else None)."""


def iter_rows(
    inputs: Sequence[str],
    out: Out,
    *,
    settings: Settings | None = None,
    processes: int | None = None,
    ray: str | None = None,
    batch_size: int = 4,
    fork: bool = True,
) -> Iterator[Row]:
    """Read every input page not yet in ``out`` and yield its rows as they are journalled.
    With ``ray`` (a cluster address or ``auto``) the reading runs on Ray Data, with
    ``processes`` actors (default 1 per thread budget) and ``batch_size`` pages (or whole
    images) a batch; ``fork`` as in ``bulk``."""
    out = _output(out)
    tasks = _todo(expand(inputs), out)
    yield from _iter_rows(tasks, out, settings=settings, processes=processes, ray=ray,
                          batch_size=batch_size, fork=fork)  # fmt: skip


def _output(out: Out) -> Out:
    """``out`` as a ``Path``, or as the URI string of an object-store output."""
    return str(out) if is_uri(str(out)) else Path(out)


def _todo(sources: list[str], out: Out) -> list[tuple[str, frozenset[int]]]:
    """The sources of ``sources`` not complete in ``out``, with their pages done."""
    finished = done(read_rows(out))
    tasks = []
    for source in sources:
        if source not in finished:
            tasks.append((source, frozenset[int]()))
        elif (pages := finished[source]) is not None:
            tasks.append((source, pages))
    return tasks


def _iter_rows(
    tasks: list[tuple[str, frozenset[int]]],
    out: Out,
    *,
    settings: Settings | None,
    processes: int | None,
    ray: str | None,
    batch_size: int,
    fork: bool = True,
) -> Iterator[Row]:
    if not tasks:
        return
    base = settings or Settings.from_env()
    count, threads = bulk_plan(base, processes)
    if ray is None and count > len(tasks):  # no idle worker loads an engine for nothing
        count, threads = bulk_plan(base, len(tasks))
    if ray is None:
        from .local import run

        rows = run(tasks, base.replace(threads=threads), count, fork=fork)
    else:
        from . import ray as on_ray

        rows = on_ray.run(tasks, base.replace(threads=threads), ray, count, batch_size)
    journal = open_journal(out)
    try:
        for row in rows:
            journal.write(row)
            yield row
    finally:
        journal.close()


def bulk(
    inputs: Sequence[str],
    out: Out,
    *,
    settings: Settings | None = None,
    processes: int | None = None,
    progress: bool = False,
    ray: str | None = None,
    on_row: Callable[[Row], None] | None = None,
    output_format: str = "parquet",
    fork: bool = True,
    batch_size: int = 4,
) -> Summary:
    """Read every image and document page of ``inputs`` (files, directories, globs,
    manifests, object-store URIs) into ``out``; the summary of this run. ``processes``
    defaults to ``parallel.bulk_plan``'s; ``output_format`` is one of ``output.FORMATS``;
    ``fork`` (the default) forks the local workers from one loaded engine where that is safe,
    ``False`` spawns each with its own (``bulk.local``); ``batch_size`` is the pages (or
    whole images) per Ray batch (``bulk.ray``).
    ``read`` and ``failed`` count rows (pages), the progress bar sources."""
    import time

    if batch_size < 1:
        raise ValueError("batch size must be >= 1")
    if output_format not in FORMATS:
        raise ValueError(f"output format must be one of {', '.join(FORMATS)}")
    started = time.perf_counter()
    out = _output(out)
    sources = expand(inputs)
    tasks = _todo(sources, out)
    bar = None  # made at the first row: its monitor thread must not exist when workers fork
    read = failed = 0
    errors: Counter[str] = Counter()
    seen: set[str] = set()
    for row in _iter_rows(
        tasks,
        out,
        settings=settings,
        processes=processes,
        ray=ray,
        batch_size=batch_size,
        fork=fork,
    ):
        if row.error_code is None:
            read += 1
        else:
            failed += 1
            errors[row.error_code] += 1
        if on_row is not None:
            on_row(row)
        if progress and bar is None:
            from tqdm import tqdm

            bar = tqdm(total=len(tasks), unit="src", file=sys.stderr, dynamic_ncols=True)
        if bar is not None and row.source not in seen:
            bar.update(1)
        seen.add(row.source)
    if bar is not None:
        bar.close()
    written = finish(out, output_format)
    parquet = written if output_format == "parquet" else None
    if isinstance(out, Path):
        journal: Out | None = out / JOURNAL
    else:  # an object store's journal is its parts; rows.jsonl is written with that format
        journal = written if output_format == "jsonl" else None
    return Summary(
        len(sources),
        len(sources) - len(tasks),
        read,
        failed,
        dict(errors),
        time.perf_counter() - started,
        parquet,
        journal,
    )

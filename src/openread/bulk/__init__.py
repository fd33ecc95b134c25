"""Bulk OCR: many images read on one machine's cores, resumable, written as Parquet.

    >>> import openread
    >>> summary = openread.bulk(["scans/", "more/*.png"], "out/")
    >>> summary.read, summary.failed, summary.by_error

Every input page becomes one row (``output.Row``) in ``out/rows.jsonl`` (fsync'd after each
row) and, at the end, ``out/rows.parquet``. A source already in the output is skipped, so
re-running the same call resumes after a crash or a kill without duplicate or lost rows.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..parallel import bulk_plan
from ..settings import Settings
from .inputs import expand
from .output import Journal, Row, finish, read_rows

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
    parquet: Path | None = None


def iter_rows(
    inputs: Sequence[str],
    out: str | Path,
    *,
    settings: Settings | None = None,
    processes: int | None = None,
    ray: str | None = None,
    batch_size: int = 4,
) -> Iterator[Row]:
    """Read every input not yet in ``out`` and yield its rows as they are journalled.
    With ``ray`` (a cluster address or ``auto``) the reading runs on Ray Data, with
    ``processes`` actors (default 1 per thread budget) and ``batch_size`` sources a batch."""
    out = Path(out)
    done = {row.source for row in read_rows(out)}
    sources = [s for s in expand(inputs) if s not in done]
    base = settings or Settings.from_env()
    count, threads = bulk_plan(base, processes)
    if ray is None:
        from .local import run

        batches = run(sources, base.replace(threads=threads), count)
    else:
        from . import ray as on_ray

        batches = on_ray.run(sources, base.replace(threads=threads), ray, count, batch_size)
    journal = Journal(out)
    try:
        for rows in batches:
            for row in rows:
                journal.write(row)
                yield row
    finally:
        journal.close()


def bulk(
    inputs: Sequence[str],
    out: str | Path,
    *,
    settings: Settings | None = None,
    processes: int | None = None,
    progress: bool = False,
    ray: str | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> Summary:
    """Read every image of ``inputs`` (files, directories, globs, manifests) into ``out``;
    the summary of this run. ``processes`` defaults to ``parallel.bulk_plan``'s."""
    import time

    started = time.perf_counter()
    out = Path(out)
    done = {row.source for row in read_rows(out)}
    sources = expand(inputs)
    todo = sum(1 for s in sources if s not in done)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=todo, unit="img", file=sys.stderr, dynamic_ncols=True)
    read = failed = 0
    errors: Counter[str] = Counter()
    last = ""
    for row in iter_rows(inputs, out, settings=settings, processes=processes, ray=ray):
        if row.error_code is None:
            read += 1
        else:
            failed += 1
            errors[row.error_code] += 1
        if on_row is not None:
            on_row(row)
        if bar is not None and row.source != last:
            bar.update(1)
        last = row.source
    if bar is not None:
        bar.close()
    parquet = finish(out)
    return Summary(
        len(sources),
        len(sources) - todo,
        read,
        failed,
        dict(errors),
        time.perf_counter() - started,
        parquet,
    )

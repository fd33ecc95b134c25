"""Reading many inputs on a Ray cluster: Ray Data over the pages to read, ``map_batches`` with
an actor pool of engines (each actor loads one engine once), rows back to the driver, which
journals them exactly as the local pool does (so resume and the output are the same).

The unit of work is a page, not a source: the driver opens each document (a source named
``.pdf``, ``.tif`` or ``.tiff``: ``DOCUMENT_NAMES``) once to count its pages and gives Ray one
item per page not yet in the output (``plan``), so a 300-page PDF is spread over many batches
and actors, a batch holds at most ``batch_size`` pages (and their rows) whatever the document
sizes, and its rows reach the journal batch by batch (a kill keeps every finished batch). An
actor opens a document once per batch for the consecutive pages of it the batch holds. Any other
source (an image; a document the driver could not open, which then gives the same error row as
locally; a document whose name does not say so, read whole) is one item. A page that cannot be
read is that page's error row.

Paths must be visible to every node (a shared file system) or be object-store URIs, which the
driver (for documents) and every actor read themselves; ``ray`` is the optional extra
``openread[ray]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import PurePosixPath

from ..settings import Settings
from .local import Task
from .output import Row

__all__ = ["DOCUMENT_NAMES", "Item", "plan", "run"]

DOCUMENT_NAMES = frozenset({".pdf", ".tif", ".tiff"})
"""Suffixes of the sources the driver splits into pages."""


@dataclass(frozen=True, slots=True)
class Item:
    """One unit of work: ``page`` of ``source`` (of ``pages``), or with ``page`` 0 the whole
    source less the pages in ``skip``."""

    source: str
    page: int
    pages: int
    skip: tuple[int, ...] = ()


def plan(tasks: Sequence[Task], settings: Settings) -> list[Item]:
    """The items of ``tasks``: one per page to read of a document that the driver can open
    (``DOCUMENT_NAMES``), one for every other source."""
    items = []
    for source, skip in tasks:
        count = _page_count(source, settings)
        if count is None:
            items.append(Item(source, 0, 0, tuple(sorted(skip))))
        else:
            items.extend(Item(source, n, count) for n in range(1, count + 1) if n not in skip)
    return items


def _page_count(source: str, settings: Settings) -> int | None:
    """The pages of document ``source`` (None: not a document of several pages, or one that
    cannot be opened; reading it whole gives its row or its error row)."""
    from .. import documents
    from .inputs import read_bytes

    if PurePosixPath(source).suffix.lower() not in DOCUMENT_NAMES:
        return None
    try:
        data = read_bytes(source)
        if documents.kind_of(data) == "image":
            return None
        with documents.open_document(data, settings) as document:
            count = document.page_count
    except Exception:
        return None
    return count if count > 1 else None


def _groups(items: list[Item]) -> Iterator[tuple[str, frozenset[int]]]:
    """The batch's items as reads: a whole source with its skip, or the consecutive pages of
    one document as that document less every other page."""
    index = 0
    while index < len(items):
        item = items[index]
        if item.page == 0:
            yield item.source, frozenset(item.skip)
            index += 1
            continue
        wanted = set()
        while index < len(items) and items[index].source == item.source and items[index].page:
            wanted.add(items[index].page)
            index += 1
        yield item.source, frozenset(range(1, item.pages + 1)) - wanted


def _join(pages: tuple[int, ...]) -> str:
    """A skip list as a string column (``"1,3"``; Arrow infers no type for all-empty lists)."""
    return ",".join(str(n) for n in pages)


def _split(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(",") if n)


class _Reader:
    """One Ray actor: one engine, reading a batch of items into row columns."""

    def __init__(self, settings: Settings) -> None:
        from ..engine import Engine

        self._engine = Engine.load(settings)

    def __call__(self, batch: dict[str, object]) -> object:
        import pyarrow as pa

        from .local import read_source
        from .output import arrow_schema

        columns = zip(batch["source"], batch["page"], batch["pages"], batch["skip"], strict=True)  # type: ignore[call-overload]
        items = [
            Item(str(source), int(page), int(pages), _split(str(skip)))
            for source, page, pages, skip in columns
        ]
        rows = [
            asdict(row)
            for source, skip in _groups(items)
            for row in read_source(self._engine, source, skip)
        ]
        return pa.Table.from_pylist(rows, schema=arrow_schema())


def run(
    tasks: Sequence[Task],
    settings: Settings,
    address: str,
    concurrency: int,
    batch_size: int,
) -> Iterator[Row]:
    """The rows of every task (a source and its pages already done), read on the cluster at
    ``address`` by ``concurrency`` actors, ``batch_size`` items (pages, or whole sources) a
    batch; rows come batch by batch."""
    if not tasks:
        return
    import ray
    import ray.data

    items = [
        {"source": i.source, "page": i.page, "pages": i.pages, "skip": _join(i.skip)}
        for i in plan(tasks, settings)
    ]
    concurrency = min(concurrency, len(items))  # no idle actor loads an engine for nothing
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    try:
        dataset = ray.data.from_items(items)
        mapped = dataset.map_batches(
            _Reader,
            fn_constructor_args=(settings,),
            batch_size=batch_size,
            concurrency=concurrency,
            batch_format="numpy",
        )
        names = [f.name for f in fields(Row)]
        for batch in mapped.iter_batches(batch_size=None, batch_format="pyarrow"):
            for record in batch.to_pylist():  # type: ignore[union-attr]
                yield Row(**{n: record[n] for n in names})
    finally:
        ray.shutdown()

"""Bulk output: one row per image or document page, journalled so that a kill never loses or
doubles one.

Rows are appended to ``rows.jsonl`` in the output directory, one JSON object a line, flushed
and fsync'd after each row. A kill can at worst leave a partial last line, which ``done``
ignores (and ``Journal`` cuts off before appending), so a re-run reads every finished row and
skips what it holds (``done``: a source all of whose pages have a row). ``finish`` writes
``rows.parquet`` from the journal atomically (a temporary file renamed into place); with the
JSONL format the journal is the output.

An output directory may also be an object-store URI that ``pyarrow.fs`` writes
(``s3://bucket/prefix``). An object cannot be appended to, so there the journal is a series of
immutable parts, ``journal/<time>-<pid>-<n>.jsonl``, each a batch of rows uploaded in one
piece (an upload is all or nothing) once ``STORE_FLUSH_ROWS`` rows are waiting or the oldest
has waited ``STORE_FLUSH_SECONDS``, and at the end of the run. A kill loses at most the rows not
yet uploaded, which a re-run reads again (never twice: a row is in exactly one part).
``finish`` then writes ``rows.parquet`` (or, with the JSONL format, ``rows.jsonl``) from every
part.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "FORMATS",
    "JOURNAL",
    "PARQUET",
    "STORE_FLUSH_ROWS",
    "STORE_FLUSH_SECONDS",
    "Journal",
    "Out",
    "Row",
    "Shape",
    "StoreJournal",
    "arrow_schema",
    "done",
    "finish",
    "open_journal",
    "read_rows",
]

JOURNAL = "rows.jsonl"
PARQUET = "rows.parquet"
FORMATS = ("parquet", "jsonl")
"""Output formats: ``parquet`` (the journal and ``rows.parquet``) or ``jsonl`` (the journal)."""

PARTS = "journal"
"""The folder of an object-store output's journal parts."""
STORE_FLUSH_ROWS = 64
STORE_FLUSH_SECONDS = 10.0
"""An object-store journal uploads a part once this many rows wait or the oldest waited this
long (a kill re-reads at most that much work; a design bound, not a measured optimum)."""

Shape = Literal["4.0", "3.2"]
Out = str | Path
"""An output directory: a local path, or an object-store URI (``inputs.is_uri``)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One page of one input: its reading, or (``error_code`` set) why it could not be read.

    ``page`` is 1-based and ``pages`` the source's page count (1 for an image); both are None
    on the one error row of a source that could not be opened at all. ``width``/``height``
    are the pixels read (a PDF page as rendered). ``azure_json`` is, per ``shape``, the 4.0
    body the server answers for an image (``"4.0"``) or, for a page of a PDF or multi-page
    TIFF, that page's v3.2 ``readResults`` entry (``"3.2"``, coordinates in inches for PDF).
    """

    source: str
    page: int | None
    pages: int | None
    shape: Shape | None
    width: int | None
    height: int | None
    text: str | None
    azure_json: str | None
    seconds: float
    error_code: str | None
    error_message: str | None

    @classmethod
    def from_json(cls, line: str) -> Row:
        return cls(**json.loads(line))


def done(rows: Iterator[Row]) -> dict[str, frozenset[int] | None]:
    """Per source, the pages already in the output: None for a source that is complete (every
    page has a row, or it could not be opened), else the page numbers done."""
    pages: dict[str, set[int]] = {}
    counts: dict[str, int | None] = {}
    for row in rows:
        if row.page is None or row.pages is None:
            counts[row.source] = None
            continue
        pages.setdefault(row.source, set()).add(row.page)
        if counts.get(row.source, 0) is not None:
            counts[row.source] = row.pages
    result: dict[str, frozenset[int] | None] = {}
    for source, count in counts.items():
        have = pages.get(source, set())
        complete = count is None or have.issuperset(range(1, count + 1))
        result[source] = None if complete else frozenset(have)
    return result


def _store_path(out: Out) -> tuple[object, str] | None:
    """For an object-store ``out``: its file system and its path there (``bucket/prefix``)."""
    from .inputs import is_uri, store_path

    return store_path(str(out)) if is_uri(str(out)) else None


def _lines(data: bytes) -> Iterator[Row]:
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            return  # a torn last line
        yield Row.from_json(raw.decode("utf-8"))


def read_rows(out: Out) -> Iterator[Row]:
    """The complete rows of the journal in ``out`` (a torn last line is skipped)."""
    store = _store_path(out)
    if store is not None:
        yield from _read_parts(*store)
        return
    path = Path(out) / JOURNAL
    if not path.is_file():
        return
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            yield Row.from_json(raw.decode("utf-8"))


def _read_parts(store: object, prefix: str) -> Iterator[Row]:
    import pyarrow.fs

    selector = pyarrow.fs.FileSelector(f"{prefix}/{PARTS}", allow_not_found=True)
    found = store.get_file_info(selector)  # type: ignore[attr-defined]
    for entry in sorted(found, key=lambda e: str(e.path)):
        if entry.type == pyarrow.fs.FileType.File and str(entry.path).endswith(".jsonl"):
            with store.open_input_stream(entry.path) as handle:  # type: ignore[attr-defined]
                yield from _lines(handle.read())


def open_journal(out: Out) -> Journal | StoreJournal:
    """The journal of ``out``: a ``StoreJournal`` for an object store, else a ``Journal``."""
    return StoreJournal(out) if _store_path(out) is not None else Journal(Path(out))


class Journal:
    """Appends rows to ``out/rows.jsonl`` durably; a torn last line is cut off first."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / JOURNAL
        if path.is_file():
            data = path.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):
                with path.open("r+b") as handle:
                    handle.truncate(keep)
        self._handle = path.open("ab")

    def write(self, row: Row) -> None:
        self._handle.write(_encode(row))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def _encode(row: Row) -> bytes:
    return json.dumps(asdict(row), ensure_ascii=False).encode("utf-8") + b"\n"


class StoreJournal:
    """The journal of an object-store output: rows uploaded in immutable parts (the module's
    docstring says when)."""

    def __init__(self, out: Out) -> None:
        store = _store_path(out)
        assert store is not None
        self._store, prefix = store
        self._stem = f"{prefix}/{PARTS}/{time.time_ns():020d}-{os.getpid()}"
        self._parts = 0
        self._waiting: list[bytes] = []
        self._since = 0.0

    def write(self, row: Row) -> None:
        if not self._waiting:
            self._since = time.monotonic()
        self._waiting.append(_encode(row))
        waited = time.monotonic() - self._since
        if len(self._waiting) >= STORE_FLUSH_ROWS or waited >= STORE_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Upload the waiting rows as one part."""
        if not self._waiting:
            return
        path = f"{self._stem}-{self._parts:06d}.jsonl"
        with self._store.open_output_stream(path) as handle:  # type: ignore[attr-defined]
            handle.write(b"".join(self._waiting))
        self._parts += 1
        self._waiting = []

    def close(self) -> None:
        self.flush()


def arrow_schema() -> object:
    """The Arrow schema of a row (``pyarrow.Schema``)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("source", pa.string()),
            ("page", pa.int32()),
            ("pages", pa.int32()),
            ("shape", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("text", pa.string()),
            ("azure_json", pa.string()),
            ("seconds", pa.float64()),
            ("error_code", pa.string()),
            ("error_message", pa.string()),
        ]
    )


def finish(out: Out, output_format: str = "parquet") -> Out:
    """Write every journalled row to ``out/rows.parquet`` (atomically) and return its path.
    For an object-store ``out``, the file (``rows.jsonl`` with the JSONL format) is written
    there (an upload appears whole or not at all) and its URI returned; a local ``out`` with
    the JSONL format needs nothing (the journal is the output)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = _store_path(out)
    if output_format == "jsonl":
        if store is None:
            return Path(out) / JOURNAL
        with store[0].open_output_stream(f"{store[1]}/{JOURNAL}") as handle:  # type: ignore[attr-defined]
            for row in read_rows(out):
                handle.write(_encode(row))
        return f"{str(out).rstrip('/')}/{JOURNAL}"
    schema = arrow_schema()
    rows = [asdict(row) for row in read_rows(out)]
    table = pa.Table.from_pylist(rows, schema=schema)
    if store is not None:
        pq.write_table(table, f"{store[1]}/{PARQUET}", filesystem=store[0])
        return f"{str(out).rstrip('/')}/{PARQUET}"
    target = Path(out) / PARQUET
    temporary = Path(out) / (PARQUET + ".tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, target)
    return target

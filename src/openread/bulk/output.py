"""Bulk output: one row per image or document page, journalled so that a kill never loses or
doubles one.

Rows are appended to ``rows.jsonl`` in the output directory, one JSON object a line, flushed
and fsync'd after each row. A kill can at worst leave a partial last line, which ``done``
ignores (and ``Journal`` cuts off before appending), so a re-run reads every finished row and
skips what it holds (``done``: a source all of whose pages have a row). ``finish`` writes
``rows.parquet`` from the journal atomically (a temporary file renamed into place); with the
JSONL format the journal is the output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "FORMATS",
    "JOURNAL",
    "PARQUET",
    "Journal",
    "Row",
    "Shape",
    "arrow_schema",
    "done",
    "finish",
    "read_rows",
]

JOURNAL = "rows.jsonl"
PARQUET = "rows.parquet"
FORMATS = ("parquet", "jsonl")
"""Output formats: ``parquet`` (the journal and ``rows.parquet``) or ``jsonl`` (the journal)."""

Shape = Literal["4.0", "3.2"]


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


def read_rows(out: Path) -> Iterator[Row]:
    """The complete rows of the journal in ``out`` (a torn last line is skipped)."""
    path = out / JOURNAL
    if not path.is_file():
        return
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            yield Row.from_json(raw.decode("utf-8"))


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
        self._handle.write(json.dumps(asdict(row), ensure_ascii=False).encode("utf-8") + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


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


def finish(out: Path) -> Path:
    """Write every journalled row to ``out/rows.parquet`` (atomically) and return its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema()
    rows = [asdict(row) for row in read_rows(out)]
    table = pa.Table.from_pylist(rows, schema=schema)
    target = out / PARQUET
    temporary = out / (PARQUET + ".tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, target)
    return target

"""Bulk output: one row per image page, journalled so that a kill never loses or doubles one.

Rows are appended to ``rows.jsonl`` in the output directory, one JSON object a line, flushed
and fsync'd after each row. A kill can at worst leave a partial last line, which ``done``
ignores (and ``Journal`` cuts off before appending), so a re-run reads every finished row and
skips its source. ``finish`` writes ``rows.parquet`` from the journal atomically (a temporary
file renamed into place).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["JOURNAL", "PARQUET", "Journal", "Row", "arrow_schema", "finish", "read_rows"]

JOURNAL = "rows.jsonl"
PARQUET = "rows.parquet"


@dataclass(frozen=True, slots=True)
class Row:
    """One page of one input: its reading, or (``error_code`` set) why it could not be read.
    ``azure_json`` is the 4.0 body the server would answer for that page."""

    source: str
    page: int
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

"""Expanding ``openread bulk`` inputs into image paths, and one input into pages.

An input is a file, a directory (searched recursively for image files), a glob, or a manifest
of paths (``.csv`` with a ``path`` column or paths in the first column, ``.jsonl`` with a
``"path"`` key per line, ``.parquet`` with a ``path`` column). Paths are returned once each, in
a stable order, as given (relative paths in a manifest are taken relative to the manifest).
"""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IMAGE_SUFFIXES", "MANIFEST_SUFFIXES", "Page", "expand", "pages"]

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".ico", ".tif", ".tiff", ".mpo"}
)
MANIFEST_SUFFIXES = frozenset({".csv", ".jsonl", ".parquet"})


@dataclass(frozen=True, slots=True)
class Page:
    """One page of one input: its 1-based number and its image bytes."""

    number: int
    data: bytes


def pages(source: str) -> list[Page]:
    """The pages of ``source``: today one page holding the file's bytes (multi-page documents
    plug in here). Raises ``OSError`` when the file cannot be read."""
    return [Page(1, Path(source).read_bytes())]


def expand(inputs: Sequence[str]) -> list[str]:
    """Every image path named by ``inputs``, each once, in order of first appearance."""
    seen: dict[str, None] = {}
    for item in inputs:
        for path in _expand_one(item):
            seen.setdefault(path, None)
    return list(seen)


def _expand_one(item: str) -> Iterator[str]:
    path = Path(item)
    if path.is_dir():
        for found in sorted(path.rglob("*")):
            if found.is_file() and found.suffix.lower() in IMAGE_SUFFIXES:
                yield str(found)
    elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        yield from _manifest(path)
    elif path.exists() or not glob.has_magic(item):
        yield item  # a file (a missing one becomes an error row, never silently dropped)
    else:
        for match in sorted(glob.glob(item, recursive=True)):
            if Path(match).is_file():
                yield match


def _manifest(path: Path) -> Iterator[str]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        entries = [str(v) for v in pq.read_table(path, columns=["path"]).column(0).to_pylist()]
    elif suffix == ".jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        entries = [str(json.loads(line)["path"]) for line in lines if line.strip()]
    else:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
        column = rows[0].index("path") if rows and "path" in rows[0] else 0
        start = 1 if rows and "path" in rows[0] else 0
        entries = [row[column] for row in rows[start:]]
    for entry in entries:
        yield entry if Path(entry).is_absolute() else str(path.parent / entry)

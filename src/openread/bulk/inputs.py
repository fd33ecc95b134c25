"""Expanding ``openread bulk`` inputs into source paths, and reading one source's bytes.

An input is a file, a directory (searched recursively for image and document files), a glob, or
a manifest of paths (``.csv`` with a ``path`` column or paths in the first column, ``.jsonl``
with a ``"path"`` key per line, ``.parquet`` with a ``path`` column). Paths are returned once
each, in a stable order, as given (relative paths in a manifest are taken relative to the
manifest).

An input may also be an object-store URI that ``pyarrow.fs`` reads (``s3://bucket/key``,
``s3://bucket/prefix/`` for every image under it, ``gs://...``, an ``s3://`` manifest); the
store's credentials and endpoint come from its usual environment (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, ...). Sources keep their URI, so every worker (and every Ray node) reads
them itself.
"""

from __future__ import annotations

import csv
import functools
import glob
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "DOCUMENT_SUFFIXES",
    "IMAGE_SUFFIXES",
    "MANIFEST_SUFFIXES",
    "expand",
    "forget_stores",
    "is_uri",
    "read_bytes",
    "store_path",
    "stores_open",
]

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".ico", ".tif", ".tiff", ".mpo"}
)
DOCUMENT_SUFFIXES = frozenset({".pdf"})
"""Found in directories besides the images (multi-page TIFFs are among the images)."""
MANIFEST_SUFFIXES = frozenset({".csv", ".jsonl", ".parquet"})
_READABLE = IMAGE_SUFFIXES | DOCUMENT_SUFFIXES


def is_uri(source: str) -> bool:
    """Whether ``source`` names an object in a store (``scheme://...``, not ``file://``)."""
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.isalnum() and scheme.lower() != "file"


@functools.cache
def _store(root: str) -> object:
    """The ``pyarrow.fs.FileSystem`` of ``root`` (``scheme://bucket``), one per process."""
    import pyarrow.fs

    store, _ = pyarrow.fs.FileSystem.from_uri(root)
    return store


def stores_open() -> bool:
    """Whether this process has opened an object store's file system."""
    return _store.cache_info().currsize > 0


def forget_stores() -> None:
    """Drop this process's file systems (a forked worker opens its own)."""
    _store.cache_clear()


def _split(uri: str) -> tuple[object, str, str]:
    """``uri``'s file system, its path in it (``bucket/key``) and its scheme."""
    scheme, _, rest = uri.partition("://")
    bucket = rest.split("/", 1)[0]
    return _store(f"{scheme}://{bucket}"), rest.rstrip("/"), scheme


def store_path(uri: str) -> tuple[object, str]:
    """``uri``'s file system (``pyarrow.fs.FileSystem``) and its path in it (``bucket/key``,
    no trailing slash)."""
    store, path, _ = _split(uri)
    return store, path


def read_bytes(source: str) -> bytes:
    """The bytes of ``source`` (a local path or a URI). Raises ``OSError`` (``FileNotFoundError``
    for a missing one) when it cannot be read."""
    if not is_uri(source):
        return Path(source).read_bytes()
    import pyarrow.fs

    store, path, _ = _split(source)
    info = store.get_file_info(path)  # type: ignore[attr-defined]
    if info.type == pyarrow.fs.FileType.NotFound:
        raise FileNotFoundError(source)
    if info.type == pyarrow.fs.FileType.Directory:
        raise IsADirectoryError(source)
    with store.open_input_stream(path) as handle:  # type: ignore[attr-defined]
        data: bytes = handle.read()
    return data


def expand(inputs: Sequence[str]) -> list[str]:
    """Every source named by ``inputs``, each once, in order of first appearance."""
    seen: dict[str, None] = {}
    for item in inputs:
        for path in _expand_uri(item) if is_uri(item) else _expand_one(item):
            seen.setdefault(path, None)
    return list(seen)


def _expand_one(item: str) -> Iterator[str]:
    path = Path(item)
    if path.is_dir():
        for found in sorted(path.rglob("*")):
            if found.is_file() and found.suffix.lower() in _READABLE:
                yield str(found)
    elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        yield from _manifest(path.read_bytes(), path.suffix.lower(), str(path.parent))
    elif path.exists() or not glob.has_magic(item):
        yield item  # a file (a missing one becomes an error row, never silently dropped)
    else:
        for match in sorted(glob.glob(item, recursive=True)):
            if Path(match).is_file():
                yield match


def _expand_uri(item: str) -> Iterator[str]:
    import pyarrow.fs

    store, path, scheme = _split(item)
    info = store.get_file_info(path)  # type: ignore[attr-defined]
    suffix = Path(path).suffix.lower()
    if info.type == pyarrow.fs.FileType.Directory:
        selector = pyarrow.fs.FileSelector(path, recursive=True)
        found = store.get_file_info(selector)  # type: ignore[attr-defined]
        for entry in sorted(found, key=lambda e: str(e.path)):
            suffix = f".{entry.extension.lower()}"
            if entry.type == pyarrow.fs.FileType.File and suffix in _READABLE:
                yield f"{scheme}://{entry.path}"
    elif info.type == pyarrow.fs.FileType.File and suffix in MANIFEST_SUFFIXES:
        yield from _manifest(read_bytes(item), suffix, item.rsplit("/", 1)[0])
    else:
        yield item  # a file (a missing one becomes an error row)


def _manifest(data: bytes, suffix: str, parent: str) -> Iterator[str]:
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data), columns=["path"])
        entries = [str(v) for v in table.column(0).to_pylist()]
    elif suffix == ".jsonl":
        lines = data.decode("utf-8").splitlines()
        entries = [str(json.loads(line)["path"]) for line in lines if line.strip()]
    else:
        rows = [row for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")) if row]
        column = rows[0].index("path") if rows and "path" in rows[0] else 0
        start = 1 if rows and "path" in rows[0] else 0
        entries = [row[column] for row in rows[start:]]
    for entry in entries:
        if is_uri(entry) or Path(entry).is_absolute():
            yield entry
        else:
            yield f"{parent}/{entry}" if is_uri(parent) else str(Path(parent) / entry)

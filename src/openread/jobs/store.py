"""Where v3.x Read jobs live: the ``JobStore`` interface and its embedded SQLite default.

A job is created with its document bytes (the payload) as ``notStarted``. A worker *claims* it
(an atomic take of a lease: owner id + expiry), marks it ``running``, renews the lease while it
works, and *finishes* it (``succeeded`` with the serialised ``analyzeResult``, or ``failed``
with a reason), which drops the payload. A job whose lease expired (its worker's process died)
or was released (its server stopped) can be claimed again by any worker sharing the store, so a
restart, or the loss of one replica, never loses a job: it is run again. While it runs, each
page's result is saved as soon as it is read (``save_page``), so a job that is run again goes on
from its first unfinished page (``pages``) instead of reading the finished ones again. Jobs and
results expire ``ttl`` seconds after they were created.

Times are wall-clock seconds (``time.time()``): leases and expiry must agree across replicas.
Every method blocks (call it from a worker thread) and is thread-safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..wire.v32 import Status

__all__ = ["JobRecord", "JobRequest", "JobStore", "SqliteJobStore", "open_store"]

UNFINISHED: tuple[Status, ...] = ("notStarted", "running")


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What the job was asked to do (the query of the submit)."""

    api_version: str
    """``3.0``, ``3.1`` or ``3.2``."""
    language: str | None = None
    pages: str | None = None
    reading_order: str = "basic"
    model_version: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "api_version": self.api_version,
                "language": self.language,
                "pages": self.pages,
                "reading_order": self.reading_order,
                "model_version": self.model_version,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JobRequest:
        raw = json.loads(text)
        return cls(
            api_version=str(raw["api_version"]),
            language=raw.get("language"),
            pages=raw.get("pages"),
            reading_order=str(raw.get("reading_order") or "basic"),
            model_version=raw.get("model_version"),
        )


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as stored: its state, and its result or failure once finished."""

    id: str
    request: JobRequest
    status: Status
    created: float
    updated: float
    expires: float
    result: bytes | None = None
    """The serialised ``analyzeResult`` (``succeeded`` only)."""
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    """How many times a worker has claimed it (more than 1: it was run again after a stop)."""


class JobStore(Protocol):
    """The operations every store offers (SQLite here, Redis in ``jobs.redis``)."""

    def create(self, record: JobRecord, payload: bytes) -> None: ...

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None when it does not exist or has expired."""
        ...

    def payload(self, job_id: str) -> bytes | None: ...

    def claim(self, job_id: str, owner: str, lease: float) -> bool:
        """Take the job for ``owner`` for ``lease`` seconds if it is unfinished and nobody else
        holds a live lease on it; mark it ``running``. Whether it was taken."""
        ...

    def renew(self, job_id: str, owner: str, lease: float) -> bool: ...

    def save_page(self, job_id: str, owner: str, index: int, page: bytes) -> bool:
        """Keep the serialised result of the ``index``-th selected page (0-based) of a running
        job, if ``owner`` still holds its lease. Whether it was kept."""
        ...

    def pages(self, job_id: str) -> list[bytes]:
        """The saved page results of an unfinished job: pages ``0 .. n-1`` without a gap."""
        ...

    def release(self, job_id: str, owner: str) -> None:
        """Give the job back unfinished (``notStarted``, no lease): the server is stopping."""
        ...

    def finish(
        self,
        job_id: str,
        owner: str,
        status: Status,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        """Record the outcome (if ``owner`` still holds the lease) and drop the payload."""
        ...

    def claimable(self, limit: int) -> list[str]:
        """Ids of unfinished jobs nobody holds a live lease on (oldest first)."""
        ...

    def unfinished_count(self) -> int: ...

    def counts(self) -> dict[str, int]:
        """How many unexpired jobs are in each state (``notStarted`` ... ``failed``)."""
        ...

    def purge(self) -> int:
        """Delete expired jobs; how many."""
        ...

    def close(self) -> None: ...


def contiguous_pages(rows: Iterable[tuple[int, bytes]]) -> list[bytes]:
    """The pages of ``(index, page)`` rows from index 0 up to the first gap."""
    found = dict(rows)
    pages: list[bytes] = []
    while len(pages) in found:
        pages.append(found[len(pages)])
    return pages


def open_store(spec: str, data_dir: Path) -> JobStore:
    """The store a ``job_store`` setting names: ``sqlite`` or a ``redis://`` URL."""
    if spec == "sqlite":
        return SqliteJobStore(data_dir / "jobs.sqlite3")
    from .redis import RedisJobStore

    return RedisJobStore(spec)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    expires REAL NOT NULL,
    payload BLOB,
    result BLOB,
    error_code TEXT,
    error_message TEXT,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (status, created);
CREATE INDEX IF NOT EXISTS jobs_expires ON jobs (expires);
CREATE TABLE IF NOT EXISTS job_pages (
    id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    page BLOB NOT NULL,
    PRIMARY KEY (id, idx)
);
"""

_COLUMNS = (
    "id, request, status, created, updated, expires, result, error_code, error_message, attempts"
)


class SqliteJobStore:
    """Jobs in one SQLite file (WAL mode, so several processes on one host may share it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def create(self, record: JobRecord, payload: bytes) -> None:
        self._run(
            "INSERT INTO jobs (id, request, status, created, updated, expires, payload)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.request.to_json(),
                record.status,
                record.created,
                record.updated,
                record.expires,
                payload,
            ),
        )

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND expires > ?",
                (job_id, time.time()),
            ).fetchone()
        if row is None:
            return None
        return JobRecord(
            id=row[0],
            request=JobRequest.from_json(row[1]),
            status=row[2],
            created=row[3],
            updated=row[4],
            expires=row[5],
            result=row[6],
            error_code=row[7],
            error_message=row[8],
            attempts=row[9],
        )

    def payload(self, job_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT payload FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def claim(self, job_id: str, owner: str, lease: float) -> bool:
        now = time.time()
        cursor = self._run(
            "UPDATE jobs SET status = 'running', updated = ?, lease_owner = ?, lease_until = ?,"
            " attempts = attempts + 1"
            " WHERE id = ? AND status IN ('notStarted', 'running') AND expires > ?"
            " AND (lease_owner IS NULL OR lease_until < ? OR lease_owner = ?)",
            (now, owner, now + lease, job_id, now, now, owner),
        )
        return cursor.rowcount == 1

    def renew(self, job_id: str, owner: str, lease: float) -> bool:
        cursor = self._run(
            "UPDATE jobs SET lease_until = ?"
            " WHERE id = ? AND lease_owner = ? AND status = 'running'",
            (time.time() + lease, job_id, owner),
        )
        return cursor.rowcount == 1

    def save_page(self, job_id: str, owner: str, index: int, page: bytes) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                held = self._db.execute(
                    "SELECT 1 FROM jobs WHERE id = ? AND lease_owner = ? AND status = 'running'",
                    (job_id, owner),
                ).fetchone()
                if held is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO job_pages (id, idx, page) VALUES (?, ?, ?)",
                        (job_id, index, page),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return held is not None

    def pages(self, job_id: str) -> list[bytes]:
        with self._lock:
            rows = self._db.execute(
                "SELECT idx, page FROM job_pages WHERE id = ? ORDER BY idx", (job_id,)
            ).fetchall()
        return contiguous_pages((int(idx), bytes(page)) for idx, page in rows)

    def release(self, job_id: str, owner: str) -> None:
        self._run(
            "UPDATE jobs SET status = 'notStarted', updated = ?, lease_owner = NULL,"
            " lease_until = 0 WHERE id = ? AND lease_owner = ? AND status = 'running'",
            (time.time(), job_id, owner),
        )

    def finish(
        self,
        job_id: str,
        owner: str,
        status: Status,
        result: bytes | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        code, message = error if error is not None else (None, None)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status = ?, updated = ?, result = ?, error_code = ?,"
                " error_message = ?, payload = NULL, lease_owner = NULL, lease_until = 0"
                " WHERE id = ? AND lease_owner = ?",
                (status, time.time(), result, code, message, job_id, owner),
            )
            finished = cursor.rowcount == 1
            if finished:
                self._db.execute("DELETE FROM job_pages WHERE id = ?", (job_id,))
        return finished

    def claimable(self, limit: int) -> list[str]:
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM jobs WHERE status IN ('notStarted', 'running') AND expires > ?"
                " AND (lease_owner IS NULL OR lease_until < ?) ORDER BY created LIMIT ?",
                (now, now, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def unfinished_count(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('notStarted', 'running')"
                " AND expires > ?",
                (time.time(),),
            ).fetchone()
        return int(row[0])

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*) FROM jobs WHERE expires > ? GROUP BY status",
                (time.time(),),
            ).fetchall()
        return {str(status): int(count) for status, count in rows}

    def purge(self) -> int:
        now = time.time()
        with self._lock:
            self._db.execute(
                "DELETE FROM job_pages WHERE id IN (SELECT id FROM jobs WHERE expires <= ?)",
                (now,),
            )
            return self._db.execute("DELETE FROM jobs WHERE expires <= ?", (now,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

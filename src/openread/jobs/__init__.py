"""Durable v3.x Read jobs: the store (``store``: the interface and the embedded SQLite default;
``redis``: a store shared by replicas) and the runner that reads their pages (``runner``)."""

from __future__ import annotations

from .runner import JobRunner, read_pages
from .store import JobRecord, JobRequest, JobStore, SqliteJobStore, open_store

__all__ = [
    "JobRecord",
    "JobRequest",
    "JobRunner",
    "JobStore",
    "SqliteJobStore",
    "open_store",
    "read_pages",
]

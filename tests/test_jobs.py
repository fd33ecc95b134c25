"""Durable v3.x Read jobs: the SQLite store's lease rules, a job that survives a server restart,
and two replicas sharing a real Redis server (Debian's ``redis-server`` on a free loopback port)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from openread import Engine, Settings
from openread.http import create_app
from openread.jobs.store import JobRecord, JobRequest, SqliteJobStore, open_store
from serving import API_KEY, ServerProcess, start_server
from test_read_v32 import HEADERS, pdf_bytes, poll, texts
from test_request_properties import AppClient


def record(job_id: str, ttl: float = 60.0) -> JobRecord:
    now = time.time()
    return JobRecord(job_id, JobRequest("3.2", pages="1-"), "notStarted", now, now, now + ttl)


def test_sqlite_store_leases(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    store.create(record("a"), b"payload")
    assert store.claimable(10) == ["a"]
    assert store.claim("a", "one", 30)
    assert not store.claim("a", "two", 30)  # a live lease is someone else's
    assert store.claimable(10) == []
    store.release("a", "one")  # a stopping server gives it back
    assert store.get("a").status == "notStarted"  # type: ignore[union-attr]
    assert store.claim("a", "two", 0.01)
    time.sleep(0.05)
    assert store.claimable(10) == ["a"]  # its owner died: the lease ran out
    assert store.claim("a", "three", 30)
    assert not store.save_page("a", "two", 0, b"p0")  # not the owner: not kept
    assert store.save_page("a", "three", 0, b"p0")
    assert store.save_page("a", "three", 2, b"p2")
    assert store.pages("a") == [b"p0"]  # up to the first gap
    assert store.save_page("a", "three", 1, b"p1")
    assert store.pages("a") == [b"p0", b"p1", b"p2"]
    assert not store.finish("a", "two", "succeeded", result=b"{}")  # not the owner any more
    assert store.finish("a", "three", "succeeded", result=b'{"x":1}')
    done = store.get("a")
    assert done is not None
    assert (done.status, done.result, done.attempts) == ("succeeded", b'{"x":1}', 3)
    assert store.payload("a") is None
    assert store.pages("a") == []  # dropped with the payload
    assert store.counts() == {"succeeded": 1}
    store.create(record("old", ttl=0.01), b"p")
    time.sleep(0.05)
    assert store.get("old") is None
    assert store.purge() == 1
    store.close()
    reopened = open_store("sqlite", tmp_path)
    assert reopened.get("a") is not None
    reopened.close()


def test_job_survives_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ["--api-key", API_KEY, "--data-dir", str(data_dir)]
    server = start_server(args, tmp_path / "first.log")
    try:
        response = httpx.post(
            server.url("/vision/v3.2/read/analyze", ""), content=pdf_bytes(6), headers=HEADERS
        )
        assert response.status_code == 202, response.text
        operation_id = response.headers["operation-location"].rsplit("/", 1)[1]
    finally:
        server.stop()  # at once: the job is queued or half read
    server = start_server(args, tmp_path / "second.log")
    try:
        body = poll(server.url(f"/vision/v3.2/read/analyzeResults/{operation_id}", ""))
        assert body["status"] == "succeeded"
        pages = body["analyzeResult"]["readResults"]  # type: ignore[index]
        assert [p["page"] for p in pages] == [1, 2, 3, 4, 5, 6]
        assert texts(pages[5])[0] == "Page number 6"
    finally:
        server.stop()


def _saved_pages(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT COUNT(*) FROM job_pages").fetchone()[0])


def _pages_read(server: ServerProcess) -> float:
    text = httpx.get(server.url("/metrics", ""), timeout=10).text
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "openread_pages_read"]
    return sum(s.value for s in family.samples if s.name == "openread_pages_read_total")


def _jobs_in_state(server: ServerProcess, state: str) -> float:
    text = httpx.get(server.url("/metrics", ""), timeout=10).text
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "openread_jobs"]
    return sum(s.value for s in family.samples if s.labels["state"] == state)


def test_restarted_job_goes_on_from_its_first_unread_page(tmp_path: Path) -> None:
    """Stopped after some pages were read, the job is not read again from its first page on
    the next start: only the rest is read (the server's page counter), and the result is the
    whole document, the same as a read in one go."""
    total = 8
    document = pdf_bytes(total)
    data_dir = tmp_path / "data"
    args = ["--api-key", API_KEY, "--data-dir", str(data_dir), "--job-workers", "1"]
    server = start_server(args, tmp_path / "first.log")
    try:
        response = httpx.post(
            server.url("/vision/v3.2/read/analyze", ""), content=document, headers=HEADERS
        )
        assert response.status_code == 202, response.text
        operation_id = response.headers["operation-location"].rsplit("/", 1)[1]
        deadline = time.monotonic() + 120
        while _saved_pages(data_dir / "jobs.sqlite3") < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
    finally:
        server.stop()
    done = _saved_pages(data_dir / "jobs.sqlite3")
    assert 2 <= done < total, "stop it earlier: the job had finished"
    server = start_server(args, tmp_path / "second.log")
    try:
        body = poll(server.url(f"/vision/v3.2/read/analyzeResults/{operation_id}", ""))
        assert body["status"] == "succeeded"
        assert _pages_read(server) == total - done  # the finished pages were not read again
        assert f"({done} of {total} pages were read before)" in server.log()
        pages = body["analyzeResult"]["readResults"]  # type: ignore[index]
        assert [p["page"] for p in pages] == list(range(1, total + 1))
        in_one_go = httpx.post(
            server.url("/vision/v3.2/read/syncAnalyze", ""),
            content=document,
            headers=HEADERS,
            timeout=300,
        )
        assert in_one_go.status_code == 200, in_one_go.text
        assert in_one_go.json()["analyzeResult"]["readResults"] == pages
    finally:
        server.stop()
    assert _saved_pages(data_dir / "jobs.sqlite3") == 0  # dropped when the job finished


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        import os

        if os.environ.get("CI"):
            pytest.fail("redis-server missing (scripts/system-deps --dev installs it)")
        pytest.skip("redis-server missing (scripts/system-deps --dev installs it)")
    port = _free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    command += ["--save", "", "--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_two_replicas_share_redis(tmp_path: Path, redis_url: str) -> None:
    args = ["--api-key", API_KEY, "--job-store", redis_url]
    first = start_server([*args, "--data-dir", str(tmp_path / "a")], tmp_path / "a.log")
    try:
        second = start_server([*args, "--data-dir", str(tmp_path / "b")], tmp_path / "b.log")
        try:
            response = httpx.post(
                first.url("/vision/v3.2/read/analyze", "pages=2"),
                content=pdf_bytes(2),
                headers=HEADERS,
            )
            assert response.status_code == 202, response.text
            operation_id = response.headers["operation-location"].rsplit("/", 1)[1]
            body = poll(second.url(f"/vision/v3.2/read/operations/{operation_id}", ""))
            assert body["status"] == "succeeded"
            (page,) = body["analyzeResult"]["readResults"]  # type: ignore[index]
            assert texts(page)[0] == "Page number 2"
            for replica in (first, second):  # the shared store's counts, on either replica
                assert _jobs_in_state(replica, "succeeded") == 1
                assert _jobs_in_state(replica, "running") == 0
        finally:
            second.stop()
    finally:
        first.stop()


def test_full_job_queue_is_429(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(job_queue=1, data_dir=tmp_path)
    client = AppClient(create_app(settings, engine))
    try:
        url = "/vision/v3.2/read/analyze"
        first = client.post(url, content=pdf_bytes(3), headers=HEADERS)
        assert first.status_code == 202, first.text
        second = client.post(url, content=pdf_bytes(1), headers=HEADERS)
        assert second.status_code == 429
        assert second.headers["retry-after"] == "5"
        assert second.json()["code"] == "429"
        assert poll_app(client, first.headers["operation-location"])["status"] == "succeeded"
    finally:
        client.close()


def poll_app(client: AppClient, location: str) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get(location).json()
        if body["status"] not in ("notStarted", "running"):
            return body
        time.sleep(0.2)
    raise AssertionError("the job did not finish")

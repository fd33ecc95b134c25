"""``openread bulk`` on eval-data images mixed with broken files: every row, the error rows,
the Parquet output, and resume after a SIGKILL mid-run (no duplicate, no lost row); PDF and
multi-page TIFF inputs as one row per page (a broken page is an error row, resume is per page);
the JSONL-only output; inputs in an S3 bucket and an output directory in one (a real
S3-speaking server, moto's, on loopback), resumed after a SIGKILL there too."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pypdfium2
import pytest

from openread.bulk.inputs import expand
from openread.bulk.output import read_rows
from serving import clean_env, openread_command
from test_documents import tiff_bytes
from test_read_v32 import pdf_bytes

pytestmark = [pytest.mark.evaldata, pytest.mark.slow]


def _inputs(eval_data: Path, folder: Path, images: int) -> tuple[list[Path], list[Path]]:
    folder.mkdir()
    good = sorted((eval_data / "icdar15" / "images").glob("*.jpg"))[:images]
    copies = []
    for path in good:
        shutil.copy(path, folder / path.name)
        copies.append(folder / path.name)
    broken = [folder / "broken.png", folder / "empty.jpg"]
    broken[0].write_bytes(b"not an image at all")
    broken[1].write_bytes(b"")
    return copies, broken


def _bulk(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [*openread_command(), "bulk", *args, "--no-progress"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=clean_env() if env is None else env,
            start_new_session=True,
        )


def _kill_after_two_rows(args: list[str], out: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``openread bulk args`` and SIGKILL its process group once ``out`` holds 2 rows."""
    proc = _bulk(args, log)
    _wait_for_rows(proc, out, log, 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return proc


def test_bulk_reads_every_input_and_reports_errors(eval_data: Path, tmp_path: Path) -> None:
    good, broken = _inputs(eval_data, tmp_path / "in", 3)
    missing = tmp_path / "missing.jpg"
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), str(missing), "--out", str(out), "--processes", "2", "--spawn"]
    proc = _bulk(args, tmp_path / "log")  # spawned workers here, forked ones (the default) below
    assert proc.wait(timeout=240) == 0, (tmp_path / "log").read_text()
    table = pq.read_table(out / "rows.parquet").to_pylist()
    by_source = {row["source"]: row for row in table}
    assert len(table) == len(by_source) == len(good) + len(broken) + 1
    for path in good:
        row = by_source[str(path)]
        assert row["error_code"] is None
        assert (row["width"], row["height"]) == (1280, 720)
        body = json.loads(row["azure_json"])
        lines = [line["text"] for b in body["readResult"]["blocks"] for line in b["lines"]]
        assert row["text"] == "\n".join(lines)
        assert row["seconds"] > 0
    assert by_source[str(broken[0])]["error_code"] == "InvalidImageFormat"
    assert by_source[str(broken[1])]["error_code"] == "InvalidRequest"
    assert by_source[str(missing)]["error_message"] == "no such file"
    assert "3 read, 3 failed" in (tmp_path / "log").read_text()
    # a second run skips everything and changes nothing
    again = _bulk([str(tmp_path / "in"), str(missing), "--out", str(out)], tmp_path / "log2")
    assert again.wait(timeout=120) == 0
    assert "6 already done, 0 read, 0 failed" in (tmp_path / "log2").read_text()
    assert pq.read_table(out / "rows.parquet").num_rows == len(table)


def _wait_for_rows(proc: subprocess.Popen[bytes], out: str | Path, log: Path, rows: int) -> None:
    deadline = time.monotonic() + 180
    while sum(1 for _ in read_rows(out)) < rows:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_bulk_resumes_after_kill(eval_data: Path, tmp_path: Path) -> None:
    good, broken = _inputs(eval_data, tmp_path / "in", 6)
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "--out", str(out), "--processes", "1"]
    proc = _kill_after_two_rows(args, out, tmp_path / "log")
    before = [row.source for row in read_rows(out)]
    assert 2 <= len(before) < len(good) + len(broken), "the kill came too late to test resume"
    assert proc.returncode == -signal.SIGKILL
    again = _bulk(args, tmp_path / "log2")
    assert again.wait(timeout=240) == 0, (tmp_path / "log2").read_text()
    sources = [row["source"] for row in pq.read_table(out / "rows.parquet").to_pylist()]
    assert sorted(sources) == sorted(expand([str(tmp_path / "in")]))
    assert len(sources) == len(set(sources))
    assert f"{len(before)} already done" in (tmp_path / "log2").read_text()


def _pdf_with_oversized_page() -> bytes:
    """Two text pages and a third of 18 x 5 inches (over Azure's 17 x 17: that page fails)."""
    pdf = pypdfium2.PdfDocument(pdf_bytes(2))
    pdf.new_page(18 * 72, 5 * 72)
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue()


def test_documents_give_one_row_per_page(eval_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    good, broken = _inputs(eval_data, folder, 1)
    (folder / "doc.pdf").write_bytes(_pdf_with_oversized_page())
    (folder / "scan.tif").write_bytes(tiff_bytes(2))
    out = tmp_path / "out"
    proc = _bulk([str(folder), "--out", str(out), "--processes", "2"], tmp_path / "log")
    assert proc.wait(timeout=280) == 0, (tmp_path / "log").read_text()
    rows = {(r["source"], r["page"]): r for r in pq.read_table(out / "rows.parquet").to_pylist()}
    assert len(rows) == 1 + 2 + 3 + 2  # image, broken x2 (no page), pdf 3 pages, tiff 2
    image = rows[(str(good[0]), 1)]
    assert (image["pages"], image["shape"]) == (1, "4.0")
    assert "readResult" in json.loads(image["azure_json"])
    for name, unit, size in [("doc.pdf", "inch", (8.5, 11.0)), ("scan.tif", "pixel", (850, 1100))]:
        count = 3 if name == "doc.pdf" else 2
        for number in (1, 2):
            row = rows[(str(folder / name), number)]
            assert (row["pages"], row["shape"], row["error_code"]) == (count, "3.2", None)
            entry = json.loads(row["azure_json"])  # the page's v3.2 readResults entry
            assert (entry["page"], entry["unit"]) == (number, unit)
            assert (entry["width"], entry["height"]) == size
            texts = [line["text"] for line in entry["lines"]]
            assert f"Page number {number}" in texts, texts
            assert row["text"] == "\n".join(texts)
            assert all("appearance" in line and line["words"] for line in entry["lines"])
    oversized = rows[(str(folder / "doc.pdf"), 3)]
    assert (oversized["pages"], oversized["error_code"]) == (3, "InvalidImageDimension")
    assert "17 x 17 inches" in oversized["error_message"]
    for path in broken:
        assert rows[(str(path), None)]["pages"] is None
    assert "5 read, 3 failed" in (tmp_path / "log").read_text()


def test_document_resumes_page_by_page(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "scan.tif").write_bytes(tiff_bytes(6))
    out = tmp_path / "out"
    args = [str(folder), "--out", str(out), "--processes", "1", "--format", "jsonl"]
    _kill_after_two_rows(args, out, tmp_path / "log")
    before = [row.page for row in read_rows(out)]
    assert 2 <= len(before) < 6, "the kill came too late to test resume"
    again = _bulk(args, tmp_path / "log2")
    assert again.wait(timeout=240) == 0, (tmp_path / "log2").read_text()
    rows = list(read_rows(out))
    assert sorted(row.page for row in rows if row.page is not None) == [1, 2, 3, 4, 5, 6]
    assert [row.page for row in rows[: len(before)]] == before  # kept, not read again
    assert all(row.error_code is None and row.text for row in rows)
    assert f"{6 - len(before)} read, 0 failed" in (tmp_path / "log2").read_text()
    assert not (out / "rows.parquet").exists()  # --format jsonl: the journal is the output


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-speaking server on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


_S3_CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_inputs_from_s3(eval_data: Path, tmp_path: Path, s3_endpoint: str) -> None:
    env = clean_env(AWS_ENDPOINT_URL=s3_endpoint, AWS_DEFAULT_REGION="us-east-1", **_S3_CREDS)
    client = _s3_client(s3_endpoint)
    client.create_bucket(Bucket="scans")
    good = sorted((eval_data / "icdar15" / "images").glob("*.jpg"))[:2]
    for path in good:
        client.put_object(Bucket="scans", Key=f"in/deep/{path.name}", Body=path.read_bytes())
    client.put_object(Bucket="scans", Key="in/broken.png", Body=b"not an image")
    client.put_object(Bucket="scans", Key="in/notes.txt", Body=b"not an input")
    out = tmp_path / "out"
    args = ["s3://scans/in/", "s3://scans/missing.jpg", "--out", str(out), "--processes", "2"]
    proc = _bulk(args, tmp_path / "log", env)
    assert proc.wait(timeout=240) == 0, (tmp_path / "log").read_text()
    rows = {r["source"]: r for r in pq.read_table(out / "rows.parquet").to_pylist()}
    expected = {f"s3://scans/in/deep/{p.name}" for p in good}
    assert set(rows) == {*expected, "s3://scans/in/broken.png", "s3://scans/missing.jpg"}
    for source in expected:
        assert rows[source]["error_code"] is None
        assert (rows[source]["width"], rows[source]["height"]) == (1280, 720)
        assert rows[source]["text"]
    assert rows["s3://scans/in/broken.png"]["error_code"] == "InvalidImageFormat"
    assert rows["s3://scans/missing.jpg"]["error_message"] == "no such file"
    again = _bulk(args, tmp_path / "log2", env)
    assert again.wait(timeout=120) == 0
    assert "4 already done, 0 read, 0 failed" in (tmp_path / "log2").read_text()


_START_METHODS = """
import threading
from openread import Settings
from openread.bulk.local import _Pool

def method(fork):
    pool = _Pool(Settings(threads=1), 1, fork=fork)
    try:
        return pool.start_method
    finally:
        pool.close()

print(method(True), method(False))
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
print(method(True))
stop.set()
other.join()
"""


def test_workers_fork_where_safe_and_spawn_otherwise(tmp_path: Path) -> None:
    """Forked by default (the engine and every Tesseract model loaded once, in the parent);
    ``fork=False``, or a Python thread in the parent (a fork would copy none of them, nor
    release a lock one holds), spawns each worker with its own engine. In a fresh process:
    this one may run other tests' threads (the S3 server)."""
    proc = subprocess.run(
        [sys.executable, "-c", _START_METHODS],
        capture_output=True,
        text=True,
        timeout=180,
        env=clean_env(),
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["fork", "spawn", "spawn"]


def test_done_knows_complete_and_partial_sources() -> None:
    from openread.bulk.output import Row, done

    def row(source: str, page: int | None, pages: int | None) -> Row:
        return Row(source, page, pages, None, None, None, None, None, 0.1, None, None)

    rows = [
        row("a.jpg", 1, 1),
        row("doc.pdf", 1, 3),
        row("doc.pdf", 3, 3),
        row("bad.png", None, None),  # could not be opened: complete
        row("all.tif", 2, 2),
        row("all.tif", 1, 2),
    ]
    assert done(iter(rows)) == {
        "a.jpg": None,
        "doc.pdf": frozenset({1, 3}),
        "bad.png": None,
        "all.tif": None,
    }


def test_output_to_s3_resumes_after_kill(
    eval_data: Path, tmp_path: Path, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out s3://...``: the journal is uploaded in parts (here every 2 rows, so the kill
    lands between parts; the default is in ``output``), the re-run reads only what no part
    holds, and ``rows.parquet`` in the bucket has every page of every input exactly once."""
    from openread.bulk.inputs import forget_stores

    s3 = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_DEFAULT_REGION": "us-east-1", **_S3_CREDS}
    for name, value in s3.items():
        monkeypatch.setenv(name, value)  # this process reads the bucket's journal too
    forget_stores()
    client = _s3_client(s3_endpoint)
    client.create_bucket(Bucket="results")
    folder = tmp_path / "in"
    good, broken = _inputs(eval_data, folder, 4)
    (folder / "scan.tif").write_bytes(tiff_bytes(4))
    out = "s3://results/runs/one"
    patched = (
        "import importlib, sys; o = importlib.import_module('openread.bulk.output'); "
        "o.STORE_FLUSH_ROWS = 2; "
        "from openread.cli import main; sys.exit(main())"
    )
    command = [sys.executable, "-c", patched, "bulk", str(folder), "--out", out]
    command += ["--processes", "1", "--no-progress"]
    log = tmp_path / "log"
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=clean_env(**s3),
            start_new_session=True,
        )  # fmt: skip
    _wait_for_rows(proc, out, log, 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [(row.source, row.page) for row in read_rows(out)]
    expected = len(good) + len(broken) + 4
    assert 2 <= len(before) < expected, "the kill came too late to test resume"
    again = _bulk([str(folder), "--out", out], tmp_path / "log2", clean_env(**s3))
    assert again.wait(timeout=240) == 0, (tmp_path / "log2").read_text()
    summary = (tmp_path / "log2").read_text()
    assert f"{expected - len(before)} read" in summary, summary
    assert "-> s3://results/runs/one/rows.parquet" in summary
    body = client.get_object(Bucket="results", Key="runs/one/rows.parquet")["Body"].read()
    table = pq.read_table(io.BytesIO(body)).to_pylist()
    keys = [(row["source"], row["page"]) for row in table]
    assert len(keys) == len(set(keys)) == expected
    assert set(before) <= set(keys)
    tiff = sorted(row["page"] for row in table if row["source"].endswith("scan.tif"))
    assert tiff == [1, 2, 3, 4]
    for path in good:
        (row,) = [r for r in table if r["source"] == str(path)]
        assert row["error_code"] is None
        assert row["text"]
        assert (row["width"], row["height"]) == (1280, 720)
    errors = {r["source"]: r["error_code"] for r in table if r["error_code"] is not None}
    assert errors == {str(broken[0]): "InvalidImageFormat", str(broken[1]): "InvalidRequest"}
    listed = client.list_objects_v2(Bucket="results", Prefix="runs/one/journal/")["Contents"]
    assert len(listed) >= 2  # parts from both runs
    forget_stores()


def test_ray_plan_splits_documents_into_pages(tmp_path: Path) -> None:
    """The Ray path's work items: a page each for a document the driver can open (the pages
    already done left out), one for anything else; a batch's consecutive pages of one
    document become one read of that document."""
    from openread.bulk.ray import Item, _groups, plan
    from openread.settings import Settings

    (tmp_path / "scan.tif").write_bytes(tiff_bytes(5))
    (tmp_path / "one.tif").write_bytes(tiff_bytes(1))
    (tmp_path / "torn.pdf").write_bytes(b"%PDF-1.7 torn")
    (tmp_path / "doc.pdf").write_bytes(_pdf_with_oversized_page())
    scan, one, torn, doc = (
        str(tmp_path / n) for n in ("scan.tif", "one.tif", "torn.pdf", "doc.pdf")
    )
    tasks = [(scan, frozenset({2})), ("a.jpg", frozenset[int]()), (one, frozenset[int]()),
             (torn, frozenset[int]()), (doc, frozenset({1, 2, 3}) - {3})]  # fmt: skip
    items = plan(tasks, Settings())
    assert items == [
        Item(scan, 1, 5), Item(scan, 3, 5), Item(scan, 4, 5), Item(scan, 5, 5),
        Item("a.jpg", 0, 0), Item(one, 0, 0), Item(torn, 0, 0), Item(doc, 3, 3),
    ]  # fmt: skip
    every = frozenset(range(1, 6))
    assert list(_groups(items[2:5] + items[:1])) == [
        (scan, every - {4, 5}),
        ("a.jpg", frozenset()),
        (scan, every - {1}),
    ]
    assert list(_groups([Item(doc, 0, 0, (1, 2))])) == [(doc, frozenset({1, 2}))]

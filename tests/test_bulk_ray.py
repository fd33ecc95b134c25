"""``openread bulk --ray`` on a real Ray cluster started here on loopback
(``ray start --head --num-cpus 2``), stopped after: every row, the error rows, a multi-page
TIFF and a PDF longer than a batch split into page rows (a bad page its own error row), and a
re-run reading only the pages missing from the output."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from openread.bulk.output import JOURNAL, Row
from serving import clean_env, openread_command
from test_bulk import _pdf_with_oversized_page
from test_documents import tiff_bytes

pytest.importorskip("ray")
# Two bulk runs and a cluster start: more than the suite's 300 s on a loaded 2-core machine.
pytestmark = [pytest.mark.evaldata, pytest.mark.slow, pytest.mark.timeout(900)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[tuple[str, dict[str, str]]]:
    ray = str(Path(sys.executable).with_name("ray"))
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths are limited
    env = clean_env(RAY_TMPDIR=temp)
    stop = [ray, "stop", "--force"]
    try:
        # Ray gives its node 30 s to register (hard-coded); on a loaded machine it can miss
        # that, so a failed start is stopped and tried again, on a fresh port.
        for attempt in range(3):
            port = _free_port()
            start = [ray, "start", "--head", "--num-cpus", "2", "--port", str(port)]
            start += ["--node-ip-address", "127.0.0.1", "--include-dashboard", "false"]
            start += ["--temp-dir", temp]
            started = subprocess.run(start, check=False, env=env, capture_output=True, timeout=120)
            if started.returncode == 0:
                break
            subprocess.run(stop, check=False, env=env, capture_output=True, timeout=120)
            assert attempt < 2, started.stderr.decode(errors="replace")[-2000:]
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run(stop, check=False, env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def _key(row: Row) -> tuple[str, int | None]:
    return row.source, row.page


def test_bulk_on_ray(
    eval_data: Path, tmp_path: Path, ray_cluster: tuple[str, dict[str, str]]
) -> None:
    address, env = ray_cluster
    folder = tmp_path / "in"
    folder.mkdir()
    good = sorted((eval_data / "icdar15" / "images").glob("*.jpg"))[:3]
    for path in good:
        shutil.copy(path, folder / path.name)
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 torn")
    (folder / "scan.tif").write_bytes(tiff_bytes(5))  # 5 pages, batches of 2: three batches
    (folder / "doc.pdf").write_bytes(_pdf_with_oversized_page())  # page 3 fails
    out = tmp_path / "out"
    command = [*openread_command(), "bulk", str(folder), "--out", str(out), "--no-progress"]
    command += ["--ray", address, "--processes", "2", "--batch-size", "2"]
    done = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=280
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out / "rows.parquet").to_pylist()
    rows = {(r["source"], r["page"]): r for r in table}
    assert len(rows) == len(table) == 3 + 2 + 5 + 3  # every page exactly once
    for number in range(1, 6):
        row = rows[(str(folder / "scan.tif"), number)]
        assert (row["pages"], row["shape"], row["error_code"]) == (5, "3.2", None)
        assert f"Page number {number}" in row["text"].splitlines()
    for number in (1, 2):
        row = rows[(str(folder / "doc.pdf"), number)]
        assert (row["pages"], row["shape"], row["error_code"]) == (3, "3.2", None)
        assert f"Page number {number}" in row["text"].splitlines()
    oversized = rows[(str(folder / "doc.pdf"), 3)]
    assert (oversized["pages"], oversized["error_code"]) == (3, "InvalidImageDimension")
    for path in good:
        row = rows[(str(folder / path.name), 1)]
        assert row["error_code"] is None
        assert (row["width"], row["height"]) == (1280, 720)
        assert row["text"]
    assert rows[(str(folder / "broken.png"), None)]["error_code"] == "InvalidImageFormat"
    assert rows[(str(folder / "broken.pdf"), None)]["error_code"] is not None
    assert "10 read, 3 failed" in done.stderr
    # drop two of the TIFF's pages from the journal: the re-run reads those two only
    journal = out / JOURNAL
    lines = journal.read_text().splitlines(keepends=True)
    dropped = [(str(folder / "scan.tif"), 2), (str(folder / "scan.tif"), 5)]
    kept = [line for line in lines if _key(Row.from_json(line)) not in dropped]
    assert len(kept) == len(lines) - 2
    journal.write_text("".join(kept))
    again = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=280
    )
    assert again.returncode == 0, again.stderr
    assert "6 already done, 2 read, 0 failed" in again.stderr
    rerun = pq.read_table(out / "rows.parquet").to_pylist()
    keys = sorted((r["source"], r["page"] or 0) for r in rerun)
    assert keys == sorted((source, page or 0) for source, page in rows)
